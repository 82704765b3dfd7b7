"""Asking DNS and multicast DNS over sockets of the client's own (RFC 8572 §4.2; R-110).

Queries are sent with dnspython's message codec over sockets opened here, so that every answer
is bounded before it is read (:attr:`DnsBounds.max_answer_bytes`): a UDP datagram is received
into a buffer of that size, a TCP answer's length prefix is checked before its body is read.
A truncated UDP answer is asked again over TCP (R-110).  Multicast queries are one-shot
("legacy unicast", RFC 6762 §6.7) from an ephemeral port to 224.0.0.251 and to ff02::fb on
each interface, and the first answer holding records counts.

What the answers mean is decided elsewhere: :mod:`.dns_findings` turns them into findings,
:mod:`.dns_records` decodes the record data.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time
from collections.abc import Sequence
from typing import Final

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import msgspec

from sztp_client.discovery.dns_records import MAX_RECORD_BYTES, MAX_SRV_RECORDS, MAX_TXT_RECORDS
from sztp_client.discovery.errors import DnsQueryError
from sztp_client.errors import SizeLimitError

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


class DnsBounds(msgspec.Struct, frozen=True):
    """How long to wait and how much to accept (every answer is size-bounded)."""

    timeout: float = DEFAULT_TIMEOUT
    max_answer_bytes: int = MAX_ANSWER_BYTES
    max_txt_records: int = MAX_TXT_RECORDS
    max_record_bytes: int = MAX_RECORD_BYTES
    max_srv_records: int = MAX_SRV_RECORDS


DEFAULT_BOUNDS: Final = DnsBounds()
"""The bounds a query or source has unless given others."""


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
    where = address_label(address, port)
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
    where = address_label(address, port) + " over TCP"
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
    bounds: DnsBounds = DEFAULT_BOUNDS,
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
    bounds: DnsBounds = DEFAULT_BOUNDS,
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
                where = address_label(str(sender[0]), int(sender[1]))
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


def answer_records(
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


def address_label(address: str, port: int) -> str:
    """A name server as messages and origins name it: the port only when not 53."""
    shown = f"[{address}]" if ":" in address else address
    return shown if port == DNS_PORT else f"{shown}:{port}"
