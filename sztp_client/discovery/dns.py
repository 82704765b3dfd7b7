"""DNS and multicast DNS discovery sources (RFC 8572 §4.2; R-103..R-110, D5, D6).

Four sources, tried in this order (R-103, R-104):

* :class:`MdnsTxtSource` (``mdns-txt``): TXT at ``<serial-number>._sztp.local.`` by
  multicast DNS; yields the artifacts of the ``ci``/``oc``/``ov`` values.
* :class:`DnsTxtSource` (``dns-txt``): TXT at ``<serial-number>._sztp.<domain>.`` for each
  domain, asking the configured name servers; yields artifacts.
* :class:`MdnsSrvSource` (``mdns-srv``): SRV at ``_sztp._tcp.local.``; yields servers.
* :class:`DnsSrvSource` (``dns-srv``): SRV at ``_sztp._tcp.<domain>.``; yields servers
  ``https://<target>:<port>`` in RFC 2782's priority and weight order.

The record data is decoded by :mod:`sztp_client.discovery.dns_records`; this module only asks
and receives.  Queries are sent with dnspython's message codec over sockets of this module's
own, so that every answer is bounded before it is read (``max_answer_bytes``): a UDP datagram
is received into a buffer of that size, a TCP answer's length prefix is checked before its
body is read.  A truncated UDP answer is asked again over TCP (R-110).  Unicast queries go to
each name server in turn until one answers; multicast queries are one-shot ("legacy unicast",
RFC 6762 §6.7) from an ephemeral port to 224.0.0.251 and to ff02::fb on each interface, and
the first answer holding records counts.

DNS is an untrusted source even with DNSSEC (R-109): TXT artifacts are handed on as data of
:attr:`~sztp_client.trust.sources.SourceKind.DNS`, whose trust decides what may be unsigned.

No source raises for what the network did: each query becomes one
:class:`~sztp_client.discovery.sources.Finding` (what it yielded, what was refused there, or
why nothing came), kept in the source's ``report``; :data:`BUILDERS` builds the sources from
the configuration for :mod:`sztp_client.discovery.sources`.
"""

from __future__ import annotations

import fcntl
import random
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.SRV

from sztp_client.discovery.dns_records import (
    MAX_RECORD_BYTES,
    MAX_SRV_RECORDS,
    MAX_TXT_RECORDS,
    MDNS_DOMAIN,
    RandomInt,
    SrvRecord,
    assemble_txt,
    order_srv,
    resolv_conf_domains,
    search_domains,
    srv_name,
    txt_name,
)
from sztp_client.discovery.errors import DiscoveryError, DnsQueryError
from sztp_client.discovery.sources import (
    DNS_SRV,
    DNS_TXT,
    MDNS_SRV,
    MDNS_TXT,
    Builder,
    DiscoveryContext,
    DiscoverySource,
    Finding,
    SourceArtifacts,
)
from sztp_client.errors import ConnectError, SizeLimitError
from sztp_client.model.server_uri import parse_server_uri
from sztp_client.protocol.session_events import Candidate, DeliveredData, ServerCandidate
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import Artifacts

DNS_PORT: Final = 53
MDNS_PORT: Final = 5353
MDNS_IPV4: Final = "224.0.0.251"
MDNS_IPV6: Final = "ff02::fb"
UDP_PAYLOAD: Final = 1232
"""The EDNS(0) UDP payload size offered (the DNS flag day's value); larger answers come back
truncated and are asked again over TCP."""
MAX_ANSWER_BYTES: Final = 65535
"""Default bound of one answer on the wire: the most a DNS message over TCP can be."""
DEFAULT_TIMEOUT: Final = 3.0
"""Default seconds to wait for one answer (a whole TCP exchange counts as one)."""
RESOLV_CONF: Final = Path("/etc/resolv.conf")
MAX_RESOLV_CONF_BYTES: Final = 65536
MAX_NAMESERVERS: Final = 8

_SIOCGIFFLAGS: Final = 0x8913
_IFF_UP: Final = 0x1
_IFF_LOOPBACK: Final = 0x8


# ---------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True, slots=True)
class DnsBounds:
    """How long to wait and how much to accept (every answer is size-bounded)."""

    timeout: float = DEFAULT_TIMEOUT
    max_answer_bytes: int = MAX_ANSWER_BYTES
    max_txt_records: int = MAX_TXT_RECORDS
    max_record_bytes: int = MAX_RECORD_BYTES
    max_srv_records: int = MAX_SRV_RECORDS


# ---------------------------------------------------------------------------------------------
# queries


