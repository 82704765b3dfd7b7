"""The SZTP redirect options of DHCPv4 (143) and DHCPv6 (136) (RFC 8572 §8; R-097..R-101, D9).

Both options carry the same ``bootstrap-server-list``: a sequence of entries, each a 2-octet
``uri-length`` in network order followed by that many octets of URI (§8.3).  Each URI must be
``https://<ip-address-or-hostname>[:<port>]`` (R-099); as D9 decides, a path that is the
RESTCONF root or the get-bootstrapping-data operation is accepted too.  The grammar is
:func:`sztp_client.model.server_uri.parse_server_uri`'s, so that a URI from DHCP is read
exactly as a configured or redirected one.

R-100: an invalid entry is ignored, and an option with no valid entry is discarded.  An entry
whose length runs past the end of the option is invalid, and since nothing after it can be
framed, decoding stops there.  :func:`decode_bootstrap_server_list` never raises for the
option's content: it returns the accepted servers in order together with the reason each
ignored entry was ignored (for the status record); :meth:`BootstrapServerList.require_usable`
turns a discarded option into a :class:`NothingUsableError` for a caller that wants one.

R-101: a DHCPv4 option longer than 255 octets is sent as several instances of option 143,
which the client concatenates in order before decoding (RFC 3396), so a URI may straddle two
instances.  :func:`v4_option_instances` finds the instances in a DHCPv4 options area (and in
the ``file`` and ``sname`` fields when option overload is used), :func:`decode_v4` joins and
decodes them.

DHCP clients hand the option over in their own notations: ISC dhclient writes colon-separated
hex without leading zeros (``0:19:68:74:...``) or, when every octet is printable, a quoted string
with backslash escapes, into its lease file and its hook's environment
(:func:`from_dhclient_value`); busybox udhcpc gives its script ``opt143`` as plain hex
(:func:`from_udhcpc_hex`).

Written here rather than taken from a library: the option is a dozen lines of framing, DHCP
libraries either do not know option 143/136 or hand it over as opaque bytes, and what matters
is the exact error behaviour R-100 asks for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import msgspec

from sztp_client.discovery.errors import DhcpOptionError, NothingUsableError
from sztp_client.errors import ModelError, SizeLimitError
from sztp_client.model.server_uri import ServerEndpoint, parse_server_uri

OPTION_V4_SZTP_REDIRECT: Final = 143
OPTION_V6_SZTP_REDIRECT: Final = 136

MAX_LIST_BYTES: Final = 65535
"""Default bound of one bootstrap-server-list: the largest DHCPv6 option (2-octet length)."""
MAX_ENTRIES: Final = 64
"""Default bound of the entries decoded from one list; the rest are ignored with one reason."""

_SHOWN: Final = 120  # characters of a refused URI kept in a reason
_V4_PAD: Final = 0
_V4_END: Final = 255
_COLON_HEX: Final = re.compile(r"[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2})*")
_PLAIN_HEX: Final = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_OCTAL: Final = re.compile(r"[0-7]{1,3}")
_HEX_ESCAPE: Final = re.compile(r"[0-9A-Fa-f]{1,2}")
_NAMED_ESCAPES: Final = {"t": 9, "r": 13, "n": 10, "b": 8}


class IgnoredEntry(msgspec.Struct, frozen=True):
    """One entry of a bootstrap-server-list that was not used, and why (R-100).

    ``index`` counts entries from 0, ``offset`` is where the entry's length field starts in the
    (concatenated) list; ``uri`` is the entry's text when it could be decoded, shortened.
    """

    index: int
    offset: int
    reason: str
    uri: str | None = None

    def __str__(self) -> str:
        shown = f" {self.uri!r}" if self.uri is not None else ""
        return f"entry {self.index} (octet {self.offset}){shown}: {self.reason}"


class BootstrapServerList(msgspec.Struct, frozen=True):
    """A decoded bootstrap-server-list: the accepted URIs in the option's order, their parsed
    endpoints, and the entries that were ignored.  No accepted URI means the option is
    discarded (R-100)."""

    uris: tuple[str, ...]
    endpoints: tuple[ServerEndpoint, ...]
    ignored: tuple[IgnoredEntry, ...]

    @property
    def discarded(self) -> bool:
        """True when no entry is valid: the option must be treated as absent (R-100)."""
        return not self.uris

    @property
    def reasons(self) -> tuple[str, ...]:
        """One line per ignored entry, for the status record."""
        return tuple(str(entry) for entry in self.ignored)

    def require_usable(self, what: str = "the SZTP redirect option") -> BootstrapServerList:
        """Return ``self``, or raise :class:`NothingUsableError` when the option is discarded."""
        if self.discarded:
            reasons = self.reasons or ("the bootstrap-server-list is empty",)
            raise NothingUsableError(f"{what} holds no valid bootstrap server URI", reasons)
        return self


def decode_bootstrap_server_list(
    data: bytes, *, max_bytes: int = MAX_LIST_BYTES, max_entries: int = MAX_ENTRIES
) -> BootstrapServerList:
    """Decode a ``bootstrap-server-list`` (RFC 8572 §8.3; R-099, R-100, D9).

    Entries are read in order; each invalid one is recorded in ``ignored`` with its reason:
    a length field cut short, a ``uri-length`` overrunning the option (decoding stops: nothing
    after it can be framed), an empty URI, octets that are not ASCII, or a URI
    :func:`~sztp_client.model.server_uri.parse_server_uri` refuses.  After ``max_entries``
    entries the rest are ignored with one reason.  A list over ``max_bytes`` raises
    :class:`~sztp_client.errors.SizeLimitError` before anything is decoded.
    """
    if len(data) > max_bytes:
        raise SizeLimitError("the bootstrap-server-list", len(data), max_bytes)
    uris: list[str] = []
    endpoints: list[ServerEndpoint] = []
    ignored: list[IgnoredEntry] = []
    offset = 0
    index = 0
    while offset < len(data):
        if index >= max_entries:
            ignored.append(
                IgnoredEntry(index, offset, f"over the limit of {max_entries} entries: not read")
            )
            break
        if len(data) - offset < 2:
            ignored.append(IgnoredEntry(index, offset, "the uri-length field is cut short"))
            break
        length = int.from_bytes(data[offset : offset + 2], "big")
        start, end = offset + 2, offset + 2 + length
        if end > len(data):
            ignored.append(
                IgnoredEntry(
                    index,
                    offset,
                    f"uri-length {length} overruns the option ({len(data) - start} octets left)",
                )
            )
            break
        uri, checked = _check_entry(data[start:end])
        if isinstance(checked, ServerEndpoint):
            uris.append(uri)
            endpoints.append(checked)
        else:
            ignored.append(IgnoredEntry(index, offset, checked, _shorten(uri) if uri else None))
        offset = end
        index += 1
    return BootstrapServerList(tuple(uris), tuple(endpoints), tuple(ignored))


def _check_entry(raw: bytes) -> tuple[str, ServerEndpoint | str]:
    """The entry's text and its endpoint, or what text there is and why it is invalid."""
    if not raw:
        return "", "the URI is empty"
    try:
        uri = raw.decode("ascii")
    except UnicodeDecodeError:
        return raw.decode("ascii", "backslashreplace"), "the URI has octets that are not ASCII"
    try:
        return uri, parse_server_uri(uri)
    except ModelError as exc:
        # the reason follows the quoted URI; a reason never holds ": " (the URI may, with spaces)
        return uri, exc.reason.rpartition(": ")[2] or exc.reason


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def concatenate_v4_instances(
    instances: Sequence[bytes], *, max_bytes: int = MAX_LIST_BYTES
) -> bytes:
    """Join the instances of a DHCPv4 option in the order they appeared (RFC 3396 §6, R-101).

    Raises :class:`~sztp_client.errors.SizeLimitError` when the joined value would exceed
    ``max_bytes``, or :class:`DhcpOptionError` for an instance longer than a DHCPv4 option can
    be (255 octets).
    """
    total = 0
    for number, instance in enumerate(instances):
        if len(instance) > 255:
            raise DhcpOptionError(
                f"instance {number} of the DHCPv4 option is {len(instance)} octets long; "
                "a DHCPv4 option holds at most 255"
            )
        total += len(instance)
        if total > max_bytes:
            raise SizeLimitError("the concatenated DHCPv4 option", total, max_bytes)
    return b"".join(instances)


