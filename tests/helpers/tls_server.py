"""A small scripted HTTP(S) server on loopback, and the certificates, for the transport tests.

``ScriptedServer`` answers each path with a configured :class:`Reply` (status, headers, body,
an optional delay, optionally without Content-Length) and records every request: method,
path, headers, body, and the client certificate when one was presented.  TLS is optional; with
``client_ca`` the server requires a client certificate that chains to it.  The TLS handshake runs
in the request's thread, so a failing client does not stall the server; failed handshakes are
recorded in ``handshake_errors``.

:func:`make_server_pki` makes bootstrap-server certificates for the cases the tests need.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sztp_lab.https import HTTPSServer, load_server_identity
from sztp_lab.pki import Issued, make_end_entity, make_intermediate_ca, make_root_ca, utcnow


@dataclass(frozen=True)
class Reply:
    """What the server answers.  ``body_file`` streams a file instead of ``body``;
    ``no_length`` sends the body without Content-Length and closes the connection after it."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_file: Path | None = None
    delay: float = 0.0
    no_length: bool = False


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_cert: bytes | None  # DER of the client's end-entity certificate
    client_chain_length: int | None  # when the ssl module exposes the chain (Python >= 3.13)
    tls_version: str | None  # "TLSv1.3", ...; None over plain HTTP


Route = Reply | Callable[[Recorded], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or "0")
        body = self.rfile.read(length) if length else b""
        client_cert: bytes | None = None
        chain_length: int | None = None
        tls_version: str | None = None
        if isinstance(self.connection, ssl.SSLSocket):
            tls_version = self.connection.version()
            client_cert = self.connection.getpeercert(binary_form=True)
            chain_getter = getattr(self.connection, "get_unverified_chain", None)
            if chain_getter is not None:
                chain = chain_getter()
                chain_length = len(chain) if chain is not None else None
        recorded = Recorded(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            client_cert,
            chain_length,
            tls_version,
        )
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(recorded)
            route = owner.routes.get(self.path.partition("?")[0])
        reply = (
            Reply(404) if route is None else route if isinstance(route, Reply) else route(recorded)
        )
        if reply.delay and owner.stopping.wait(reply.delay):
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        size = reply.body_file.stat().st_size if reply.body_file is not None else len(reply.body)
        if reply.no_length:
            self.send_header("Connection", "close")
            self.close_connection = True
        elif "content-length" not in {k.lower() for k in reply.headers}:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD" or reply.status in (204, 304):
            return
        if reply.body_file is not None:
            with reply.body_file.open("rb") as source:
                while chunk := source.read(256 * 1024):
                    self.wfile.write(chunk)
        else:
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_HEAD = _handle


class _Server(HTTPSServer):
    """The lab's HTTPS server; failed handshakes are recorded on the owner.  Threads are not
    joined on close (a test's client may hang up at any point)."""

    daemon_threads = True
    block_on_close = False
    owner: ScriptedServer

    def handshake_failed(self, client_address: Any, exc: BaseException) -> None:
        with self.owner.lock:
            self.owner.handshake_errors.append(exc)


class ScriptedServer:
    """``with ScriptedServer(cert_chain_pem, key_pem) as server: server.routes[path] = Reply()``.

    Without ``cert_chain_pem`` the server speaks plain HTTP.
    """

    def __init__(
        self,
        cert_chain_pem: bytes | None = None,
        key_pem: bytes | None = None,
        *,
        client_ca: bytes | None = None,
        host: str = "127.0.0.1",
        minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        maximum_version: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
    ) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Recorded] = []
        self.handshake_errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.context: ssl.SSLContext | None = None
        if cert_chain_pem is not None:
            if key_pem is None:
                raise ValueError("a key is needed with the certificate")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = minimum_version
            context.maximum_version = maximum_version
            load_server_identity(context, cert_chain_pem, key_pem)
            if client_ca is not None:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(cadata=client_ca.decode("ascii"))
            self.context = context
        family_host = host.strip("[]")
        self._server = _Server((family_host, 0), _Handler, self.context)
        self._server.owner = self
        self.host = family_host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        scheme = "https" if self.context is not None else "http"
        return f"{scheme}://{self.authority}"

    def requests_to(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait_for_handshake_errors(self, count: int, timeout: float = 5.0) -> int:
        """The number of failed handshakes once ``count`` were seen or ``timeout`` passed (a
        client can see the failure before the server's thread has recorded it)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                seen = len(self.handshake_errors)
            if seen >= count or time.monotonic() > deadline:
                return seen
            time.sleep(0.01)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_certificate(
    issuer: Issued,
    name: str = "bootstrap.test",
    *,
    dns_names: tuple[str, ...] = ("localhost",),
    ip_addresses: tuple[str, ...] = ("127.0.0.1", "::1"),
    expired: bool = False,
) -> Issued:
    """A TLS server certificate (serverAuth) issued by ``issuer``."""
    now = utcnow()
    not_before, not_after = (
        (now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired else (None, None)
    )
    return make_end_entity(
        issuer,
        name,
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        not_before=not_before,
        not_after=not_after,
    )


@dataclass(frozen=True)
class ServerPKI:
    """Bootstrap-server certificates: a root, an intermediate, and end entities for the cases
    the tests need (valid for localhost/127.0.0.1/::1, another name, expired, via the
    intermediate), plus an unrelated root with a certificate of its own."""

    root: Issued
    intermediate: Issued
    server: Issued
    other_name: Issued
    expired: Issued
    via_intermediate: Issued
    other_root: Issued
    other_root_server: Issued

    @property
    def anchor(self) -> x509.Certificate:
        return self.root.cert


def make_server_pki() -> ServerPKI:
    root = make_root_ca("Transport Test Bootstrap Server Root CA")
    intermediate = make_intermediate_ca(root, "Transport Test Bootstrap Server Issuing CA")
    other_root = make_root_ca("Transport Test Unrelated Root CA")
    return ServerPKI(
        root=root,
        intermediate=intermediate,
        server=server_certificate(root),
        other_name=server_certificate(
            root, "other.example", dns_names=("other.example",), ip_addresses=()
        ),
        expired=server_certificate(root, expired=True),
        via_intermediate=server_certificate(intermediate),
        other_root=other_root,
        other_root_server=server_certificate(other_root),
    )


def credentials(issued: Issued) -> tuple[bytes, bytes]:
    """``(certificate chain PEM, key PEM)`` for :class:`ScriptedServer`."""
    return issued.pem_chain(), issued.key_pem()


__all__ = [
    "Recorded",
    "Reply",
    "ScriptedServer",
    "ServerPKI",
    "credentials",
    "make_server_pki",
    "server_certificate",
]
