"""Hostile and broken DNS answers on loopback (R-110, every input size-bounded).

A name server of the tests' own on 127.0.0.1 answers each query with what the test scripts:
garbage, an answer to another query, an oversized datagram, a TCP length prefix over the
bound, a TCP connection closed mid-answer.  Each ends in a typed error (or the stray datagram
is passed over) and the sources record it without raising.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from sztp_client.discovery.dns_query import DnsBounds, query_unicast
from sztp_client.discovery.dns_sources import DnsSrvSource
from sztp_client.discovery.errors import DnsQueryError
from sztp_client.errors import SizeLimitError

NAME = "_sztp._tcp.example.com."

Reply = Callable[[dns.message.Message], list[bytes]]


def _srv_answer(query: dns.message.Message, *, truncated: bool = False) -> bytes:
    reply = dns.message.make_response(query)
    if truncated:
        reply.flags |= dns.flags.TC
    else:
        reply.answer.append(dns.rrset.from_text(NAME, 60, "IN", "SRV", "0 0 443 boot.example.com."))
    return reply.to_wire()


@dataclass
class Server:
    """UDP and TCP on one loopback port; ``udp`` and ``tcp`` say what to send back."""

    udp: Reply
    tcp: Callable[[dns.message.Message, socket.socket], None] | None = None
    port: int = 0
    threads: list[threading.Thread] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Callable[..., Server]]:
    sockets: list[socket.socket] = []

    def start(
        udp: Reply, tcp: Callable[[dns.message.Message, socket.socket], None] | None = None
    ) -> Server:
        srv = Server(udp, tcp)
        for _ in range(50):  # one port number free for both UDP and TCP
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", 0))
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.bind(("127.0.0.1", u.getsockname()[1]))
            except OSError:
                u.close()
                t.close()
                continue
            break
        else:
            pytest.fail("no loopback port free for both UDP and TCP")
        t.listen(4)
        sockets.extend([u, t])
        srv.port = u.getsockname()[1]

        def serve_udp() -> None:
            while True:
                try:
                    wire, sender = u.recvfrom(65535)
                except OSError:
                    return
                for datagram in srv.udp(dns.message.from_wire(wire)):
                    u.sendto(datagram, sender)

        def serve_tcp() -> None:
            while True:
                try:
                    conn, _ = t.accept()
                except OSError:
                    return
                with conn:
                    size = struct.unpack("!H", conn.recv(2))[0]
                    body = b""
                    while len(body) < size:
                        body += conn.recv(size - len(body))
                    if srv.tcp is not None:
                        srv.tcp(dns.message.from_wire(body), conn)

        for target in (serve_udp, serve_tcp):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            srv.threads.append(thread)
        return srv

    yield start
    for sock in sockets:
        sock.close()


BOUNDS = DnsBounds(timeout=2.0)


def test_stray_datagrams_passed_over_until_the_real_answer(server: Callable[..., Server]) -> None:
    """Garbage and an answer with another ID come first: both passed over, the matching answer
    counts."""

    def reply(query: dns.message.Message) -> list[bytes]:
        other = dns.message.make_query(NAME, "SRV")
        other.id = (query.id + 1) % 65536
        return [b"\x00garbage", _srv_answer(other), _srv_answer(query)]

    srv = server(reply)
    answer = query_unicast(NAME, dns.rdatatype.SRV, "127.0.0.1", port=srv.port, bounds=BOUNDS)
    assert answer.answer[0][0].target.to_text() == "boot.example.com."


def test_only_garbage_is_no_answer_in_time(server: Callable[..., Server]) -> None:
    srv = server(lambda query: [b"\xff" * 40])
    with pytest.raises(DnsQueryError, match=re.escape("no answer from 127.0.0.1")):
        query_unicast(
            NAME, dns.rdatatype.SRV, "127.0.0.1", port=srv.port, bounds=DnsBounds(timeout=0.5)
        )


def test_udp_answer_over_the_bound_refused(server: Callable[..., Server]) -> None:
    srv = server(lambda query: [_srv_answer(query) + b"\x00" * 3000])
    with pytest.raises(SizeLimitError, match="over the limit of 1000 bytes"):
        query_unicast(
            NAME,
            dns.rdatatype.SRV,
            "127.0.0.1",
            port=srv.port,
            bounds=DnsBounds(timeout=2.0, max_answer_bytes=1000),
        )


def test_tcp_length_prefix_over_the_bound_refused_before_the_body(
    server: Callable[..., Server],
) -> None:
    """R-110: the truncated UDP answer sends the client to TCP, where a length prefix of
    60000 over a bound of 2000 is refused without reading the body."""

    def tcp(query: dns.message.Message, conn: socket.socket) -> None:
        conn.sendall(struct.pack("!H", 60000) + b"\x00" * 100)

    srv = server(lambda query: [_srv_answer(query, truncated=True)], tcp)
    with pytest.raises(SizeLimitError, match="over TCP is 60000 bytes, over the limit of 2000"):
        query_unicast(
            NAME,
            dns.rdatatype.SRV,
            "127.0.0.1",
            port=srv.port,
            bounds=DnsBounds(timeout=2.0, max_answer_bytes=2000),
        )


def test_tcp_closed_mid_answer(server: Callable[..., Server]) -> None:
    def tcp(query: dns.message.Message, conn: socket.socket) -> None:
        conn.sendall(struct.pack("!H", 500) + _srv_answer(query)[:20])

    srv = server(lambda query: [_srv_answer(query, truncated=True)], tcp)
    with pytest.raises(DnsQueryError, match="closed the connection mid-answer"):
        query_unicast(NAME, dns.rdatatype.SRV, "127.0.0.1", port=srv.port, bounds=BOUNDS)


def test_tcp_answer_to_another_query_refused(server: Callable[..., Server]) -> None:
    def tcp(query: dns.message.Message, conn: socket.socket) -> None:
        other = dns.message.make_query(NAME, "SRV")
        other.id = (query.id + 1) % 65536
        data = _srv_answer(other)
        conn.sendall(struct.pack("!H", len(data)) + data)

    srv = server(lambda query: [_srv_answer(query, truncated=True)], tcp)
    with pytest.raises(DnsQueryError, match="does not match the query"):
        query_unicast(NAME, dns.rdatatype.SRV, "127.0.0.1", port=srv.port, bounds=BOUNDS)


def test_source_records_a_hostile_server_and_yields_nothing(
    server: Callable[..., Server],
) -> None:
    """The source never raises for what a server sent: the finding carries the error."""

    def tcp(query: dns.message.Message, conn: socket.socket) -> None:
        conn.sendall(struct.pack("!H", 65535))

    srv = server(lambda query: [_srv_answer(query, truncated=True)], tcp)
    source = DnsSrvSource(
        domains=("example.com",),
        nameservers=("127.0.0.1",),
        port=srv.port,
        bounds=DnsBounds(timeout=2.0, max_answer_bytes=4096),
    )
    assert source.fetch() == []
    [finding] = source.report
    assert finding.error is not None and "over the limit of 4096" in finding.error
    assert "over the limit of 4096" in source.summary
