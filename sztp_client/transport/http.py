"""HTTP helpers shared by the RESTCONF client and the image download (both over urllib3):
name resolution into addresses to try one by one, timeouts, the project's error for a urllib3
or socket failure (D29: each TLS failure an operator must tell apart has its own class), and
bodies read with a bound (D19) and without content coding.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import warnings
from collections.abc import Iterator
from typing import Final

import msgspec
import urllib3
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from sztp_client.config import NetworkConfig
from sztp_client.errors import (
    ConnectError,
    ConnectionDroppedError,
    EncodingError,
    ServerCertificateError,
    SizeLimitError,
    TLSAlertError,
    TLSError,
    TransportError,
)
from sztp_client.limits import KIB
from sztp_client.model.server_uri import is_ip_literal

__all__ = [
    "Timeouts",
    "content_length",
    "read_bounded",
    "refuse_content_encoding",
    "resolve",
    "shown",
    "transport_error",
    "unverified_is_intended",
]

_READ_CHUNK: Final = 64 * KIB
_NETWORK_DEFAULTS: Final = NetworkConfig()
_SHOWN: Final = 300  # characters of server-provided text kept in messages
# patterns are kept as text: re compiles each on first use and caches it, not at import
_DIGITS: Final = r"[0-9]+"


def resolve(host: str, port: int) -> list[str]:
    """The addresses to try for ``host``, in the resolver's order, without duplicates.

    An IP literal is returned as itself; a name is looked up with ``getaddrinfo`` for TCP.
    Failure raises :class:`ConnectError` naming the host.
    """
    if is_ip_literal(host):
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


class Timeouts(msgspec.Struct, frozen=True):
    """Seconds to wait for a TCP connection (and TLS handshake) and for each read."""

    connect: float = _NETWORK_DEFAULTS.connect_timeout
    read: float = _NETWORK_DEFAULTS.read_timeout

    def __post_init__(self) -> None:
        if not (self.connect > 0 and self.read > 0):
            raise ValueError("timeouts must be positive")

    def as_urllib3(self) -> urllib3.Timeout:
        """The same timeouts as urllib3 takes them."""
        return urllib3.Timeout(connect=self.connect, read=self.read)


def shown(text: str) -> str:
    """Server-provided text made safe for a log line or message: printable and bounded."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return cleaned if len(cleaned) <= _SHOWN else cleaned[: _SHOWN - 3] + "..."


_URLLIB3_PREFIX: Final = r"^\w*Connection(?:Pool)?\(host=.*?, port=\d+\): "


def _reason(exc: BaseException) -> str:
    """The failure in words, without urllib3's ``HTTPSConnectionPool(host=..)`` prefix."""
    return shown(re.sub(_URLLIB3_PREFIX, "", str(exc)) or type(exc).__name__)


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
            f"bootstrap-server trust anchors ({shown(str(detail))}); check the anchors, the "
            "server certificate's names and the clock mode"
        )
    reason = (getattr(cause, "reason", None) or "") if cause is not None else ""
    if "ALERT" in str(reason).upper():
        return TLSAlertError(
            f"TLS with {target} failed: the server sent the alert "
            f"{shown(str(reason)).lower()}: it refused the device certificate; check the "
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
            f"{what} came with Content-Encoding {shown(encoding)!r}, which was not asked for"
        )


def content_length(response: urllib3.BaseHTTPResponse) -> int | None:
    """The Content-Length header as a number, ``None`` when absent or malformed."""
    value = response.headers.get("Content-Length")
    if value is None or not re.fullmatch(_DIGITS, value.strip()):
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
