"""YANG types on the wire: ``binary`` (base64, D13), ``yang:hex-string`` (D13) and
``yang:date-and-time`` (RFC 3339).  :func:`format_datetime` is the one formatter of the times
the client writes (status document, device state, installed images).  Pure, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from typing import Final, Literal

from sztp_client.errors import ModelError

# ---------------------------------------------------------------------------------------------
# binary (base64)

# patterns are kept as text: re compiles each on first use and caches it, not at import
_BASE64_WHITESPACE: Final = str.maketrans("", "", " \t\r\n")
_BASE64_BODY: Final = r"[A-Za-z0-9+/]*"
_BASE64_BAD_CHARACTER: Final = r"[^A-Za-z0-9+/]"


def decode_base64(text: str, field: str) -> bytes:
    """Decode a YANG ``binary`` value (D13, R-055).

    The standard alphabet only (RFC 4648 §4); spaces, tabs and line breaks anywhere are removed;
    padding is optional but, when given, must be right.  Anything else raises
    :class:`ModelError` naming ``field``.
    """
    compact = text.translate(_BASE64_WHITESPACE)
    body = compact.rstrip("=")
    padding = len(compact) - len(body)
    if not re.fullmatch(_BASE64_BODY, body):
        bad = re.search(_BASE64_BAD_CHARACTER, body)
        offset = bad.start() if bad else 0
        character = body[offset]
        described = repr(character) if character.isprintable() else f"U+{ord(character):04X}"
        raise ModelError(
            field,
            f"not base64: character {described} at offset {offset} is not in the standard "
            "base64 alphabet",
        )
    remainder = len(body) % 4
    if remainder == 1:
        raise ModelError(field, "not base64: the length does not fit whole octets")
    if padding > 2 or (padding and (remainder == 0 or remainder + padding != 4)):
        raise ModelError(field, "not base64: wrong number of '=' padding characters")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error as exc:  # pragma: no cover - the checks above make this unreachable
        raise ModelError(field, f"not base64: {exc}") from exc


def encode_base64(data: bytes) -> str:
    """Encode ``data`` as a YANG ``binary`` value: standard base64 with padding, one line."""
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------------------------------
# yang:hex-string

_HEX_COLONS: Final = r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*"
_HEX_PLAIN: Final = r"(?:[0-9A-Fa-f]{2})+"


def decode_hex_string(text: str, field: str) -> bytes:
    """Decode a ``yang:hex-string``: octets as two hex digits, any case (D13).

    Colon-separated (``ba:ec:cf``, the YANG form) and unseparated (``baeccf``) are both accepted;
    a mix, an odd number of digits or an empty value raises :class:`ModelError`.
    """
    if not text:
        raise ModelError(field, "empty; a hex string of at least one octet is required")
    if re.fullmatch(_HEX_COLONS, text):
        return bytes.fromhex(text.replace(":", ""))
    if re.fullmatch(_HEX_PLAIN, text):
        return bytes.fromhex(text)
    raise ModelError(
        field,
        "not a hex string: expected pairs of hex digits, either all separated by ':' or none",
    )


# ---------------------------------------------------------------------------------------------
# yang:date-and-time

_DATE_AND_TIME: Final = (
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>Z|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)


def parse_datetime(text: str, field: str) -> datetime.datetime:
    """Parse a ``yang:date-and-time`` (RFC 3339 profile of RFC 6991).

    ``Z`` or a ``±hh:mm`` offset is required; ``-00:00`` (UTC, local offset unknown) is read as
    UTC.  Fractional seconds beyond microseconds are truncated.  A leap second (``:60``) is read
    as the first instant of the next minute.  The result is always in UTC.
    """
    match = re.fullmatch(_DATE_AND_TIME, text)
    if match is None:
        raise ModelError(
            field,
            "not a date-and-time: expected YYYY-MM-DDThh:mm:ss[.fraction] followed by Z or "
            "an offset like +01:00",
        )
    second = int(match["second"])
    leap = second == 60
    if leap and int(match["minute"]) != 59:
        raise ModelError(field, "not a date-and-time: second 60 only exists at minute 59")
    microsecond = int((match["fraction"] or "")[:6].ljust(6, "0"))
    offset = datetime.timedelta()
    if match["sign"] is not None:
        offset_hour = int(match["offset_hour"])
        offset_minute = int(match["offset_minute"])
        if offset_hour > 23 or offset_minute > 59:
            raise ModelError(field, "not a date-and-time: time zone offset out of range")
        offset = datetime.timedelta(hours=offset_hour, minutes=offset_minute)
        if match["sign"] == "-":
            offset = -offset
    try:
        value = datetime.datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            59 if leap else second,
            microsecond,
            tzinfo=datetime.timezone(offset),
        )
        if leap:
            value += datetime.timedelta(seconds=1)
        return value.astimezone(datetime.UTC)
    except (ValueError, OverflowError) as exc:
        raise ModelError(field, f"not a date-and-time: {exc}") from exc


def format_datetime(
    dt: datetime.datetime, precision: Literal["auto", "seconds", "microseconds"] = "auto"
) -> str:
    """Format an aware datetime as RFC 3339 in UTC with ``Z``: the one formatter of times.

    ``precision``: "auto" writes the fraction only when non-zero (shortest form); "seconds"
    drops it; "microseconds" always writes six digits (the status document's timestamps).  A
    naive datetime is a programming error and raises :class:`ValueError`.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("format_datetime needs a timezone-aware datetime")
    utc = dt.astimezone(datetime.UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if precision == "microseconds":
        text += f".{utc.microsecond:06d}"
    elif precision == "auto" and utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"
