"""DNS and multicast DNS discovery sources (RFC 8572 §4.2; R-103..R-110, D5, D6).

Four sources, tried in this order (R-103, R-104):

* :class:`MdnsTxtSource` (``mdns-txt``): TXT at ``<serial-number>._sztp.local.`` by
  multicast DNS; yields the artifacts of the ``ci``/``oc``/``ov`` values.
* :class:`DnsTxtSource` (``dns-txt``): TXT at ``<serial-number>._sztp.<domain>.`` for each
  domain, asking the configured name servers; yields artifacts.
* :class:`MdnsSrvSource` (``mdns-srv``): SRV at ``_sztp._tcp.local.``; yields servers.
* :class:`DnsSrvSource` (``dns-srv``): SRV at ``_sztp._tcp.<domain>.``; yields servers
  ``https://<target>:<port>`` in RFC 2782's priority and weight order.

This module decides what to ask and of whom; the asking is :mod:`.dns_query`'s (unicast
queries go to each name server in turn until one answers, multicast ones are one-shot), what
an answer gives is :mod:`.dns_findings`' and the name servers and domains come from
:mod:`.resolv_conf`.

DNS is an untrusted source even with DNSSEC (R-109): TXT artifacts are handed on as data of
:attr:`~sztp_client.trust.sources.SourceKind.DNS`, whose trust decides what may be unsigned.

No source raises for what the network did: each query becomes one
:class:`~sztp_client.discovery.sources.Finding` (what it yielded, what was refused there, or
why nothing came), kept in the source's ``report``; :data:`BUILDERS` builds the sources from
the configuration for :mod:`sztp_client.discovery.sources`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import dns.message
import dns.rcode
import dns.rdatatype
import msgspec

from sztp_client.discovery import resolv_conf
from sztp_client.discovery.dns_findings import no_records, srv_finding, txt_finding
from sztp_client.discovery.dns_query import (
    DEFAULT_BOUNDS,
    DNS_PORT,
    MDNS_PORT,
    DnsBounds,
    address_label,
    query_multicast,
    query_unicast,
)
from sztp_client.discovery.dns_records import (
    MDNS_DOMAIN,
    RandomInt,
    resolv_conf_domains,
    search_domains,
    srv_name,
    txt_name,
)
from sztp_client.discovery.errors import DiscoveryError, DnsQueryError
from sztp_client.discovery.interfaces import up_interfaces
from sztp_client.discovery.sources import (
    DNS_SRV,
    DNS_TXT,
    MDNS_SRV,
    MDNS_TXT,
    Builder,
    DiscoveryContext,
    DiscoverySource,
    Finding,
)
from sztp_client.errors import SizeLimitError
from sztp_client.protocol.session_events import Candidate, DeliveredData
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import Artifacts


class _Base(msgspec.Struct, kw_only=True):
    """What every DNS source shares: both interfaces the client knows sources by.

    As a session :class:`~sztp_client.protocol.session_events.Source`: ``name``, ``detect``,
    ``fetch`` (servers, or the data of TXT records as
    :class:`~sztp_client.protocol.session_events.DeliveredData`) and ``summary``.  As a
    :class:`~sztp_client.discovery.sources.DiscoverySource`: ``kind``, ``discover`` (one
    :class:`~sztp_client.discovery.sources.Finding` per name and server asked) and
    ``release``.  The findings of the last look stay in :attr:`report`.
    """

    bounds: DnsBounds = msgspec.field(default_factory=DnsBounds)
    report: tuple[Finding, ...] = ()
    """What the last look asked, each query's :class:`Finding` (set by every look)."""

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return self.kind

    def detect(self) -> bool:
        raise NotImplementedError

    def _look(self) -> list[Finding]:
        raise NotImplementedError

    def _absent(self) -> str:
        raise NotImplementedError

    def discover(self) -> Sequence[Finding]:
        """Ask every name this source asks; never raises for what the network did.  An absent
        source gives one finding saying why it asked nothing."""
        if self.detect():
            self.report = tuple(self._look())
        else:
            self.report = (Finding(self.kind, self.kind, error=self._absent()),)
        return self.report

    def release(self) -> None:
        """Nothing is held between looks."""

    def fetch(self) -> Sequence[Candidate]:
        """The servers and delivered data of every finding, in order, each once."""
        self.report = tuple(self._look())
        found: list[Candidate] = []
        for finding in self.report:
            for server in finding.servers:
                if server not in found:
                    found.append(server)
            if finding.artifacts is not None:
                found.append(
                    DeliveredData(
                        Artifacts(
                            finding.artifacts.conveyed_information,
                            finding.artifacts.owner_certificate,
                            finding.artifacts.ownership_voucher,
                        ),
                        SourceKind.DNS,
                        finding.origin,
                    )
                )
        return found

    @property
    def summary(self) -> str:
        """Why the last look yielded nothing: each query and what became of it."""
        parts = [
            f"{f.origin}: {f.error or '; '.join(f.rejected) or 'nothing usable'}"
            for f in self.report
            if not f.found
        ]
        return "; ".join(parts[:8]) + ("; ..." if len(parts) > 8 else "")


