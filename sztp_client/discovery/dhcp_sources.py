"""The DHCP discovery sources, one per family (RFC 8572 §4.3, §8; R-096..R-102, D9).

:class:`DhcpSource` tries, for ``dhcpv4`` or ``dhcpv6``, the drop files the shipped hooks
write, then the system DHCP client's lease files (:mod:`.dhcp_files`), then, when enabled, the
client's own query (:mod:`.dhcp_query`), and yields the servers of the first that names any,
which is what one entry of the discovery order needs.  It is a
:class:`~sztp_client.protocol.session_events.Source` named by its kind; its ``observations``
(:class:`~sztp_client.discovery.dhcp_observations.Observation`) record what every part tried
saw.  :class:`DhcpDiscovery` is the same as a discovery source (one finding per origin), and
:data:`BUILDERS` builds it from ``discovery.dhcp.*``.

The decoding is :mod:`.dhcp_option`'s; nothing here decides trust.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import msgspec

from sztp_client.discovery.dhclient_leases import DhcpFamily
from sztp_client.discovery.dhcp_files import (
    DEFAULT_DROP_DIR,
    DEFAULT_LEASE_GLOBS,
    DropFileSource,
    LeaseFileSource,
)
from sztp_client.discovery.dhcp_observations import Observation
from sztp_client.discovery.dhcp_query import QuerySource
from sztp_client.discovery.sources import Builder, DiscoveryContext, Finding
from sztp_client.protocol.session_events import ServerCandidate


class DhcpSource(msgspec.Struct, dict=True):
    """Drop files, then lease files, then (when ``query``) the own query, for one family; the
    first that names a server gives the servers.  ``observations`` holds what every part
    tried saw.  ``lease_globs`` ``()`` reads no lease file; ``interfaces`` ``()``/``None``:
    every up, non-loopback interface for the query, any interface for files.  ``parts`` (set
    when made) are the parts in the order tried."""

    family: DhcpFamily | str
    interfaces: Sequence[str] | None = None
    lease_globs: Sequence[str] = DEFAULT_LEASE_GLOBS
    drop_dir: str | os.PathLike[str] = DEFAULT_DROP_DIR
    query: bool = True
    timeout: float = 3.0
    observations: tuple[Observation, ...] = ()

    def __post_init__(self) -> None:
        self.family = DhcpFamily(self.family)
        self.parts: list[DropFileSource | LeaseFileSource | QuerySource] = [
            DropFileSource(self.family, self.drop_dir, self.interfaces),
            LeaseFileSource(self.family, self.lease_globs, self.interfaces),
        ]
        if self.query:
            self.parts.append(QuerySource(self.family, self.interfaces, timeout=self.timeout))

    @property
    def name(self) -> str:
        return str(self.family)

    def detect(self) -> bool:
        return any(part.detect() for part in self.parts)

    def fetch(self) -> Sequence[ServerCandidate]:
        seen: list[Observation] = []
        try:
            for part in self.parts:
                if not part.detect():
                    continue
                found = part.fetch()
                seen.extend(part.observations)
                if found:
                    return found
            return []
        finally:
            self.observations = tuple(seen)


class DhcpDiscovery(msgspec.Struct):
    """:class:`DhcpSource` as a discovery source: one finding per origin it looked at."""

    source: DhcpSource

    @property
    def kind(self) -> str:
        return str(self.source.family)

    def discover(self) -> Sequence[Finding]:
        found = tuple(self.source.fetch()) if self.source.detect() else ()
        findings: list[Finding] = []
        for observation in self.source.observations:
            servers = found if observation.servers and found else ()
            found = () if servers else found  # the servers belong to the origin that named them
            origin = observation.origin
            if observation.interface and observation.interface not in origin:
                origin = f"{origin} ({observation.interface})"
            findings.append(
                Finding(
                    self.kind,
                    origin,
                    servers=servers,
                    rejected=observation.rejected,
                    error=None if servers else observation.error,
                )
            )
        if found:
            findings.append(Finding(self.kind, "DHCP", servers=found))
        return findings

    def release(self) -> None:
        return None


def _builder(family: DhcpFamily) -> Callable[[DiscoveryContext], Sequence[DhcpDiscovery]]:
    def build(context: DiscoveryContext) -> Sequence[DhcpDiscovery]:
        dhcp = context.config.discovery.dhcp
        source = DhcpSource(
            family,
            interfaces=context.interfaces or None,
            lease_globs=dhcp.lease_files,
            drop_dir=dhcp.drop_dir,
            query=dhcp.query,
        )
        return [DhcpDiscovery(source)]

    return build


BUILDERS: dict[str, Builder] = {
    "dhcpv4": _builder(DhcpFamily.V4),
    "dhcpv6": _builder(DhcpFamily.V6),
}
