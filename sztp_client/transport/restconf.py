"""The RESTCONF client for one bootstrap server (RFC 8572 §7, RFC 8040).

* :func:`parse_server_uri` reads a bootstrap-server URI (R-099, D9) into a
  :class:`ServerEndpoint`; :func:`resolve` turns its host into addresses, so that the caller can
  try them one by one.
* :class:`RestconfClient` talks to one server at one address: RESTCONF root discovery through
  ``/.well-known/host-meta`` with the ``/restconf`` fallback (R-083, D9), get-bootstrapping-data
  (R-084..R-089) and report-progress (R-090).  A trusted client authenticates the server
  (:func:`~sztp_client.transport.tls.trusted_context`) and may send HTTP Basic credentials; a
  provisional one accepts any server certificate and never sends credentials, progress reports
  or anything but ``signed-data-preferred`` and a nonce (D18).

Every reply body is read with a size bound before it is parsed (D19); every request has connect
and read timeouts; nothing is retried and no redirect is followed.  Replies other than 200 to
get-bootstrapping-data raise :class:`~sztp_client.errors.ServerError` with the RESTCONF error
document's error-tag, error-message and error-info (D8; RFC 9646's csr-request arrives in
``error_info``).

HTTP is done with urllib3 directly: it can connect to one resolved address while verifying the
certificate for the server's host name (``server_hostname``), takes an :class:`ssl.SSLContext`
as built here, and streams bodies so that they can be bounded.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import logging
import re
import socket
import ssl
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from sztp_client import __version__
from sztp_client.encoding import load_json, load_xml, split_tag
from sztp_client.errors import (
    ConnectError,
    ConnectionDroppedError,
    DataError,
    EncodingError,
    MediaTypeError,
    ModelError,
    ReportRejectedError,
    ServerCertificateError,
    ServerError,
    SizeLimitError,
    TLSAlertError,
    TLSError,
    TransportError,
)
from sztp_client.model.rpc import (
    JSON_MEDIA_TYPE,
    MODULE,
    XML_MEDIA_TYPE,
    GetBootstrappingDataInput,
    GetBootstrappingDataOutput,
    ReportProgressInput,
    parse_get_bootstrapping_data_output,
)
from sztp_client.transport.tls import ClientIdentity, provisional_context, trusted_context
from sztp_client.trust.clock import Clock
from sztp_client.trust.hops import ServerTrust

__all__ = [
    "DEFAULT_RESTCONF_ROOT",
    "GET_BOOTSTRAPPING_DATA",
    "HOST_META_PATH",
    "MEDIA_TYPES",
    "REPORT_PROGRESS",
    "RestconfClient",
    "ServerEndpoint",
    "Timeouts",
    "TransportLimits",
    "parse_server_uri",
    "resolve",
]

_log = logging.getLogger(__name__)

URI_FIELD: Final = "bootstrap-server-uri"
DEFAULT_PORT: Final = 443
DEFAULT_RESTCONF_ROOT: Final = "/restconf"
HOST_META_PATH: Final = "/.well-known/host-meta"
GET_BOOTSTRAPPING_DATA: Final = f"{MODULE}:get-bootstrapping-data"
REPORT_PROGRESS: Final = f"{MODULE}:report-progress"
_OPERATIONS: Final = "/operations/"
_GBD_SUFFIX: Final = f"{_OPERATIONS}{GET_BOOTSTRAPPING_DATA}"

XRD_MEDIA_TYPE: Final = "application/xrd+xml"
XRD_NAMESPACE: Final = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
RESTCONF_NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:ietf-restconf"
_IETF_YANG_NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:"
# D29: one media type in Accept, and the same as Content-Type; deployed servers compare these
# headers whole (406, 415 otherwise).
MEDIA_TYPES: Final = {"json": JSON_MEDIA_TYPE, "xml": XML_MEDIA_TYPE}
_USER_AGENT: Final = f"sztp-client/{__version__}"

MIB: Final = 1024 * 1024
KIB: Final = 1024
_READ_CHUNK: Final = 64 * KIB
_SHOWN: Final = 300  # characters of server-provided text kept in messages
_ERROR_INFO_DEPTH: Final = 32

# ---------------------------------------------------------------------------------------------
# URIs and addresses

_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_DIGITS: Final = re.compile(r"[0-9]+")
# RFC 3986 pchar plus "/": unreserved, percent-encoded octets, sub-delims, ":" and "@"
_PATH: Final = re.compile(r"(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)*")


@dataclass(frozen=True, slots=True)
class ServerEndpoint:
    """A bootstrap server: host name or IP literal (IPv6 without brackets), port and, when the
    URI gave one, the RESTCONF root path (``None``: discover it through host-meta)."""

    host: str
    port: int = DEFAULT_PORT
    root: str | None = None

    @property
    def is_ip_literal(self) -> bool:
        return _is_ip_literal(self.host)

    @property
    def authority(self) -> str:
        """``host[:port]`` as in a URI and the ``Host`` header; IPv6 in brackets, 443 left out."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORT else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"https://{self.authority}{self.root or ''}"


