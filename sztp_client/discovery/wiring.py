"""From the configuration to the session's sources: one per kind in ``discovery.order``.

:func:`build_sources` builds, in the configured order, every kind this installation implements
(the registry of :mod:`sztp_client.discovery.sources`, which imports a kind's module only
when the kind is in the order) and the configured well-known servers.
Each becomes a :class:`KindSource`, the session's :class:`~sztp_client.protocol.session_events.
Source`: on every pass it asks its discovery sources afresh, keeps their findings (for the
status record and ``sztp-client discover``), and hands the session the servers and the data
they yielded, in order.  Data a source delivered is labelled with the trust kind of its source
(:data:`~sztp_client.discovery.sources.TRUST_KIND`), which decides at verification what it may
deliver unsigned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
from cryptography import x509

from sztp_client.config import ClientConfig
from sztp_client.discovery.sources import (
    CONFIGURED,
    MDNS_SRV,
    TRUST_KIND,
    Builder,
    DiscoveryContext,
    DiscoverySource,
    Finding,
    builders,
)
from sztp_client.errors import SZTPError
from sztp_client.model.server_uri import ServerEndpoint
from sztp_client.protocol.session_events import Candidate, DeliveredData, ServerCandidate
from sztp_client.trust.verifier import Artifacts

#: at most this many findings of one kind are kept per pass (a flood of interfaces or media)
MAX_FINDINGS = 64


class ConfiguredServers(msgspec.Struct, frozen=True):
    """The configured well-known bootstrap servers with the configured anchors (R-004, R-005)."""

    endpoints: tuple[ServerEndpoint, ...]
    anchors: tuple[x509.Certificate, ...] = ()
    kind: str = CONFIGURED

    def discover(self) -> Sequence[Finding]:
        if not self.endpoints:
            return [Finding(CONFIGURED, "discovery.bootstrap-servers", error="none configured")]
        servers = tuple(ServerCandidate(e, self.anchors) for e in self.endpoints)
        return [Finding(CONFIGURED, "discovery.bootstrap-servers", servers=servers)]

    def release(self) -> None:
        return None


class KindSource(msgspec.Struct):
    """One kind, as the session sees it: ``name`` is the kind."""

    kind: str
    parts: Sequence[DiscoverySource]
    unavailable: str = ""
    findings: list[Finding] = msgspec.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.kind

    def detect(self) -> bool:
        return not self.unavailable and bool(self.parts)

    def fetch(self) -> Sequence[Candidate]:
        """Ask every part afresh; a part that raises is recorded as a finding's error."""
        self.findings = []
        for part in self.parts:
            try:
                found = list(part.discover())
            except SZTPError as exc:
                found = [Finding(self.kind, self.kind, error=exc.message)]
            except OSError as exc:
                found = [Finding(self.kind, self.kind, error=f"{exc.strerror or exc}")]
            self.findings.extend(found[: MAX_FINDINGS - len(self.findings)])
        return candidates(self.findings)

    @property
    def summary(self) -> str:
        """Why this kind gave nothing, for the message of an empty pass."""
        if self.unavailable:
            return self.unavailable
        reasons = [describe(f) for f in self.findings]
        return "; ".join(reasons) if reasons else "found nothing"

    def release(self) -> None:
        for part in self.parts:
            with contextlib.suppress(SZTPError, OSError):
                part.release()


def candidates(findings: Sequence[Finding]) -> tuple[Candidate, ...]:
    """The servers and delivered data of ``findings``, in order."""
    out: list[Candidate] = []
    for finding in findings:
        out.extend(finding.servers)
        if finding.artifacts is not None:
            a = finding.artifacts
            out.append(
                DeliveredData(
                    Artifacts(a.conveyed_information, a.owner_certificate, a.ownership_voucher),
                    TRUST_KIND[finding.kind],
                    f"{finding.kind}:{finding.origin}",
                    a.medium,
                )
            )
    return tuple(out)


def describe(finding: Finding) -> str:
    """One finding in a few words: where, and what it gave or why not."""
    if finding.error:
        why = finding.error
    elif finding.found:
        why = "found " + ", ".join(record(finding)["bootstrap-servers"] + list(_names(finding)))
    elif finding.rejected:
        why = "refused " + "; ".join(finding.rejected)
    else:
        why = "nothing there"
    return f"{finding.origin}: {why}"


def _names(finding: Finding) -> tuple[str, ...]:
    return finding.artifacts.names if finding.artifacts is not None else ()


def record(finding: Finding) -> dict[str, Any]:
    """A finding as the status record and ``discover --json`` write it."""
    return {
        "kind": finding.kind,
        "origin": finding.origin,
        "bootstrap-servers": [_uri(c.endpoint) for c in finding.servers],
        "artifacts": list(_names(finding)),
        "rejected": list(finding.rejected),
        "error": finding.error,
    }


def _uri(endpoint: ServerEndpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"https://{host}:{endpoint.port}"


#: the kinds that search DNS domains, and so need the domains of the DHCP leases (D5)
_DNS_KINDS = frozenset({"mdns-txt", "dns-txt", "mdns-srv", "dns-srv"})


def discovery_context(config: ClientConfig, serial_number: str) -> DiscoveryContext:
    """What this pass's builders may use: the configuration, the serial number, the
    interfaces, and the DNS domains of the current DHCP leases, which the DNS kinds search
    first (D5).  The leases are read only when a DNS kind is in ``discovery.order``."""
    discovery = config.discovery
    domains: tuple[str, ...] = ()
    if _DNS_KINDS.intersection(discovery.order):
        from sztp_client.discovery import dhcp_files  # noqa: PLC0415 - only when DNS is searched

        domains = dhcp_files.lease_domains(discovery.dhcp.lease_files, discovery.interfaces or None)
    return DiscoveryContext(
        config, serial_number, interfaces=discovery.interfaces, lease_domains=domains
    )


def server_resolver(
    config: ClientConfig, fallback: Callable[[str, int], list[str]]
) -> Callable[[str, int], list[str]]:
    """The resolver of bootstrap-server host names for a run: with mdns-srv in
    ``discovery.order``, names under ``local`` (what an mDNS SRV record names) are asked by
    multicast DNS on the configured interfaces, since a device need not have an mDNS-aware
    system resolver, and every other name by ``fallback``; without it, ``fallback`` itself."""
    if MDNS_SRV not in config.discovery.order:
        return fallback
    from sztp_client.discovery.mdns_resolver import local_names_resolver  # noqa: PLC0415

    return local_names_resolver(fallback, interfaces=config.discovery.interfaces or None)


def build_sources(
    context: DiscoveryContext,
    configured: ConfiguredServers,
    registry: Mapping[str, Builder] | None = None,
) -> list[KindSource]:
    """The sources of ``discovery.order``, in that order; a kind not installed here stays in
    the list, absent, so that the status and ``discover`` say so."""
    order = context.config.discovery.order
    known = builders(order) if registry is None else registry
    out: list[KindSource] = []
    for kind in order:
        if kind == CONFIGURED:
            out.append(KindSource(kind, [configured]))
        elif kind in known:
            out.append(KindSource(kind, list(known[kind](context))))
        else:
            out.append(KindSource(kind, [], unavailable="not available in this installation"))
    return out


__all__ = [
    "MAX_FINDINGS",
    "ConfiguredServers",
    "KindSource",
    "build_sources",
    "candidates",
    "describe",
    "discovery_context",
    "record",
    "server_resolver",
]
