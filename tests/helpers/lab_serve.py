"""`sztp-lab serve` run as a process, synchronised on what it prints, never on time.

Its stdout is read line by line by a thread into a queue, its stderr by another (so neither
pipe can fill up).  ``summary()`` waits for the JSON summary it prints once both servers
listen; ``line(predicate)`` waits for a request line.  The timeouts only bound a hang: a test
never depends on how long anything takes.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

HANG = 120.0  # seconds: only ever reached when something is stuck


class LabServe:
    def __init__(self, command: Sequence[str]) -> None:
        self.command = list(command)
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def _next(self) -> str:
        try:
            line = self._lines.get(timeout=HANG)
        except queue.Empty:
            raise AssertionError(f"sztp-lab serve printed nothing for {HANG} s") from None
        if line is None:
            self.process.wait(timeout=HANG)
            raise AssertionError(
                f"sztp-lab serve ended (exit {self.process.returncode}): {''.join(self.stderr)}"
            )
        self.stdout.append(line)
        return line

    def summary(self) -> dict[str, Any]:
        """The JSON summary (printed once both servers listen)."""
        lines = [self._next()]
        while lines[-1] != "}":
            lines.append(self._next())
        document: dict[str, Any] = json.loads("\n".join(lines))
        return document

    def line(self, predicate: Callable[[str], bool]) -> str:
        """The next printed line for which ``predicate`` holds."""
        while True:
            line = self._next()
            if predicate(line):
                return line

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum`` and wait for the process to end; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        returncode = self.process.wait(timeout=HANG)
        for reader in self._readers:
            reader.join(timeout=HANG)
        return returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=HANG)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
