"""A plain-HTTP file server on loopback that can hold a download in the middle.

While ``hold`` is set, every GET sends its headers (with the full Content-Length) and the
first ``head`` bytes, sets ``started`` and then waits until ``release`` is set (or the server
stops) before sending the rest.  Tests use ``started`` to know, without any timing, that the
client is in the middle of a download.  Every GET is logged in ``log``.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from pathlib import Path
from typing import Any


class SlowFileServer:
    def __init__(self, directory: Path, *, head: int = 256 * 1024) -> None:
        self.directory = directory
        self.head = head
        self.hold = True
        self.started = threading.Event()
        self.release = threading.Event()
        self.log: list[dict[str, Any]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                path = owner.directory / self.path.lstrip("/")
                if ".." in self.path or not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    owner.log.append({"path": self.path, "status": 404})
                    return
                data = path.read_bytes()
                owner.log.append({"path": self.path, "status": 200})
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                with contextlib.suppress(OSError):
                    if owner.hold:
                        self.wfile.write(data[: owner.head])
                        self.wfile.flush()
                        owner.started.set()
                        owner.release.wait(120)
                        self.wfile.write(data[owner.head :])
                    else:
                        self.wfile.write(data)
                    self.wfile.flush()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url_for(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def downloads(self) -> int:
        return sum(1 for record in self.log if record["status"] == 200)

    def start(self) -> SlowFileServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
