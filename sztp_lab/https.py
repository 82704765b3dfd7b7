"""The HTTPS server base of the lab's servers and of the test suite's scripted server.

:class:`HTTPSServer` is a ``ThreadingHTTPServer`` for loopback: IPv4 or IPv6 by the host, no
host-name lookup at bind, TLS optional (an ``ssl.SSLContext``) with the handshake done in the
connection's own thread under a timeout (a stuck client never blocks the others), every open
connection tracked so that :meth:`HTTPSServer.close_connections` can end their threads, and
connection errors absorbed.  Subclasses hook :meth:`HTTPSServer.handshake` (e.g. to drop a
client after a handshake that completed) and :meth:`HTTPSServer.handshake_failed` (to record
it).  :func:`load_server_identity` loads a PEM certificate chain and key into a context
through a private temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import ssl
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

HANDSHAKE_TIMEOUT: Final = 10.0
IDLE_TIMEOUT: Final = 30.0
DRAIN_TIMEOUT: Final = 5.0
#: bytes read after a refused handshake, or of a refused request body, so that the client sees
#: the answer (an alert, a 413) before the connection closes
DRAIN_LIMIT: Final = 16 * 1024 * 1024
_CHUNK: Final = 64 * 1024

__all__ = [
    "DRAIN_LIMIT",
    "HANDSHAKE_TIMEOUT",
    "IDLE_TIMEOUT",
    "HTTPSServer",
    "drain",
    "load_server_identity",
]


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def load_server_identity(context: ssl.SSLContext, chain_pem: bytes, key_pem: bytes) -> None:
    """Load a certificate chain and its key: the PEM files ``load_cert_chain`` needs are
    written (mode 0600) in a private temporary directory and removed once loaded."""
    with tempfile.TemporaryDirectory(prefix="sztp-lab-tls-") as private:
        cert_file = Path(private) / "cert.pem"
        key_file = Path(private) / "key.pem"
        _write_private(cert_file, chain_pem)
        _write_private(key_file, key_pem)
        context.load_cert_chain(cert_file, key_file)


def drain(connection: socket.socket, limit: int = DRAIN_LIMIT) -> None:
    """After a refused handshake (the alert is sent): read what the client still sends until
    it closes, so that closing here sends no RST, which could make the client lose the alert."""
    with contextlib.suppress(OSError, ValueError):
        socket.socket.shutdown(connection, socket.SHUT_WR)
        connection.settimeout(DRAIN_TIMEOUT)
        received = 0
        while received < limit:
            chunk = socket.socket.recv(connection, _CHUNK)
            if not chunk:
                break
            received += len(chunk)


class HTTPSServer(ThreadingHTTPServer):
    """One thread per connection (joined on close); TLS handshakes in those threads."""

    daemon_threads = False
    block_on_close = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext | None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.context = context
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._closing = False
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn): not needed on loopback.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def _track(self, connection: socket.socket) -> bool:
        with self._connections_lock:
            if self._closing:
                return False
            self._connections.add(connection)
            return True

    def _untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def handshake(self, connection: ssl.SSLSocket, client_address: Any) -> bool:
        """Run the TLS handshake; False when the connection is to be dropped."""
        try:
            connection.do_handshake()
        except (OSError, ValueError) as exc:
            self.handshake_failed(client_address, exc)
            drain(connection)
            return False
        return True

    def handshake_failed(self, client_address: Any, exc: BaseException) -> None:
        """Called with each failed handshake (before the connection is drained)."""

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection: socket.socket = request
        if not self._track(connection):
            return
        try:
            if self.context is not None:
                tls = self.context.wrap_socket(
                    request, server_side=True, do_handshake_on_connect=False
                )
                connection = tls
                self._untrack(request)
                if not self._track(connection):
                    return
                connection.settimeout(HANDSHAKE_TIMEOUT)
                if not self.handshake(tls, client_address):
                    return
            connection.settimeout(IDLE_TIMEOUT)
            self.RequestHandlerClass(connection, client_address, self)  # type: ignore[arg-type]
        except (OSError, ValueError):
            pass  # the client went away, or stop() shut the connection down
        except Exception:  # a bug in the server: show it, keep serving the others
            traceback.print_exc()
        finally:
            self._untrack(connection)
            self._untrack(request)
            if connection is not request:
                connection.close()

    def close_connections(self) -> None:
        """Shut down every open connection so that its thread ends (call it when stopping)."""
        with self._connections_lock:
            self._closing = True
            connections = list(self._connections)
        for connection in connections:
            # The plain socket's shutdown: SSLSocket.shutdown would drop the TLS object under
            # the thread still reading from it.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # finish_request already absorbs connection errors; nothing to print