def _is_ip_literal(host: str) -> bool:
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
        if all(_DIGITS.fullmatch(part) for part in host_text.rstrip(".").split(".")):
            try:
                host = str(ipaddress.IPv4Address(host_text))
            except ValueError:
                raise _bad_uri(uri, "not a valid IPv4 address") from None
        elif len(host_text) <= 254 and _HOST_NAME.fullmatch(host_text):
            host = host_text.rstrip(".").lower()
        else:
            raise _bad_uri(uri, "the host is not a valid host name or IP address")
    port = DEFAULT_PORT
    if port_text is not None:
        if not _DIGITS.fullmatch(port_text) or not 0 < int(port_text) < 65536:
            raise _bad_uri(uri, "the port must be a number from 1 to 65535")
        port = int(port_text)
    return host, port


def _root_of_path(uri: str, path: str) -> str | None:
    if path in ("", "/"):
        return None
    if not _PATH.fullmatch(path):
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


def resolve(host: str, port: int) -> list[str]:
    """The addresses to try for ``host``, in the resolver's order, without duplicates.

    An IP literal is returned as itself; a name is looked up with ``getaddrinfo`` for TCP.
    Failure raises :class:`ConnectError` naming the host.
    """
    if _is_ip_literal(host):
        return [host]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ConnectError(f"cannot resolve the host name {host!r}: {reason}") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ConnectError(f"cannot resolve the host name {host!r}: no addresses")
    return addresses


# ---------------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to wait for a TCP connection (and TLS handshake) and for each read."""

    connect: float = 10.0
    read: float = 30.0

    def __post_init__(self) -> None:
        if not (self.connect > 0 and self.read > 0):
            raise ValueError("timeouts must be positive")

    def as_urllib3(self) -> urllib3.Timeout:
        """The same timeouts as urllib3 takes them."""
        return urllib3.Timeout(connect=self.connect, read=self.read)


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """Size bounds in bytes of the bodies read from a bootstrap server (D19)."""

    response: int = 16 * MIB
    error_document: int = 64 * KIB
    host_meta: int = 64 * KIB
    report_reply: int = 64 * KIB

    def __post_init__(self) -> None:
        if min(self.response, self.error_document, self.host_meta, self.report_reply) < 0:
            raise ValueError("size limits must not be negative")


# ---------------------------------------------------------------------------------------------
# shared HTTP helpers (also used by the download module)