def decode_v4(
    instances: Sequence[bytes] | bytes,
    *,
    max_bytes: int = MAX_LIST_BYTES,
    max_entries: int = MAX_ENTRIES,
) -> BootstrapServerList:
    """Decode DHCPv4 option 143 from its instances, concatenated first (R-097, R-101).

    ``instances`` is the payload of each instance in the order received, or one ``bytes``
    value that is already the whole list (as a lease file holds it).
    """
    joined = (
        instances
        if isinstance(instances, bytes)
        else concatenate_v4_instances(instances, max_bytes=max_bytes)
    )
    return decode_bootstrap_server_list(joined, max_bytes=max_bytes, max_entries=max_entries)


def decode_v6(
    payload: bytes, *, max_bytes: int = MAX_LIST_BYTES, max_entries: int = MAX_ENTRIES
) -> BootstrapServerList:
    """Decode the payload of DHCPv6 option 136 (R-098); DHCPv6 has no concatenation."""
    return decode_bootstrap_server_list(payload, max_bytes=max_bytes, max_entries=max_entries)


def v4_option_instances(*areas: bytes, code: int = OPTION_V4_SZTP_REDIRECT) -> tuple[bytes, ...]:
    """The payloads of every instance of DHCPv4 option ``code``, in order (RFC 2132, RFC 3396).

    Each area is a sequence of options: code 0 is a one-octet pad, code 255 ends the area,
    every other option is code, length, value.  Pass the options field first and then, when
    option 52 (overload) says so, the ``file`` and ``sname`` fields: RFC 3396 §6 concatenates in
    that order.  An option running past the end of its area raises :class:`DhcpOptionError`.
    """
    found: list[bytes] = []
    for number, area in enumerate(areas):
        offset = 0
        while offset < len(area):
            option = area[offset]
            if option == _V4_PAD:
                offset += 1
                continue
            if option == _V4_END:
                break
            if offset + 1 >= len(area):
                raise DhcpOptionError(f"DHCPv4 option {option} in area {number} has no length")
            length = area[offset + 1]
            end = offset + 2 + length
            if end > len(area):
                raise DhcpOptionError(
                    f"DHCPv4 option {option} in area {number} overruns the area "
                    f"(length {length}, {len(area) - offset - 2} octets left)"
                )
            if option == code:
                found.append(area[offset + 2 : end])
            offset = end
    return tuple(found)


