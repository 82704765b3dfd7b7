"""A software TPM: swtpm in socket mode as a child process, for the tests and the demo.

:class:`SoftwareTPM` starts ``swtpm socket --tpm2`` in the foreground as a child process, on a
free pair of loopback ports (server P, control P+1), with its state in a directory of its own;
``stop()`` ends it (the state stays, so ``start()`` brings the same TPM back).  The TCTI string
is always explicit: with none the TSS would try port 2321.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def swtpm_available() -> bool:
    return shutil.which("swtpm") is not None


def tpm2_pytss_available() -> bool:
    try:
        import tpm2_pytss  # noqa: F401, PLC0415 - probing only
    except ImportError:
        return False
    return True


def _port_pair() -> int:
    """A port P such that P and P+1 were both free on 127.0.0.1 a moment ago."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free pair of loopback ports")


class SoftwareTPM:
    """swtpm as a child process; ``tcti`` is what identity.tpm.tcti would say."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = state_dir / "swtpm.log"

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def start(self, timeout: float = 10.0) -> SoftwareTPM:
        """Start swtpm (again on the same ports when it ran before) and wait until it
        accepts connections."""
        for attempt in range(5):
            if self.port == 0 or attempt > 0:
                self.port = _port_pair()
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(  # noqa: S603 - a fixed argv
                    [
                        self._executable(),
                        "socket",
                        "--tpm2",
                        "--flags",
                        "not-need-init,startup-clear",
                        "--server",
                        f"type=tcp,bindaddr=127.0.0.1,port={self.port}",
                        "--ctrl",
                        f"type=tcp,bindaddr=127.0.0.1,port={self.port + 1}",
                        "--tpmstate",
                        f"dir={self.state_dir}",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            if self._wait_ready(timeout):
                return self
            self.stop()
        raise RuntimeError(f"swtpm did not start; see {self.log}: {self.log.read_text()[-2000:]}")

    @staticmethod
    def _executable() -> str:
        path = shutil.which("swtpm")
        if path is None:
            raise RuntimeError("swtpm is not installed (Debian package swtpm)")
        return path

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                # The control channel: probing it does not take the TPM's one connection.
                with socket.create_connection(("127.0.0.1", self.port + 1), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> SoftwareTPM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["SoftwareTPM", "swtpm_available", "tpm2_pytss_available"]