def _shown(text: str) -> str:
    """Server-provided text made safe for a log line or message: printable and bounded."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return cleaned if len(cleaned) <= _SHOWN else cleaned[: _SHOWN - 3] + "..."


_URLLIB3_PREFIX: Final = re.compile(r"^\w*Connection(?:Pool)?\(host=.*?, port=\d+\): ")


def _reason(exc: BaseException) -> str:
    """The failure in words, without urllib3's ``HTTPSConnectionPool(host=..)`` prefix."""
    return _shown(_URLLIB3_PREFIX.sub("", str(exc)) or type(exc).__name__)


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The :class:`ssl.SSLError` behind a urllib3 error, if there is one."""
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) and not isinstance(current, Urllib3SSLError):
            return current
        queue.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                queue.append(linked)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            queue.append(reason)
    return None


def _closed_cause(exc: BaseException) -> BaseException | None:
    """The EOF or reset behind a urllib3 ``ProtocolError`` (the peer closed the connection)."""
    if not isinstance(exc, urllib3.exceptions.ProtocolError):
        return None
    for arg in exc.args:
        if isinstance(
            arg,
            http.client.RemoteDisconnected
            | ConnectionResetError
            | BrokenPipeError
            | ConnectionAbortedError
            | ssl.SSLEOFError
            | ssl.SSLZeroReturnError,
        ):
            return arg
    return None


def transport_error(
    exc: BaseException, target: str, *, client_certificate: bool = False
) -> TransportError:
    """The project's error for a urllib3 or socket failure while talking to ``target``.

    The TLS failures an operator must tell apart each get their own class (D29): the server's
    certificate fails verification (:class:`ServerCertificateError`), the server sent an alert
    (:class:`TLSAlertError`: it refused the device certificate), and, when the device sent a
    client certificate (``client_certificate``), the server closed the connection after the
    handshake without an answer (:class:`ConnectionDroppedError`).
    """
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    closed = _closed_cause(exc)
    cause = _ssl_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = cause.verify_message or _reason(cause)
        return ServerCertificateError(
            f"TLS with {target} failed: the server's certificate does not validate to the "
            f"bootstrap-server trust anchors ({_shown(str(detail))}); check the anchors, the "
            "server certificate's names and the clock mode"
        )
    reason = (getattr(cause, "reason", None) or "") if cause is not None else ""
    if "ALERT" in str(reason).upper():
        return TLSAlertError(
            f"TLS with {target} failed: the server sent the alert "
            f"{_shown(str(reason)).lower()}: it refused the device certificate; check the "
            "IDevID and that the server trusts its CA"
        )
    if closed is not None and client_certificate:
        return ConnectionDroppedError(
            f"{target} closed the connection right after the TLS handshake without an answer "
            f"({_reason(closed)}): the server may have refused the device certificate; check "
            "the IDevID and that the server trusts its CA"
        )
    if closed is None and (cause is not None or isinstance(exc, Urllib3SSLError)):
        return TLSError(
            f"TLS with {target} failed: {_reason(exc)}; check the bootstrap-server trust "
            "anchors and the clock mode (and that the server accepts the device certificate)"
        )
    # NewConnectionError derives from urllib3's TimeoutError: test it first
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return ConnectError(f"cannot connect to {target}: {_reason(exc)}")
    if isinstance(exc, Urllib3TimeoutError | TimeoutError):
        return ConnectError(f"{target} timed out: {_reason(exc)}")
    return ConnectError(f"connection to {target} failed: {_reason(exc)}")


@contextlib.contextmanager
def unverified_is_intended(provisional: bool) -> Iterator[None]:
    """Silence urllib3's InsecureRequestWarning where blind TLS is the design (R-060, R-061).

    ``warnings.catch_warnings`` is process-wide; the client makes its requests from one thread.
    """
    if not provisional:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield


def refuse_content_encoding(response: urllib3.BaseHTTPResponse, what: str) -> None:
    """Bodies are bounded as sent: a compressed body (never asked for) is refused."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise EncodingError(
            f"{what} came with Content-Encoding {_shown(encoding)!r}, which was not asked for"
        )


def content_length(response: urllib3.BaseHTTPResponse) -> int | None:
    """The Content-Length header as a number, ``None`` when absent or malformed."""
    value = response.headers.get("Content-Length")
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value.strip())


def read_bounded(response: urllib3.BaseHTTPResponse, limit: int, what: str) -> bytes:
    """The whole body of ``response``, refused with :class:`SizeLimitError` above ``limit``.

    A Content-Length above the limit is refused before anything is read; otherwise at most
    ``limit + 1`` bytes are read.
    """
    refuse_content_encoding(response, what)
    declared = content_length(response)
    if declared is not None and declared > limit:
        raise SizeLimitError(what, declared, limit)
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read(min(_READ_CHUNK, limit + 1 - total), decode_content=False)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise SizeLimitError(what, total, limit)
    return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# RESTCONF error documents (RFC 8040 §7.1)


@dataclass(frozen=True, slots=True)
class _ErrorDocument:
    tag: str | None = None
    message: str | None = None
    info: object = None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _error_from_json(data: bytes) -> _ErrorDocument:
    document = load_json(data, "RESTCONF error document")
    errors = document.get("ietf-restconf:errors") if isinstance(document, dict) else None
    entries = errors.get("error") if isinstance(errors, dict) else None
    first = entries[0] if isinstance(entries, list) and entries else entries
    if not isinstance(first, dict):
        raise EncodingError("not a RESTCONF error document")
    return _ErrorDocument(
        _text(first.get("error-tag")), _text(first.get("error-message")), first.get("error-info")
    )


