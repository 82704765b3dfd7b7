"""The client's own DHCP query, for systems whose DHCP client drops the SZTP option
(R-096..R-098).

:class:`QuerySource` asks the DHCP server on each interface: DHCPv4 INFORM when the interface
has an address, DISCOVER otherwise (:func:`query_v4`); DHCPv6 Information-Request
(:func:`query_v6`).  Plain UDP sockets bound to the interface (SO_BINDTODEVICE), bounded waits;
an OFFER is never followed by a REQUEST, so no address is taken.  The packets are
:mod:`.dhcp_packets`'.
"""

from __future__ import annotations

import secrets
import select
import socket
import time
from collections.abc import Callable, Sequence
from typing import Final

from sztp_client.discovery.dhclient_leases import DhcpFamily
from sztp_client.discovery.dhcp_observations import (
    Observation,
    Recorder,
    chosen_interfaces,
    dedupe,
)
from sztp_client.discovery.dhcp_packets import (
    V4_ACK,
    V4_OFFER,
    build_v4_request,
    build_v6_request,
    parse_v4_reply,
    parse_v6_reply,
)
from sztp_client.discovery.interfaces import interface_ipv4, interface_mac
from sztp_client.errors import DataError
from sztp_client.protocol.session_events import ServerCandidate

_SO_BINDTODEVICE: Final = getattr(socket, "SO_BINDTODEVICE", 25)
_V6_ALL_SERVERS: Final = "ff02::1:2"


class QuerySource(Recorder):
    """Ask the DHCP server on each interface for the SZTP option (R-096..R-098).

    ``timeout`` bounds the wait on each interface (seconds); ``attempts`` how many times the
    request is sent within it.  ``interfaces`` ``None``: every up, non-loopback interface.
    """

    def __init__(
        self,
        family: DhcpFamily | str,
        interfaces: Sequence[str] | None = None,
        *,
        timeout: float = 3.0,
        attempts: int = 2,
    ) -> None:
        super().__init__(family)
        self.interfaces = tuple(interfaces) if interfaces else None
        self.timeout = timeout
        self.attempts = max(1, attempts)

    def detect(self) -> bool:
        return bool(chosen_interfaces(self.interfaces))

    def fetch(self) -> Sequence[ServerCandidate]:
        observations: list[Observation] = []
        candidates: list[ServerCandidate] = []
        for interface in chosen_interfaces(self.interfaces):
            if self.family is DhcpFamily.V4:
                origin, payload, error = query_v4(interface, self.timeout, self.attempts)
            else:
                origin, payload, error = query_v6(interface, self.timeout, self.attempts)
            if error is not None:
                observations.append(Observation(origin, interface, error=error))
                continue
            observation, found = self._observe_payload(origin, interface, payload)
            observations.append(observation)
            candidates.extend(found)
        self.observations = tuple(observations)
        return dedupe(candidates)


def query_v4(
    interface: str, timeout: float = 3.0, attempts: int = 2
) -> tuple[str, bytes | None, str | None]:
    """Send DHCPINFORM (when ``interface`` has an IPv4 address) or DHCPDISCOVER on it and wait
    up to ``timeout`` seconds for the ACK or OFFER.  Returns the origin, the option octets
    (``None``: the answer has no option) and an error text (``None`` when answered)."""
    try:
        mac = interface_mac(interface)
    except OSError as exc:
        return f"DHCPv4 query on {interface}", None, f"no hardware address: {exc.strerror}"
    ciaddr = interface_ipv4(interface)
    what = "DHCPINFORM" if ciaddr else "DHCPDISCOVER"
    origin = f"{what} on {interface}"
    expected = V4_ACK if ciaddr else V4_OFFER
    xid = secrets.token_bytes(4)
    request = build_v4_request(xid, mac, ciaddr)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        return origin, None, f"no UDP socket: {exc.strerror}"
    with sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, interface.encode() + b"\0")
            sock.bind(("", 68))
        except OSError as exc:
            return origin, None, f"cannot bind the DHCP client port: {exc.strerror}"

        def send() -> None:
            sock.sendto(request, ("255.255.255.255", 67))

        def accept(packet: bytes) -> bytes | bool | None:
            return parse_v4_reply(packet, xid, expected)

        return _exchange(sock, send, accept, origin=origin, timeout=timeout, attempts=attempts)


def query_v6(
    interface: str, timeout: float = 3.0, attempts: int = 2
) -> tuple[str, bytes | None, str | None]:
    """Send a DHCPv6 Information-Request on ``interface`` to All_DHCP_Relay_Agents_and_Servers
    and wait up to ``timeout`` seconds for the Reply (see :func:`query_v4` for the result)."""
    origin = f"DHCPv6 Information-Request on {interface}"
    try:
        mac = interface_mac(interface)
        index = socket.if_nametoindex(interface)
    except OSError as exc:
        return origin, None, f"no such interface: {exc.strerror or exc}"
    transaction = secrets.token_bytes(3)
    request = build_v6_request(transaction, mac)
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    except OSError as exc:
        return origin, None, f"no UDP socket: {exc.strerror}"
    with sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, interface.encode() + b"\0")
            sock.bind(("::", 546, 0, 0))
        except OSError as exc:
            return origin, None, f"cannot bind the DHCPv6 client port: {exc.strerror}"

        def send() -> None:
            sock.sendto(request, (_V6_ALL_SERVERS, 547, 0, index))

        def accept(packet: bytes) -> bytes | bool | None:
            return parse_v6_reply(packet, transaction)

        return _exchange(sock, send, accept, origin=origin, timeout=timeout, attempts=attempts)


def _exchange(
    sock: socket.socket,
    send: Callable[[], None],
    accept: Callable[[bytes], bytes | bool | None],
    *,
    origin: str,
    timeout: float,
    attempts: int,
) -> tuple[str, bytes | None, str | None]:
    deadline = time.monotonic() + timeout
    interval = timeout / attempts
    sent = 0
    next_send = time.monotonic()
    last_error = "no answer"
    while True:
        now = time.monotonic()
        if now >= deadline:
            return origin, None, f"{last_error} within {timeout:g} s"
        if sent < attempts and now >= next_send:
            try:
                send()
            except OSError as exc:
                last_error = f"sending failed ({exc.strerror})"
            sent += 1
            next_send = now + interval
        wait = min(deadline, next_send if sent < attempts else deadline) - time.monotonic()
        readable, _, _ = select.select([sock], [], [], max(0.0, wait))
        if not readable:
            continue
        try:
            packet = sock.recv(65536)
        except OSError:
            continue
        try:
            result = accept(packet)
        except DataError as exc:
            last_error = f"a malformed answer ({exc})"
            continue
        if result is False:
            continue
        assert result is not True
        return origin, result, None