class _Unicast(_Base, kw_only=True):
    serial_number: str = ""
    domains: tuple[str, ...] = ()
    nameservers: tuple[str, ...] = ()
    port: int = DNS_PORT

    def detect(self) -> bool:
        """Present when a name server and a domain are known (R-104: unicast DNS is asked only
        if a DNS server is known)."""
        return bool(self.nameservers and self.domains)

    def _absent(self) -> str:
        if not self.nameservers:
            return "no DNS name server is known (resolv.conf names none)"
        return "no DNS domain is known (none from DHCP, resolv.conf or the configuration)"

    def _ask(
        self, name: str, rdtype: dns.rdatatype.RdataType, findings: list[Finding]
    ) -> tuple[dns.message.Message, str] | None:
        """The first name server's usable answer; each failure becomes a finding."""
        for server in self.nameservers:
            origin = f"{name} {dns.rdatatype.to_text(rdtype)} @ {address_label(server, self.port)}"
            try:
                answer = query_unicast(name, rdtype, server, port=self.port, bounds=self.bounds)
            except (DnsQueryError, SizeLimitError) as exc:
                findings.append(Finding(self.kind, origin, error=str(exc)))
                continue
            if answer.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                # SERVFAIL, REFUSED: another server may know
                findings.append(Finding(self.kind, origin, error=no_records(answer, "")))
                continue
            return answer, origin
        return None


class DnsTxtSource(_Unicast, kw_only=True):
    """``dns-txt``: TXT at ``<serial-number>._sztp.<domain>.`` for each domain in turn
    (R-103, R-105..R-107); yields the artifacts of each name that held a ``ci`` value."""

    @property
    def kind(self) -> str:
        return DNS_TXT

    def _look(self) -> list[Finding]:
        findings: list[Finding] = []
        for domain in self.domains:
            try:
                name = txt_name(self.serial_number, domain)
            except DiscoveryError as exc:
                findings.append(Finding(self.kind, f"TXT in {domain}", error=str(exc)))
                continue
            asked = self._ask(name, dns.rdatatype.TXT, findings)
            if asked is not None:
                answer, origin = asked
                findings.append(txt_finding(self.kind, answer, name, origin, self.bounds))
        return findings


class DnsSrvSource(_Unicast, kw_only=True):
    """``dns-srv``: SRV at ``_sztp._tcp.<domain>.`` for each domain in turn (R-108); yields
    ``https://<target>:<port>`` servers, without anchors, in priority and weight order."""

    choose: RandomInt = random.SystemRandom().randint

    @property
    def kind(self) -> str:
        return DNS_SRV

    def _look(self) -> list[Finding]:
        findings: list[Finding] = []
        for domain in self.domains:
            name = srv_name(domain)
            asked = self._ask(name, dns.rdatatype.SRV, findings)
            if asked is not None:
                answer, origin = asked
                findings.append(
                    srv_finding(
                        self.kind, answer, name, origin, bounds=self.bounds, choose=self.choose
                    )
                )
        return findings


class _Multicast(_Base, kw_only=True):
    interfaces: tuple[str, ...] | None = None
    """Interfaces for IPv6 link-local queries; ``None``: every up, non-loopback interface."""
    ipv4: bool = True
    port: int = MDNS_PORT
    list_interfaces: Callable[[], tuple[str, ...]] = up_interfaces

    def detect(self) -> bool:
        """Present when IPv4 multicast is allowed or some interface is up."""
        return self.ipv4 or bool(self._interfaces())

    def _absent(self) -> str:
        return "no interface is up and IPv4 multicast DNS is off"

    def _interfaces(self) -> tuple[str, ...]:
        return self.list_interfaces() if self.interfaces is None else self.interfaces

    def _ask(
        self, name: str, rdtype: dns.rdatatype.RdataType, findings: list[Finding]
    ) -> tuple[dns.message.Message, str] | None:
        origin = f"{name} {dns.rdatatype.to_text(rdtype)} by multicast DNS"
        try:
            answer, sender = query_multicast(
                name,
                rdtype,
                interfaces=self._interfaces(),
                ipv4=self.ipv4,
                port=self.port,
                bounds=self.bounds,
            )
        except DnsQueryError as exc:
            findings.append(Finding(self.kind, origin, error=str(exc)))
            return None
        return answer, f"{origin} from {sender}"