def _qualified(tag: str, parent_namespace: str) -> str:
    namespace, local = split_tag(tag)
    if namespace == parent_namespace:
        return local
    if namespace.startswith(_IETF_YANG_NAMESPACE):
        return f"{namespace[len(_IETF_YANG_NAMESPACE) :]}:{local}"
    return f"{{{namespace}}}{local}"


def _xml_value(element: ET.Element, depth: int) -> object:
    """An anydata element as JSON-like values: members named as in RFC 7951 (``module:name``
    where the namespace changes), leaves as their text as written, repeated names as lists."""
    if depth > _ERROR_INFO_DEPTH:
        raise EncodingError("error-info is nested too deeply")
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        return (element.text or "").strip()
    namespace, _ = split_tag(element.tag)
    result: dict[str, object] = {}
    for child in children:
        name = _qualified(child.tag, namespace)
        value = _xml_value(child, depth + 1)
        if name not in result:
            result[name] = value
        elif isinstance(existing := result[name], list):
            existing.append(value)
        else:
            result[name] = [existing, value]
    return result


def _error_from_xml(data: bytes) -> _ErrorDocument:
    root = load_xml(data, "RESTCONF error document")
    if root.tag != f"{{{RESTCONF_NAMESPACE}}}errors":
        raise EncodingError("not a RESTCONF error document")
    error = root.find(f"{{{RESTCONF_NAMESPACE}}}error")
    if error is None:
        raise EncodingError("not a RESTCONF error document")

    def leaf(name: str) -> str | None:
        found = error.find(f"{{{RESTCONF_NAMESPACE}}}{name}")
        return None if found is None else (found.text or "").strip()

    info_element = error.find(f"{{{RESTCONF_NAMESPACE}}}error-info")
    info = None if info_element is None else _xml_value(info_element, 0)
    return _ErrorDocument(leaf("error-tag"), leaf("error-message"), info)


def _parse_error_document(data: bytes, media_type: str) -> _ErrorDocument | None:
    essence = media_type.partition(";")[0].strip().lower()
    stripped = data.lstrip()
    try:
        if essence.endswith("json") or (not essence and stripped.startswith(b"{")):
            return _error_from_json(data)
        if essence.endswith("xml") or (not essence and stripped.startswith(b"<")):
            return _error_from_xml(data)
    except (DataError, RecursionError):
        return None
    return None


# ---------------------------------------------------------------------------------------------
# the client


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    reason: str
    media_type: str
    body: bytes