def _question(name: str, rdtype: dns.rdatatype.RdataType, *, mdns: bool) -> dns.message.Message:
    message = dns.message.make_query(name, rdtype, use_edns=0, payload=UDP_PAYLOAD)
    if mdns:
        message.flags &= ~dns.flags.RD  # RFC 6762 §18.6: RD is zero in multicast queries
        message.id = random.SystemRandom().randrange(1, 65536)
    return message


def _parse(query: dns.message.Message, wire: bytes, where: str) -> dns.message.Message:
    try:
        answer = dns.message.from_wire(wire, ignore_trailing=True)
    except (dns.exception.DNSException, ValueError) as exc:
        raise DnsQueryError(f"a malformed answer from {where}: {exc}") from exc
    if not query.is_response(answer):
        raise DnsQueryError(f"an answer from {where} does not match the query")
    return answer


def _deadline_left(deadline: float, where: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DnsQueryError(f"no answer from {where} in time")
    return left


def _udp(
    query: dns.message.Message, address: str, port: int, bounds: DnsBounds
) -> dns.message.Message:
    where = _where(address, port)
    family, sockaddr = _sockaddr(address, port)
    deadline = time.monotonic() + bounds.timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(sockaddr)
            sock.send(query.to_wire())
        except OSError as exc:
            raise DnsQueryError(f"cannot ask {where}: {exc.strerror or exc}") from exc
        while True:
            sock.settimeout(_deadline_left(deadline, where))
            try:
                wire = sock.recv(bounds.max_answer_bytes + 1)
            except TimeoutError as exc:
                raise DnsQueryError(f"no answer from {where} in time") from exc
            except OSError as exc:
                raise DnsQueryError(f"asking {where} failed: {exc.strerror or exc}") from exc
            if len(wire) > bounds.max_answer_bytes:
                raise SizeLimitError(
                    f"a DNS answer from {where}", len(wire), bounds.max_answer_bytes
                )
            try:
                return _parse(query, wire, where)
            except DnsQueryError:
                continue  # a stray or forged datagram: keep waiting for the real answer


def _tcp(
    query: dns.message.Message, address: str, port: int, bounds: DnsBounds
) -> dns.message.Message:
    where = _where(address, port) + " over TCP"
    family, sockaddr = _sockaddr(address, port)
    deadline = time.monotonic() + bounds.timeout
    wire = query.to_wire()
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.settimeout(_deadline_left(deadline, where))
            sock.connect(sockaddr)
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            size = struct.unpack("!H", _read(sock, 2, deadline, where))[0]
            if size > bounds.max_answer_bytes:
                raise SizeLimitError(f"a DNS answer from {where}", size, bounds.max_answer_bytes)
            body = _read(sock, size, deadline, where)
        except TimeoutError as exc:
            raise DnsQueryError(f"no answer from {where} in time") from exc
        except OSError as exc:
            raise DnsQueryError(f"asking {where} failed: {exc.strerror or exc}") from exc
    return _parse(query, body, where)


def _read(sock: socket.socket, size: int, deadline: float, where: str) -> bytes:
    chunks: list[bytes] = []
    wanted = size
    while wanted:
        sock.settimeout(_deadline_left(deadline, where))
        chunk = sock.recv(min(wanted, 65536))
        if not chunk:
            raise DnsQueryError(f"{where} closed the connection mid-answer")
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def query_unicast(
    name: str,
    rdtype: dns.rdatatype.RdataType,
    nameserver: str,
    *,
    port: int = DNS_PORT,
    bounds: DnsBounds = DnsBounds(),
) -> dns.message.Message:
    """Ask ``nameserver`` for ``name`` over UDP, and again over TCP when the answer comes back
    truncated (R-110).  :class:`DnsQueryError` when there is no usable answer,
    :class:`~sztp_client.errors.SizeLimitError` when it is over ``bounds.max_answer_bytes``."""
    query = _question(name, rdtype, mdns=False)
    answer = _udp(query, nameserver, port, bounds)
    if answer.flags & dns.flags.TC:
        answer = _tcp(query, nameserver, port, bounds)
    return answer


def query_multicast(
    name: str,
    rdtype: dns.rdatatype.RdataType,
    *,
    interfaces: Sequence[str] = (),
    ipv4: bool = True,
    port: int = MDNS_PORT,
    bounds: DnsBounds = DnsBounds(),
) -> tuple[dns.message.Message, str]:
    """Ask by multicast DNS, one-shot (RFC 6762 §6.7), to 224.0.0.251 (when ``ipv4``) and to
    ff02::fb on each of ``interfaces``; return the first answer holding records of ``rdtype``
    at ``name`` and the address it came from.  A truncated answer is left out: multicast DNS
    has no TCP to ask again over, and a part of the records could pass for all of them.
    :class:`DnsQueryError` when none came in time (the message says what each destination
    did)."""
    query = _question(name, rdtype, mdns=True)
    wire = query.to_wire()
    qname = dns.name.from_text(name)
    problems: list[str] = []
    sockets: list[socket.socket] = []
    try:
        if ipv4:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(sock)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            try:
                sock.sendto(wire, (MDNS_IPV4, port))
            except OSError as exc:
                problems.append(f"{MDNS_IPV4}: {exc.strerror or exc}")
                sockets.remove(sock)
                sock.close()
        for interface in interfaces:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            sockets.append(sock)
            try:
                index = socket.if_nametoindex(interface)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
                sock.sendto(wire, (MDNS_IPV6, port, 0, index))
            except OSError as exc:
                problems.append(f"{MDNS_IPV6}%{interface}: {exc.strerror or exc}")
                sockets.remove(sock)
                sock.close()
        if not sockets:
            raise DnsQueryError("no multicast DNS query could be sent: " + "; ".join(problems))
        deadline = time.monotonic() + bounds.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(sockets, [], [], left)
            for sock in ready:
                try:
                    data, sender = sock.recvfrom(bounds.max_answer_bytes + 1)
                except OSError as exc:
                    problems.append(f"receiving failed: {exc.strerror or exc}")
                    continue
                where = _where(str(sender[0]), int(sender[1]))
                if len(data) > bounds.max_answer_bytes:
                    problems.append(
                        str(
                            SizeLimitError(
                                f"an answer from {where}", len(data), bounds.max_answer_bytes
                            )
                        )
                    )
                    continue
                try:
                    answer = _parse(query, data, where)
                except DnsQueryError as exc:
                    problems.append(str(exc))
                    continue
                if answer.flags & dns.flags.TC:
                    # a part of the records could pass for all of them (ci without oc/ov)
                    problems.append(f"{where} sent a truncated answer: left out")
                    continue
                if answer.get_rrset(answer.answer, qname, dns.rdataclass.IN, rdtype) is not None:
                    return answer, where
                problems.append(f"{where} answered without {dns.rdatatype.to_text(rdtype)} records")
    finally:
        for sock in sockets:
            sock.close()
    detail = "; ".join(problems[:8])
    raise DnsQueryError(
        f"no multicast DNS answer for {name} in {bounds.timeout:g} s"
        + (f" ({detail})" if detail else "")
    )


def _records(
    answer: dns.message.Message, name: str, rdtype: dns.rdatatype.RdataType
) -> list[object]:
    rrset = answer.get_rrset(answer.answer, dns.name.from_text(name), dns.rdataclass.IN, rdtype)
    if rrset is None:
        # a CNAME chain ends in the records of another name: take the last name's records
        for candidate in answer.answer:
            if candidate.rdtype == rdtype:
                rrset = candidate
    return list(rrset) if rrset is not None else []


def _sockaddr(address: str, port: int) -> tuple[socket.AddressFamily, tuple[object, ...]]:
    try:
        infos = socket.getaddrinfo(
            address, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
        )
    except socket.gaierror as exc:
        raise DnsQueryError(f"the name server {address!r} is not an IP address") from exc
    family, _, _, _, sockaddr = infos[0]
    return family, tuple(sockaddr)


def _where(address: str, port: int) -> str:
    shown = f"[{address}]" if ":" in address else address
    return shown if port == DNS_PORT else f"{shown}:{port}"


def resolve_multicast(
    host: str,
    *,
    interfaces: Sequence[str] = (),
    ipv4: bool = True,
    port: int = MDNS_PORT,
    bounds: DnsBounds = DnsBounds(),
) -> list[str]:
    """The addresses of a ``.local`` host by multicast DNS (RFC 6762): A, then AAAA, each once.

    Link-local IPv6 addresses are left out (they need the interface, which an address string
    does not carry).  :class:`~sztp_client.errors.ConnectError` naming the host when none came.
    """
    name = host if host.endswith(".") else host + "."
    found: list[str] = []
    reasons: list[str] = []
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            answer, _ = query_multicast(
                name, rdtype, interfaces=interfaces, ipv4=ipv4, port=port, bounds=bounds
            )
        except DnsQueryError as exc:
            reasons.append(str(exc))
            continue
        for rdata in _records(answer, name, rdtype):
            address = str(getattr(rdata, "address", ""))
            if address and not address.lower().startswith("fe80:") and address not in found:
                found.append(address)
    if not found:
        raise ConnectError(
            f"cannot resolve the host name {host!r} by multicast DNS: " + "; ".join(reasons)
        )
    return found


def local_names_resolver(
    fallback: Callable[[str, int], list[str]],
    *,
    interfaces: Sequence[str] | None = None,
    ipv4: bool = True,
    port: int = MDNS_PORT,
    bounds: DnsBounds = DnsBounds(),
    list_interfaces: Callable[[], tuple[str, ...]] | None = None,
) -> Callable[[str, int], list[str]]:
    """A resolver (``(host, port) -> addresses``, as the executor takes) that looks up names
    under ``local`` by multicast DNS and every other name with ``fallback``: an mdns-srv
    server such as ``https://boot.local:443`` resolves without an mDNS-aware system
    resolver."""

    def resolve(host: str, server_port: int) -> list[str]:
        if host.rstrip(".").lower().endswith(".local"):
            chosen = (list_interfaces or up_interfaces)() if interfaces is None else interfaces
            return resolve_multicast(host, interfaces=chosen, ipv4=ipv4, port=port, bounds=bounds)
        return fallback(host, server_port)

    return resolve


# ---------------------------------------------------------------------------------------------
# what the device knows: name servers, domains, interfaces


def read_resolv_conf(path: Path = RESOLV_CONF) -> str:
    """resolv.conf's text, at most :data:`MAX_RESOLV_CONF_BYTES`; empty when it is missing."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RESOLV_CONF_BYTES + 1)
    except OSError:
        return ""
    if len(data) > MAX_RESOLV_CONF_BYTES:
        raise SizeLimitError(str(path), len(data), MAX_RESOLV_CONF_BYTES)
    return data.decode("utf-8", "replace")


def resolv_conf_nameservers(text: str) -> tuple[str, ...]:
    """The addresses of resolv.conf's ``nameserver`` lines, in order, each once (at most
    :data:`MAX_NAMESERVERS`); lines that are not IP addresses are left out."""
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                socket.getaddrinfo(fields[1], DNS_PORT, flags=socket.AI_NUMERICHOST)
            except socket.gaierror:
                continue
            if fields[1] not in found:
                found.append(fields[1])
    return tuple(found[:MAX_NAMESERVERS])


def discovery_domains(
    lease_domains: Iterable[str] = (),
    configured: Iterable[str] = (),
    *,
    resolv_conf: Path = RESOLV_CONF,
) -> tuple[str, ...]:
    """D5's domains: the lease's, then resolv.conf's search/domain line, then the configured
    ones (each once, normalised, unusable names left out)."""
    return search_domains(
        lease_domains, resolv_conf_domains(read_resolv_conf(resolv_conf)), configured
    )


def up_interfaces() -> tuple[str, ...]:
    """The names of the interfaces that are up and not loopback, in index order (asked of the
    kernel by ioctl: /sys follows the mount namespace, not the network namespace)."""
    names: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("16sH14x", name.encode()[:15], 0)
            try:
                reply = fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request)
            except OSError:
                continue
            flags = struct.unpack("16sH14x", reply)[1]
            if flags & _IFF_UP and not flags & _IFF_LOOPBACK:
                names.append(name)
    return tuple(names)


# ---------------------------------------------------------------------------------------------
# sources


def _txt_finding(
    kind: str, answer: dns.message.Message, name: str, origin: str, bounds: DnsBounds
) -> Finding:
    records = [
        tuple(rdata.strings)
        for rdata in _records(answer, name, dns.rdatatype.TXT)
        if isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
    ]
    if not records:
        return Finding(kind, origin, error=_no_records(answer, "TXT"))
    try:
        found = assemble_txt(
            name,
            records,
            max_records=bounds.max_txt_records,
            max_record_bytes=bounds.max_record_bytes,
        )
    except (DiscoveryError, SizeLimitError) as exc:
        return Finding(kind, origin, rejected=(str(exc),))
    ignored = tuple(f"the key {key!r} is not an SZTP key: ignored" for key in found.ignored)
    if found.conveyed_information is None:
        return Finding(
            kind,
            origin,
            rejected=(*ignored, f"{len(records)} TXT record(s) without a 'ci' value"),
        )
    artifacts = SourceArtifacts(
        found.conveyed_information, found.owner_certificate, found.ownership_voucher
    )
    return Finding(kind, origin, artifacts=artifacts, rejected=ignored)


def _srv_finding(
    kind: str,
    answer: dns.message.Message,
    name: str,
    origin: str,
    *,
    bounds: DnsBounds,
    choose: RandomInt,
) -> Finding:
    records = [
        SrvRecord(rdata.priority, rdata.weight, rdata.port, rdata.target.to_text())
        for rdata in _records(answer, name, dns.rdatatype.SRV)
        if isinstance(rdata, dns.rdtypes.IN.SRV.SRV)
    ]
    if not records:
        return Finding(kind, origin, error=_no_records(answer, "SRV"))
    try:
        servers = order_srv(records, choose=choose, max_records=bounds.max_srv_records)
    except DiscoveryError as exc:
        return Finding(kind, origin, rejected=(str(exc),))
    candidates = tuple(ServerCandidate(parse_server_uri(uri)) for uri in servers.uris)
    return Finding(kind, origin, servers=candidates, rejected=servers.ignored)


def _no_records(answer: dns.message.Message, kind: str) -> str:
    rcode = answer.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return "no such name"
    if rcode != dns.rcode.NOERROR:
        return f"the server answered {dns.rcode.to_text(rcode)}"
    return f"no {kind} records"


@dataclass(slots=True)
class _Base:
    """What every DNS source shares: both interfaces the client knows sources by.

    As a session :class:`~sztp_client.protocol.session_events.Source`: ``name``, ``detect``,
    ``fetch`` (servers, or the data of TXT records as
    :class:`~sztp_client.protocol.session_events.DeliveredData`) and ``summary``.  As a
    :class:`~sztp_client.discovery.sources.DiscoverySource`: ``kind``, ``discover`` (one
    :class:`~sztp_client.discovery.sources.Finding` per name and server asked) and
    ``release``.  The findings of the last look stay in :attr:`report`.
    """

    bounds: DnsBounds = field(default_factory=DnsBounds)
    report: tuple[Finding, ...] = field(default=(), init=False)
    """What the last look asked, each query's :class:`Finding`."""

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