def v6_option_instances(options: bytes, code: int = OPTION_V6_SZTP_REDIRECT) -> tuple[bytes, ...]:
    """The payloads of every top-level DHCPv6 option ``code`` in ``options`` (RFC 8415 §21.1:
    2-octet code, 2-octet length).  An option overrunning the buffer raises
    :class:`DhcpOptionError`."""
    found: list[bytes] = []
    offset = 0
    while offset < len(options):
        if len(options) - offset < 4:
            raise DhcpOptionError("a DHCPv6 option header is cut short")
        option = int.from_bytes(options[offset : offset + 2], "big")
        length = int.from_bytes(options[offset + 2 : offset + 4], "big")
        end = offset + 4 + length
        if end > len(options):
            raise DhcpOptionError(
                f"DHCPv6 option {option} overruns the message "
                f"(length {length}, {len(options) - offset - 4} octets left)"
            )
        if option == code:
            found.append(options[offset + 4 : end])
        offset = end
    return tuple(found)


def from_dhclient_value(text: str, *, max_bytes: int = MAX_LIST_BYTES) -> bytes:
    """The option octets from ISC dhclient's notation of a ``string`` option.

    dhclient writes such a value (in its lease file, and in ``new_<name>`` for its hook
    scripts) as colon-separated hex octets without leading zeros, ``0:19:68:74``, unless every
    octet is printable: then as a string with backslash escapes, quoted in the lease file and
    bare in the hook environment.  A value that is entirely colon-separated hex is read as hex;
    a quoted one, or any other, as an escaped string (``\\ooo`` octal, ``\\xHH`` hex, ``\\t``
    ``\\r`` ``\\n`` ``\\b``, a backslash before any other character stands for that character).
    Octets outside 0-255 and over-long values raise :class:`DhcpOptionError` or
    :class:`~sztp_client.errors.SizeLimitError`.
    """
    if len(text) > 4 * max_bytes + 2:
        raise SizeLimitError("the dhclient option value", len(text), 4 * max_bytes + 2)
    value = text.strip()
    if _COLON_HEX.fullmatch(value):
        octets = from_dhclient_hex(value)
    else:
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        elif value.startswith('"'):
            raise DhcpOptionError("the dhclient option value has an unterminated quoted string")
        octets = unescape_dhclient_string(value)
    if len(octets) > max_bytes:
        raise SizeLimitError("the dhclient option value", len(octets), max_bytes)
    return octets