class RestconfClient:
    """One bootstrap server at one resolved address.

    ``trust`` is the hop's decision (:class:`sztp_client.trust.hops.ServerTrust`, made by the
    trust owner alone): when trusted, authenticate the server to its anchors (host name
    ``endpoint.host``, an IP literal matched against IP-address SANs) under ``clock`` and send
    ``basic_auth``.  Otherwise the connection is provisional: any server certificate is
    accepted, ``basic_auth`` is never sent and no report is posted (D18, R-092).  What the
    request body may hold is the trust owner's decision too (it builds the body).
    ``identity``, when given, is presented to every server (R-018).

    Raises :class:`ConnectError` (connection, timeout), :class:`TLSError` (handshake),
    :class:`ServerError` (HTTP error reply), :class:`ReportRejectedError`,
    :class:`SizeLimitError`, :class:`EncodingError` and :class:`ModelError` (reply content).
    """

    def __init__(
        self,
        endpoint: ServerEndpoint,
        address: str,
        *,
        trust: ServerTrust,
        clock: Clock,
        identity: ClientIdentity | None,
        basic_auth: tuple[str, str] | None = None,
        timeouts: Timeouts = Timeouts(),
        limits: TransportLimits = TransportLimits(),
        encoding: str = "json",
    ) -> None:
        if encoding not in MEDIA_TYPES:
            raise ValueError(f"the encoding is json or xml, not {encoding!r}")
        self.encoding = encoding
        self.media_type = MEDIA_TYPES[encoding]
        self._client_certificate = identity is not None
        self.endpoint = endpoint
        self.address = address
        self.trust = trust
        trusted = trust.trusted
        self.limits = limits
        self.target = f"https://{endpoint.authority}"
        if address != endpoint.host:
            self.target += f" ({address})"
        self._headers = {
            "Host": endpoint.authority,
            "User-Agent": _USER_AGENT,
            "Accept-Encoding": "identity",
        }
        if trusted:
            context = trusted_context(trust.anchors, clock, identity)
            cert_reqs = ssl.CERT_REQUIRED
            if basic_auth is not None and trust.may_send_credentials:
                user, password = basic_auth
                if ":" in user:
                    raise ValueError("an HTTP Basic user name cannot contain ':'")
                token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
                self._headers["Authorization"] = f"Basic {token}"
        else:
            context = provisional_context(identity)
            cert_reqs = ssl.CERT_NONE
        # With assert_hostname None urllib3 leaves check_hostname on: OpenSSL checks the name
        # (or the IP-address SANs of an IP literal) in the handshake.  Provisional: no check.
        self._pool = urllib3.HTTPSConnectionPool(
            address,
            endpoint.port,
            timeout=timeouts.as_urllib3(),
            maxsize=1,
            retries=False,
            ssl_context=context,
            cert_reqs=cert_reqs,
            server_hostname=endpoint.host,
            assert_hostname=None if trusted else False,
        )
        self._root: str | None = endpoint.root

    # -- plumbing ------------------------------------------------------------------------------

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        limit: int,
        what: str,
        error_limit: int | None = None,
    ) -> _Reply:
        """Send one request and read its reply, the body bounded by ``limit`` on 2xx replies
        and by ``error_limit`` (default ``limit``) on others.  An error body over its bound is
        dropped: the status is what matters."""
        try:
            with unverified_is_intended(not self.trust.trusted):
                response = self._pool.urlopen(
                    method,
                    path,
                    body=body,
                    headers={**self._headers, **headers},
                    retries=False,
                    redirect=False,
                    preload_content=False,
                    decode_content=False,
                )
        except (Urllib3HTTPError, OSError) as exc:
            raise transport_error(
                exc, self.target, client_certificate=self._client_certificate
            ) from exc
        success = 200 <= response.status < 300
        completed = False
        try:
            media_type = response.headers.get("Content-Type", "")
            bound = limit if success or error_limit is None else error_limit
            try:
                data = read_bounded(response, bound, what)
            except DataError as exc:
                if success:
                    raise
                _log.info("%s: unreadable error body from %s: %s", what, self.target, exc)
                data, media_type = b"", ""
            else:
                completed = True
            return _Reply(response.status, response.reason or "", media_type, data)
        except (Urllib3HTTPError, OSError) as exc:
            raise transport_error(
                exc, self.target, client_certificate=self._client_certificate
            ) from exc
        finally:
            if not completed:
                response.close()  # an unread body: do not reuse the connection
            response.release_conn()

    def _server_error(self, what: str, reply: _Reply) -> ServerError:
        document = _parse_error_document(reply.body, reply.media_type) if reply.body else None
        message = f"{what} at {self.target}: HTTP {reply.status}"
        if reply.reason:
            message += f" {_shown(reply.reason)}"
        error_class = ServerError
        if reply.status in (406, 415):
            # D29: the server does not serve the media type sent; asking again will not help
            error_class = MediaTypeError
            message += (
                f"; the client sent Accept and Content-Type {self.media_type} "
                "(network.encoding): the server does not serve that media type"
            )
        if document is None:
            if reply.body:
                message += " (the reply is not a RESTCONF error document)"
            return error_class(message, status=reply.status)
        if document.tag:
            message += f", {_shown(document.tag)}"
        if document.message:
            message += f": {_shown(document.message)}"
        return error_class(
            message,
            status=reply.status,
            error_tag=document.tag,
            error_message=None if document.message is None else _shown(document.message),
            error_info=document.info,
        )

    def _operation_path(self, operation: str) -> str:
        return f"{self.restconf_root()}/operations/{operation}"

    # -- RESTCONF ------------------------------------------------------------------------------

    def restconf_root(self) -> str:
        """The RESTCONF root path (no trailing slash; ``""`` for the server's root).

        The URI's path when it gave one; else the ``restconf`` link of
        ``/.well-known/host-meta`` (RFC 8040 §3.1), falling back to ``/restconf`` when there
        is none, the reply is not 200 or the XRD is unusable (D9, R-083).  Connection and TLS
        failures are raised.  The result is kept for the client's lifetime.
        """
        if self._root is None:
            self._root = self._discover_root()
        return self._root

    def _discover_root(self) -> str:
        try:
            reply = self._exchange(
                "GET",
                HOST_META_PATH,
                headers={"Accept": XRD_MEDIA_TYPE},
                limit=self.limits.host_meta,
                what="host-meta",
            )
            if reply.status != 200:
                _log.info(
                    "host-meta at %s: HTTP %d; using %s",
                    self.target,
                    reply.status,
                    DEFAULT_RESTCONF_ROOT,
                )
                return DEFAULT_RESTCONF_ROOT
            root = self._restconf_link(reply.body)
        except DataError as exc:
            _log.info("host-meta at %s: %s; using %s", self.target, exc, DEFAULT_RESTCONF_ROOT)
            return DEFAULT_RESTCONF_ROOT
        _log.debug("host-meta at %s: RESTCONF root %r", self.target, root)
        return root

    def _restconf_link(self, data: bytes) -> str:
        document = load_xml(data, "host-meta")
        if split_tag(document.tag)[1] != "XRD":
            raise EncodingError("host-meta is not an XRD document")
        for link in document:
            if not isinstance(link.tag, str) or split_tag(link.tag) not in (
                (XRD_NAMESPACE, "Link"),
                ("", "Link"),
            ):
                continue
            if link.get("rel") != "restconf" or link.get("href") is None:
                continue
            base = f"https://{self.endpoint.authority}{HOST_META_PATH}"
            href = _shown(link.get("href", "").strip())
            try:
                target = urlsplit(urljoin(base, href))
                same_origin = (
                    target.scheme.lower() == "https"
                    and (target.hostname or "").lower() == self.endpoint.host.lower()
                    and (target.port or DEFAULT_PORT) == self.endpoint.port
                )
            except ValueError:
                raise EncodingError(f"host-meta restconf link {href!r} is not a URI") from None
            if not same_origin:
                raise EncodingError(f"host-meta restconf link {href!r} is on another origin")
            path = target.path.rstrip("/")
            if target.query or target.fragment or not _PATH.fullmatch(path):
                raise EncodingError(f"host-meta restconf link {href!r} is not a usable path")
            return path
        raise EncodingError("host-meta has no restconf link")

    def get_bootstrapping_data(
        self, request: GetBootstrappingDataInput
    ) -> GetBootstrappingDataOutput:
        """POST get-bootstrapping-data (R-084, R-085) and parse the 200 reply (R-089).

        The body is sent as given: the trust owner built it for this hop (D18).  Replies
        other than 200 raise
        :class:`ServerError` carrying the RESTCONF error-tag, error-message and error-info
        (D8; RFC 9646's 400 with ``ietf-sztp-csr:csr-request`` in ``error_info``).
        """
        body = request.to_json() if self.encoding == "json" else request.to_xml()
        reply = self._exchange(
            "POST",
            self._operation_path(GET_BOOTSTRAPPING_DATA),
            headers={"Content-Type": self.media_type, "Accept": self.media_type},
            body=body,
            limit=self.limits.response,
            error_limit=self.limits.error_document,
            what="get-bootstrapping-data reply",
        )
        if reply.status != 200:
            raise self._server_error("get-bootstrapping-data", reply)
        return parse_get_bootstrapping_data_output(reply.body, reply.media_type)

    def report_progress(self, report: ReportProgressInput) -> None:
        """POST report-progress (R-090); only a 204 reply is success (R-067, R-078).

        Only where the hop's trust decision allows reports (R-066); elsewhere this is a
        programming error (``ValueError``).  Any other status raises :class:`ReportRejectedError`.
        """
        if not self.trust.may_report:
            raise ValueError("progress reports never go to an untrusted bootstrap server")
        reply = self._exchange(
            "POST",
            self._operation_path(REPORT_PROGRESS),
            headers={"Content-Type": self.media_type, "Accept": self.media_type},
            body=report.to_json() if self.encoding == "json" else report.to_xml(),
            limit=self.limits.report_reply,
            what="report-progress reply",
        )
        if reply.status == 204:
            return
        if reply.status in (406, 415):
            raise self._server_error(f"report-progress ({report.progress_type.value})", reply)
        message = (
            f"report-progress ({report.progress_type.value}) at {self.target}: HTTP "
            f"{reply.status}, expected 204 No Content"
        )
        document = _parse_error_document(reply.body, reply.media_type) if reply.body else None
        if document is not None and (document.tag or document.message):
            message += f" ({_shown(document.tag or '')}: {_shown(document.message or '')})"
        raise ReportRejectedError(message, status=reply.status)

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection."""
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