@dataclass(slots=True)
class _Unicast(_Base):
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
            origin = f"{name} {dns.rdatatype.to_text(rdtype)} @ {_where(server, self.port)}"
            try:
                answer = query_unicast(name, rdtype, server, port=self.port, bounds=self.bounds)
            except (DnsQueryError, SizeLimitError) as exc:
                findings.append(Finding(self.kind, origin, error=str(exc)))
                continue
            if answer.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                # SERVFAIL, REFUSED: another server may know
                findings.append(Finding(self.kind, origin, error=_no_records(answer, "")))
                continue
            return answer, origin
        return None


@dataclass(slots=True)
class DnsTxtSource(_Unicast):
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
                findings.append(_txt_finding(self.kind, answer, name, origin, self.bounds))
        return findings


@dataclass(slots=True)
class DnsSrvSource(_Unicast):
    """``dns-srv``: SRV at ``_sztp._tcp.<domain>.`` for each domain in turn (R-108); yields
    ``https://<target>:<port>`` servers, without anchors, in priority and weight order."""

    choose: RandomInt = field(default=random.SystemRandom().randint)

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
                    _srv_finding(
                        self.kind, answer, name, origin, bounds=self.bounds, choose=self.choose
                    )
                )
        return findings


@dataclass(slots=True)
class _Multicast(_Base):
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