def from_dhclient_hex(text: str) -> bytes:
    """The octets of dhclient's colon-hex notation (``0:19:68``: one or two hex digits an
    octet); anything else raises :class:`DhcpOptionError`."""
    if not _COLON_HEX.fullmatch(text):
        raise DhcpOptionError("expected colon-separated hex octets such as 0:19:68:74")
    return bytes(int(part, 16) for part in text.split(":"))


def unescape_dhclient_string(text: str) -> bytes:
    """The octets of a dhclient string body (without its quotes), escapes resolved as ISC
    dhclient's own lease-file reader resolves them.  A character above U+00FF, or a trailing
    lone backslash, raises :class:`DhcpOptionError`."""
    out = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        if char != "\\":
            out.append(_octet(char))
            continue
        if index >= len(text):
            raise DhcpOptionError("the dhclient string ends with a lone backslash")
        escaped = text[index]
        if escaped in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[escaped])
            index += 1
        elif octal := _OCTAL.match(text, index):
            number = int(octal.group(), 8)
            if number > 255:
                raise DhcpOptionError(f"the escape \\{octal.group()} is not an octet")
            out.append(number)
            index = octal.end()
        elif escaped == "x" and (hexadecimal := _HEX_ESCAPE.match(text, index + 1)):
            out.append(int(hexadecimal.group(), 16))
            index = hexadecimal.end()
        else:
            out.append(_octet(escaped))
            index += 1
    return bytes(out)


def _octet(char: str) -> int:
    code = ord(char)
    if code > 255:
        raise DhcpOptionError(f"the dhclient string holds {char!r}, which is not an octet")
    return code


def from_udhcpc_hex(text: str, *, max_bytes: int = MAX_LIST_BYTES) -> bytes:
    """The option octets from busybox udhcpc's ``opt143`` (or ``opt136``) variable: plain hex,
    two digits an octet, no separators.  Anything else raises :class:`DhcpOptionError`."""
    value = text.strip()
    if len(value) > 2 * max_bytes:
        raise SizeLimitError("the udhcpc option value", len(value) // 2, max_bytes)
    if not _PLAIN_HEX.fullmatch(value):
        raise DhcpOptionError("the udhcpc option value is not an even number of hex digits")
    return bytes.fromhex(value)
