"""Bootstrap-server URIs (R-099, D9): :func:`parse_server_uri` reads one into a
:class:`ServerEndpoint` (host, port, RESTCONF root).  Pure: the grammar only; resolving the host
is the transport's (:func:`sztp_client.transport.http.resolve`).  Discovery sources (DHCP, DNS)
and the configuration read URIs with the same function, so a URI from any source is read alike.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

import msgspec

from sztp_client.errors import ModelError
from sztp_client.model.rpc import MODULE

__all__ = [
    "DEFAULT_PORT",
    "GET_BOOTSTRAPPING_DATA",
    "REPORT_PROGRESS",
    "ServerEndpoint",
    "is_ip_literal",
    "parse_server_uri",
]

URI_FIELD: Final = "bootstrap-server-uri"
DEFAULT_PORT: Final = 443
GET_BOOTSTRAPPING_DATA: Final = f"{MODULE}:get-bootstrapping-data"
REPORT_PROGRESS: Final = f"{MODULE}:report-progress"
_OPERATIONS: Final = "/operations/"
_GBD_SUFFIX: Final = f"{_OPERATIONS}{GET_BOOTSTRAPPING_DATA}"

# patterns are kept as text: re compiles each on first use and caches it, not at import
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME: Final = rf"{_LABEL}(?:\.{_LABEL})*\.?"
_DIGITS: Final = r"[0-9]+"
#: a URI path: RFC 3986 pchar plus "/": unreserved, percent-encoded octets, sub-delims, ":" and "@"
URI_PATH: Final = r"(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)*"


class ServerEndpoint(msgspec.Struct, frozen=True):
    """A bootstrap server: host name or IP literal (IPv6 without brackets), port and, when the
    URI gave one, the RESTCONF root path (``None``: discover it through host-meta)."""

    host: str
    port: int = DEFAULT_PORT
    root: str | None = None

    @property
    def is_ip_literal(self) -> bool:
        return is_ip_literal(self.host)

    @property
    def authority(self) -> str:
        """``host[:port]`` as in a URI and the ``Host`` header; IPv6 in brackets, 443 left out."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORT else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"https://{self.authority}{self.root or ''}"


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _bad_uri(uri: str, reason: str) -> ModelError:
    shown = uri if len(uri) <= 200 else uri[:197] + "..."
    return ModelError(URI_FIELD, f"{shown!r}: {reason}")


def _parse_authority(uri: str, authority: str) -> tuple[str, int]:
    if "@" in authority:
        raise _bad_uri(uri, "user information is not allowed")
    if authority.startswith("["):
        closing = authority.find("]")
        if closing < 0:
            raise _bad_uri(uri, "unterminated IPv6 literal")
        host_text, rest = authority[1:closing], authority[closing + 1 :]
        try:
            host = str(ipaddress.IPv6Address(host_text))
        except ValueError:
            raise _bad_uri(uri, "not a valid IPv6 address in brackets") from None
        if rest and not rest.startswith(":"):
            raise _bad_uri(uri, "unexpected characters after the IPv6 literal")
        port_text = rest[1:] if rest else None
    else:
        host_text, colon, port_text_or_empty = authority.partition(":")
        port_text = port_text_or_empty if colon else None
        if ":" in port_text_or_empty:
            raise _bad_uri(uri, "an IPv6 address must be written in brackets")
        if not host_text:
            raise _bad_uri(uri, "the host is empty")
        if all(re.fullmatch(_DIGITS, part) for part in host_text.rstrip(".").split(".")):
            try:
                host = str(ipaddress.IPv4Address(host_text))
            except ValueError:
                raise _bad_uri(uri, "not a valid IPv4 address") from None
        elif len(host_text) <= 254 and re.fullmatch(_HOST_NAME, host_text):
            host = host_text.rstrip(".").lower()
        else:
            raise _bad_uri(uri, "the host is not a valid host name or IP address")
    port = DEFAULT_PORT
    if port_text is not None:
        if not re.fullmatch(_DIGITS, port_text) or not 0 < int(port_text) < 65536:
            raise _bad_uri(uri, "the port must be a number from 1 to 65535")
        port = int(port_text)
    return host, port


def _root_of_path(uri: str, path: str) -> str | None:
    if path in ("", "/"):
        return None
    if not re.fullmatch(URI_PATH, path):
        raise _bad_uri(uri, "the path has characters that must be percent-encoded")
    segments = path.split("/")[1:]
    if any(segment in ("", ".", "..") for segment in segments[:-1]) or segments[-1] in (".", ".."):
        raise _bad_uri(uri, "the path has empty, '.' or '..' segments")
    path = path.rstrip("/")
    root = path[: -len(_GBD_SUFFIX)] if path.endswith(_GBD_SUFFIX) else path
    if _OPERATIONS in f"{root}/":
        raise _bad_uri(
            uri,
            "the path must be the RESTCONF root or the get-bootstrapping-data operation "
            f"(.../operations/{GET_BOOTSTRAPPING_DATA})",
        )
    return root


def parse_server_uri(uri: str) -> ServerEndpoint:
    """Read a bootstrap-server URI (R-099, D9).

    Accepted: ``https://host[:port]`` (host a DNS name, an IPv4 address or an IPv6 address in
    brackets; port 443 by default), optionally with a path that is the RESTCONF root
    (``https://host/restconf``) or the full get-bootstrapping-data operation
    (``https://host/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data``,
    whose root is the part before ``/operations/``).  Scheme and host are case-insensitive.

    Refused with :class:`ModelError` (field ``bootstrap-server-uri``): any scheme but https,
    user information, a query, a fragment, an empty or malformed host, a bad port, IPv6 zone
    identifiers, other paths, whitespace and control characters.
    """
    if not uri.isprintable() or any(c.isspace() for c in uri):
        raise _bad_uri(uri, "spaces and control characters are not allowed")
    scheme, separator, rest = uri.partition("://")
    if not separator:
        raise _bad_uri(uri, "expected https://host[:port]")
    if scheme.lower() != "https":
        raise _bad_uri(uri, f"the scheme must be https, not {scheme!r}")
    if "?" in rest:
        raise _bad_uri(uri, "a query is not allowed")
    if "#" in rest:
        raise _bad_uri(uri, "a fragment is not allowed")
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if "%" in authority:
        raise _bad_uri(uri, "percent-encoding and zone identifiers are not allowed in the host")
    host, port = _parse_authority(uri, authority)
    return ServerEndpoint(host=host, port=port, root=_root_of_path(uri, path))
