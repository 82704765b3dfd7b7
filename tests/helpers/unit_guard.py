"""The guard of the unit layer: a unit test opens no socket and starts no process unless it is
marked ``network`` or ``subprocess``.

While a test of tests/unit runs (its set-up, call and tear-down), ``socket.socket.connect``,
``connect_ex`` and ``bind`` refuse unless the test is marked ``network``, and
``subprocess.Popen``, ``os.posix_spawn``, ``os.posix_spawnp``, ``os.fork``, ``os.system`` and
the ``os.exec*`` family refuse unless it is marked ``subprocess``.  A refusal raises
:class:`UnitGuardError` and is also remembered, so that the test fails even when the code under
test swallows the exception.  Session-scoped fixtures are set up outside any one test and are
not guarded.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

NETWORK = "network"
SUBPROCESS = "subprocess"

_SOCKET_CALLS = ("connect", "connect_ex", "bind")
_PROCESS_CALLS = ("posix_spawn", "posix_spawnp", "fork", "system", "execv", "execve", "execvp")


class UnitGuardError(AssertionError):
    """A unit test opened a socket or started a process without being marked for it."""


class Guard:
    """The refusals of one test."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self.violations: list[str] = []

    def refuser(self, what: str, marker: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            message = (
                f"{self.nodeid}: a unit test called {what} without @pytest.mark.{marker}; "
                f"mark it (it then belongs to the slower layers' kind) or move it to "
                "tests/integration"
            )
            self.violations.append(message)
            raise UnitGuardError(message)

        return refuse

    def install(self, monkeypatch: pytest.MonkeyPatch, *, network: bool, processes: bool) -> None:
        if not network:
            for name in _SOCKET_CALLS:
                monkeypatch.setattr(socket.socket, name, self.refuser(f"socket.{name}", NETWORK))
        if not processes:
            monkeypatch.setattr(
                subprocess.Popen, "__init__", self.refuser("subprocess.Popen", SUBPROCESS)
            )
            for name in _PROCESS_CALLS:
                if hasattr(os, name):
                    monkeypatch.setattr(os, name, self.refuser(f"os.{name}", SUBPROCESS))


@pytest.fixture(autouse=True)
def unit_guard(request: pytest.FixtureRequest) -> Iterator[Guard]:
    """Installed for every test under tests/unit (see tests/unit/conftest.py)."""
    guard = Guard(request.node.nodeid)
    with pytest.MonkeyPatch.context() as monkeypatch:
        guard.install(
            monkeypatch,
            network=request.node.get_closest_marker(NETWORK) is not None,
            processes=request.node.get_closest_marker(SUBPROCESS) is not None,
        )
        yield guard
    if guard.violations:
        pytest.fail(guard.violations[0], pytrace=False)