class MdnsTxtSource(_Multicast, kw_only=True):
    """``mdns-txt``: TXT at ``<serial-number>._sztp.local.`` (R-104, R-105); yields
    artifacts."""

    serial_number: str = ""

    @property
    def kind(self) -> str:
        return MDNS_TXT

    def _look(self) -> list[Finding]:
        findings: list[Finding] = []
        try:
            name = txt_name(self.serial_number, MDNS_DOMAIN)
        except DiscoveryError as exc:
            return [Finding(self.kind, "TXT by multicast DNS", error=str(exc))]
        asked = self._ask(name, dns.rdatatype.TXT, findings)
        if asked is not None:
            answer, origin = asked
            findings.append(txt_finding(self.kind, answer, name, origin, self.bounds))
        return findings


class MdnsSrvSource(_Multicast, kw_only=True):
    """``mdns-srv``: SRV at ``_sztp._tcp.local.`` (R-104, R-108); yields servers."""

    choose: RandomInt = random.SystemRandom().randint

    @property
    def kind(self) -> str:
        return MDNS_SRV

    def _look(self) -> list[Finding]:
        findings: list[Finding] = []
        name = srv_name(MDNS_DOMAIN)
        asked = self._ask(name, dns.rdatatype.SRV, findings)
        if asked is not None:
            answer, origin = asked
            findings.append(
                srv_finding(self.kind, answer, name, origin, bounds=self.bounds, choose=self.choose)
            )
        return findings


DnsSource = MdnsTxtSource | DnsTxtSource | MdnsSrvSource | DnsSrvSource


def dns_sources(
    serial_number: str,
    *,
    domains: Sequence[str],
    nameservers: Sequence[str],
    interfaces: Sequence[str] | None = None,
    mdns_ipv4: bool = True,
    dns_port: int = DNS_PORT,
    mdns_port: int = MDNS_PORT,
    bounds: DnsBounds = DEFAULT_BOUNDS,
) -> tuple[MdnsTxtSource, DnsTxtSource, MdnsSrvSource, DnsSrvSource]:
    """The four sources in R-104's order: mDNS TXT, unicast TXT, mDNS SRV, unicast SRV."""
    chosen = None if interfaces is None else tuple(interfaces)
    return (
        MdnsTxtSource(
            bounds=bounds,
            interfaces=chosen,
            ipv4=mdns_ipv4,
            port=mdns_port,
            serial_number=serial_number,
        ),
        DnsTxtSource(
            bounds=bounds,
            serial_number=serial_number,
            domains=tuple(domains),
            nameservers=tuple(nameservers),
            port=dns_port,
        ),
        MdnsSrvSource(bounds=bounds, interfaces=chosen, ipv4=mdns_ipv4, port=mdns_port),
        DnsSrvSource(
            bounds=bounds, domains=tuple(domains), nameservers=tuple(nameservers), port=dns_port
        ),
    )


def _build(kind: str) -> Builder:
    def build(context: DiscoveryContext) -> Sequence[DiscoverySource]:
        """The ``kind`` source for this pass: domains per D5 (the lease's, resolv.conf's, the
        configured ones), the name servers of resolv.conf, the configured interfaces."""
        try:
            text = resolv_conf.read_resolv_conf(resolv_conf.RESOLV_CONF)
        except SizeLimitError:
            text = ""  # an oversized resolv.conf names no domain and no server
        domains = search_domains(
            context.lease_domains, resolv_conf_domains(text), context.config.discovery.dns.domains
        )
        sources = dns_sources(
            context.serial_number,
            domains=domains,
            nameservers=resolv_conf.resolv_conf_nameservers(text),
            interfaces=context.interfaces or None,
        )
        return [source for source in sources if source.kind == kind]

    return build


BUILDERS: dict[str, Builder] = {
    kind: _build(kind) for kind in (MDNS_TXT, DNS_TXT, MDNS_SRV, DNS_SRV)
}
"""The kinds this module implements, for :func:`sztp_client.discovery.sources.builders`."""
