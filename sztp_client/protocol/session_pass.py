"""What one pass of the session keeps account of, and the messages made from it.

A pass walks lists of servers: a source's list, and on a redirect the list it names (then
``parent`` is the server that redirected).  In each list one :class:`ServerAttempt` is being
tried at a time; it remembers the server's trust, its addresses and nonces, its open attempt
and connection, and how it ended.  The pass also counts the addresses tried across redirects
(D28) and notes every source tried and what it gave, for the one message of a pass that found
nothing (R-014).  Pure records and text, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from sztp_client.errors import DataError
from sztp_client.protocol import session_events as ev
from sztp_client.protocol.outcome import RunOutcome

if TYPE_CHECKING:
    from sztp_client.model.conveyed import BootstrapServer
    from sztp_client.model.rpc import GetBootstrappingDataOutput
    from sztp_client.model.server_uri import ServerEndpoint
    from sztp_client.protocol.onboarding import OnboardingMachine
    from sztp_client.trust.hops import HopTrust


class ServerAttempt(msgspec.Struct):
    """The server being tried in a list (``endpoint`` None: data a source delivered)."""

    endpoint: ServerEndpoint | None
    trust: HopTrust
    name: str
    delivered: ev.DeliveredData | None = None
    addresses: tuple[str, ...] = ()
    nonces: tuple[bytes, ...] = ()
    tried: int = 0
    attempt_open: bool = False
    connected: bool = False
    machine: OnboardingMachine | None = None
    output: GetBootstrappingDataOutput | None = None
    outcome: RunOutcome = RunOutcome.NOTHING


class ServerList(msgspec.Struct):
    """One list of servers: a source's, or a redirect's (then ``parent`` redirected)."""

    label: str
    servers: tuple[ev.Candidate, ...] | tuple[BootstrapServer, ...]
    parent: ServerAttempt | None = None
    index: int = 0
    failed: bool = False
    current: ServerAttempt | None = None


def nothing_found(tried: Sequence[tuple[str, str]]) -> str:
    """The one message of a pass that found nothing: every source tried and why."""
    if not tried:
        return "no bootstrapping data: no source is configured (discovery.order)"
    parts = "; ".join(f"{name}: {why}" for name, why in tried)
    return f"no bootstrapping data from any source: {parts}"


def yielded(candidates: Sequence[ev.Candidate]) -> str:
    """What a source yielded, counted: ``2 servers and 1 set of bootstrapping data``."""
    servers = sum(1 for c in candidates if isinstance(c, ev.ServerCandidate))
    data = len(candidates) - servers
    parts = []
    if servers:
        parts.append(f"{servers} server{'s' if servers != 1 else ''}")
    if data:
        parts.append(f"{data} set{'s' if data != 1 else ''} of bootstrapping data")
    return " and ".join(parts)


def address_limit_error(limit: int, server: str) -> DataError:
    """The redirect-address bound of one pass (D28) was reached at ``server``."""
    return DataError(
        f"redirect address limit reached: {limit} addresses were tried across the redirects "
        f"of this pass; {server} and the redirect targets after it are not tried "
        "(limits.redirect-addresses)"
    )


def server_name(endpoint: ServerEndpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"https://{host}:{endpoint.port}"


__all__ = [
    "ServerAttempt",
    "ServerList",
    "address_limit_error",
    "nothing_found",
    "server_name",
    "yielded",
]
