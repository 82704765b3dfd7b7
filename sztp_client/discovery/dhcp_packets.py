"""The packets of the client's own DHCP query: requests built, replies read (R-096..R-098).

DHCPv4 INFORM or DISCOVER with the SZTP option 143 in the parameter request list, DHCPv6
Information-Request with option 136 in the option request option; a reply is read only as far
as the SZTP option (RFC 3396's split instances joined, option overload honoured).  Pure: the
sockets are :mod:`.dhcp_query`'s.
"""

from __future__ import annotations

import struct
from typing import Final

from sztp_client.discovery.dhcp_option import (
    OPTION_V4_SZTP_REDIRECT,
    OPTION_V6_SZTP_REDIRECT,
    v4_option_instances,
    v6_option_instances,
)

_DHCP_MAGIC: Final = b"\x63\x82\x53\x63"
#: DHCPv4 message types (RFC 2132 option 53)
V4_DISCOVER, V4_OFFER, V4_ACK, V4_INFORM = 1, 2, 5, 8
#: DHCPv6 message types (RFC 8415)
V6_INFORMATION_REQUEST, V6_REPLY = 11, 7


def build_v4_request(
    xid: bytes, mac: bytes, ciaddr: bytes | None, *, code: int = OPTION_V4_SZTP_REDIRECT
) -> bytes:
    """A DHCPINFORM (``ciaddr`` given) or DHCPDISCOVER with the broadcast flag, requesting the
    SZTP option, the DNS domains (15, 119) and the usual network parameters."""
    kind = V4_INFORM if ciaddr else V4_DISCOVER
    header = struct.pack(
        "!BBBB4sHH4s4s4s4s16s64s128s",
        1, 1, 6, 0, xid, 0, 0x8000,
        ciaddr or bytes(4), bytes(4), bytes(4), bytes(4),
        mac.ljust(16, b"\0"), b"", b"",
    )  # fmt: skip
    requested = bytes([1, 3, 6, 15, 119, code])
    options = (
        bytes([53, 1, kind])
        + bytes([55, len(requested)])
        + requested
        + bytes([57, 2])
        + (1500).to_bytes(2, "big")
        + bytes([61, 7, 1])
        + mac
        + b"\xff"
    )
    return header + _DHCP_MAGIC + options


def parse_v4_reply(
    packet: bytes, xid: bytes, expected: int, *, code: int = OPTION_V4_SZTP_REDIRECT
) -> bytes | bool | None:
    """``False`` when ``packet`` is not the answer awaited; otherwise the joined SZTP option
    instances (RFC 3396; ``None`` when absent).  Raises DataError for a malformed answer."""
    if len(packet) < 240 or packet[0] != 2 or packet[4:8] != xid or packet[236:240] != _DHCP_MAGIC:
        return False
    options, file_field, sname = packet[240:], packet[108:236], packet[44:108]
    types = v4_option_instances(options, code=53)
    if not types or types[0] != bytes([expected]):
        return False
    overload = v4_option_instances(options, code=52)
    areas = [options]
    if overload and overload[0] and overload[0][0] in (1, 3):
        areas.append(file_field)
    if overload and overload[0] and overload[0][0] in (2, 3):
        areas.append(sname)
    instances = v4_option_instances(*areas, code=code)
    if not instances:
        return None
    return b"".join(instances)


def build_v6_request(
    transaction: bytes, mac: bytes, *, code: int = OPTION_V6_SZTP_REDIRECT
) -> bytes:
    """A DHCPv6 Information-Request with a DUID-LL client identifier, the elapsed time and an
    option request option naming the SZTP option and the DNS options (23, 24)."""

    def option(number: int, value: bytes) -> bytes:
        return struct.pack("!HH", number, len(value)) + value

    duid = struct.pack("!HH", 3, 1) + mac
    oro = struct.pack("!HHH", code, 23, 24)
    return (
        bytes([V6_INFORMATION_REQUEST])
        + transaction
        + option(1, duid)
        + option(6, oro)
        + option(8, b"\0\0")
    )


def parse_v6_reply(
    packet: bytes, transaction: bytes, *, code: int = OPTION_V6_SZTP_REDIRECT
) -> bytes | bool | None:
    """Like :func:`parse_v4_reply` for a DHCPv6 Reply; several instances are joined."""
    if len(packet) < 4 or packet[0] != V6_REPLY or packet[1:4] != transaction:
        return False
    instances = v6_option_instances(packet[4:], code=code)
    if not instances:
        return None
    return b"".join(instances)