@dataclass(slots=True)
class MdnsTxtSource(_Multicast):
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
            findings.append(_txt_finding(self.kind, answer, name, origin, self.bounds))
        return findings


@dataclass(slots=True)
class MdnsSrvSource(_Multicast):
    """``mdns-srv``: SRV at ``_sztp._tcp.local.`` (R-104, R-108); yields servers."""

    choose: RandomInt = field(default=random.SystemRandom().randint)

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
                _srv_finding(
                    self.kind, answer, name, origin, bounds=self.bounds, choose=self.choose
                )
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
    bounds: DnsBounds = DnsBounds(),
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
            text = read_resolv_conf(RESOLV_CONF)
        except SizeLimitError:
            text = ""  # an oversized resolv.conf names no domain and no server
        domains = search_domains(
            context.lease_domains, resolv_conf_domains(text), context.config.discovery.dns.domains
        )
        sources = dns_sources(
            context.serial_number,
            domains=domains,
            nameservers=resolv_conf_nameservers(text),
            interfaces=context.interfaces or None,
        )
        return [source for source in sources if source.kind == kind]

    return build


BUILDERS: dict[str, Builder] = {
    kind: _build(kind) for kind in (MDNS_TXT, DNS_TXT, MDNS_SRV, DNS_SRV)
}
"""The kinds this module implements, for :func:`sztp_client.discovery.sources.builders`."""
