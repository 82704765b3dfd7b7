"""A small authoritative DNS server and multicast DNS responder for the discovery tests.

Run as ``python -m tests.helpers.dns_server ZONE.json`` inside a network namespace.  The zone
file is ``{"unicast": [RR, ...], "mdns": [RR, ...], "interface": "veth..."}`` where each RR is
``[name, type, rdata-text]`` (TXT rdata may instead be ``{"hex-strings": [hex, ...]}``, one
character-string per item, for binary values).  Unicast DNS is served on UDP and TCP port 53:
a UDP answer larger than the query's EDNS payload (512 without EDNS) is sent truncated, with
the TC bit and no records, so the client must ask again over TCP.  Multicast DNS is answered
on port 5353 (224.0.0.251 and ff02::fb on the interface) by unicast to the asker's address
and port (RFC 6762 §6.7, one-shot queries).

Each query is logged on stdout as ``query <transport> <name> <type>``; ``ready`` is printed
once every socket is bound, so the test synchronises on that line.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import threading
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

_LOCK = threading.Lock()


def _log(text: str) -> None:
    with _LOCK:
        print(text, flush=True)


def _rrsets(entries: list[Any]) -> dict[tuple[dns.name.Name, int], dns.rrset.RRset]:
    zone: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
    for name_text, type_text, data in entries:
        name = dns.name.from_text(name_text)
        rdtype = dns.rdatatype.from_text(type_text)
        if isinstance(data, dict):
            strings = [bytes.fromhex(part) for part in data["hex-strings"]]
            text = " ".join('"' + "".join(f"\\{b:03d}" for b in s) + '"' for s in strings)
        else:
            text = data
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)
        rrset = zone.setdefault((name, rdtype), dns.rrset.RRset(name, dns.rdataclass.IN, rdtype))
        rrset.add(rdata, ttl=120)
    return zone


def _answer(
    zone: dict[tuple[dns.name.Name, int], dns.rrset.RRset], wire: bytes, transport: str
) -> dns.message.Message | None:
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None
    if not query.question:
        return None
    question = query.question[0]
    _log(f"query {transport} {question.name.to_text()} {dns.rdatatype.to_text(question.rdtype)}")
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.AA
    rrset = zone.get((question.name, question.rdtype))
    if rrset is not None:
        reply.answer.append(rrset)
    elif not any(name == question.name for name, _ in zone):
        reply.set_rcode(dns.rcode.NXDOMAIN)
    return reply


def _serve_udp(sock: socket.socket, zone: Any, transport: str) -> None:
    while True:
        wire, sender = sock.recvfrom(65535)
        reply = _answer(zone, wire, transport)
        if reply is None:
            continue
        limit = reply.request_payload if reply.request_payload >= 512 else 512
        if transport.startswith("mdns"):
            limit = 9000
        data = reply.to_wire(max_size=65535)
        if len(data) > limit:
            reply.answer.clear()
            reply.flags |= dns.flags.TC
            data = reply.to_wire(max_size=65535)
        sock.sendto(data, sender)


def _serve_tcp(listener: socket.socket, zone: Any) -> None:
    while True:
        conn, _ = listener.accept()
        with conn:
            head = _recv(conn, 2)
            if head is None:
                continue
            body = _recv(conn, struct.unpack("!H", head)[0])
            reply = None if body is None else _answer(zone, body, "tcp")
            if reply is not None:
                data = reply.to_wire(max_size=65535)
                conn.sendall(struct.pack("!H", len(data)) + data)


def _recv(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    unicast = _rrsets(config.get("unicast", []))
    mdns = _rrsets(config.get("mdns", []))
    threads: list[threading.Thread] = []

    def start(target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        threads.append(thread)

    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        udp.bind((address, 53))
        start(_serve_udp, udp, unicast, "udp")
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        tcp.bind((address, 53))
        tcp.listen(8)
        start(_serve_tcp, tcp, unicast)

    interface = config["interface"]
    index = socket.if_nametoindex(interface)
    m4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    m4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    m4.bind(("0.0.0.0", 5353))
    m4.setsockopt(
        socket.IPPROTO_IP,
        socket.IP_ADD_MEMBERSHIP,
        socket.inet_aton("224.0.0.251") + socket.inet_aton(config["ipv4"]),
    )
    start(_serve_udp, m4, mdns, "mdns4")
    m6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    m6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    m6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    m6.bind(("::", 5353))
    m6.setsockopt(
        socket.IPPROTO_IPV6,
        socket.IPV6_JOIN_GROUP,
        socket.inet_pton(socket.AF_INET6, "ff02::fb") + struct.pack("@I", index),
    )
    start(_serve_udp, m6, mdns, "mdns6")
    _log("ready")
    # live until the test closes our stdin
    select.select([sys.stdin], [], [])


if __name__ == "__main__":
    main()
