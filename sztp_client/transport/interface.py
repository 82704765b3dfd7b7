"""The transport seam: what the session needs from a bootstrap server, and who makes one.

The executor never builds a transport itself; it is given a :data:`ServerFactory` and asks it
for a :class:`BootstrapServer` for one endpoint, one resolved address and the hop's trust
decision (:class:`sztp_client.trust.hops.ServerTrust`).  The RESTCONF client
(:class:`sztp_client.transport.restconf.RestconfClient`) is the implementation used on a
device; tests use the in-memory server of ``tests/simulator.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sztp_client.model.rpc import (
    GetBootstrappingDataInput,
    GetBootstrappingDataOutput,
    ReportProgressInput,
)
from sztp_client.model.server_uri import ServerEndpoint
from sztp_client.trust.hops import ServerTrust


class BootstrapServer(Protocol):
    """One bootstrap server at one address (RFC 8572 §7: the two RPCs a device calls)."""

    def get_bootstrapping_data(
        self, request: GetBootstrappingDataInput
    ) -> GetBootstrappingDataOutput:
        """POST get-bootstrapping-data; raise a TransportError or DataError on failure."""
        ...

    def report_progress(self, report: ReportProgressInput) -> None:
        """POST report-progress; raise ReportRejectedError or a TransportError on failure."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


#: endpoint, resolved address, trust decision -> a server to talk to
ServerFactory = Callable[[ServerEndpoint, str, ServerTrust], BootstrapServer]

#: host, port -> the addresses to try, in order (R-058)
Resolver = Callable[[str, int], list[str]]

__all__ = ["BootstrapServer", "Resolver", "ServerFactory"]
