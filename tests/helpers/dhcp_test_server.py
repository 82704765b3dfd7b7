"""A small DHCPv4 server for the tests: answers DISCOVER with an OFFER and INFORM with an ACK,
carrying option 143 as the instances it is told to send (so that an option over 255 octets is
split as RFC 3396 says, which dnsmasq refuses to do), optionally with the overload option
moving the last instance into the ``file`` field.

Run inside the server's network namespace:
``python dhcp_test_server.py IFACE CONFIG.json`` where the JSON holds ``instances`` (hex
strings, one per instance of option 143, in order), ``overload`` (bool) and ``raw`` (a hex
options area sent verbatim instead, for malformed packets).  Prints ``ready`` once bound;
serves until killed.
"""

from __future__ import annotations

import json
import socket
import struct
import sys

MAGIC = b"\x63\x82\x53\x63"


def reply(request: bytes, config: dict[str, object]) -> bytes | None:
    if len(request) < 240 or request[0] != 1 or request[236:240] != MAGIC:
        return None
    kind = None
    offset = 240
    while offset < len(request) and request[offset] != 255:
        if request[offset] == 0:
            offset += 1
            continue
        code, length = request[offset], request[offset + 1]
        if code == 53:
            kind = request[offset + 2]
        offset += 2 + length
    answer = {1: 2, 8: 5}.get(kind or 0)
    if answer is None:
        return None
    xid, chaddr = request[4:8], request[28:44]
    yiaddr = bytes([192, 0, 2, 77]) if answer == 2 else bytes(4)
    file_field = b""
    options = bytes([53, 1, answer, 54, 4, 192, 0, 2, 1, 1, 4, 255, 255, 255, 0])
    raw = config.get("raw")
    if isinstance(raw, str):
        options += bytes.fromhex(raw)
    else:
        instances = [bytes.fromhex(str(value)) for value in config.get("instances", [])]  # type: ignore[attr-defined]
        if config.get("overload") and len(instances) > 1:
            last = instances.pop()
            options += bytes([52, 1, 1])
            file_field = bytes([143, len(last)]) + last + b"\xff"
        for instance in instances:
            options += bytes([143, len(instance)]) + instance
    options += b"\xff"
    header = struct.pack(
        "!BBBB4sHH4s4s4s4s16s64s128s",
        2, 1, 6, 0, xid, 0, 0x8000, request[12:16], yiaddr, bytes([192, 0, 2, 1]), bytes(4),
        chaddr, b"", file_field,
    )  # fmt: skip
    return header + MAGIC + options


def main() -> None:
    interface, config_path = sys.argv[1], sys.argv[2]
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, 25, interface.encode() + b"\0")  # SO_BINDTODEVICE
    sock.bind(("", 67))
    print("ready", flush=True)
    while True:
        request, _peer = sock.recvfrom(4096)
        answer = reply(request, config)
        if answer is not None:
            sock.sendto(answer, ("255.255.255.255", 68))
            print("answered", flush=True)


if __name__ == "__main__":
    main()
