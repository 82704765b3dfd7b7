"""The unit-test guard itself: an unmarked unit test that opens a socket or starts a process
fails; a marked one may (tests/helpers/unit_guard.py)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess

import pytest

from tests.helpers.unit_guard import Guard, UnitGuardError


def test_an_unmarked_test_may_not_bind_or_connect_a_socket(unit_guard: Guard) -> None:
    with socket.socket() as sock, pytest.raises(UnitGuardError, match=r"mark\.network"):
        sock.bind(("127.0.0.1", 0))
    with socket.socket() as sock, pytest.raises(UnitGuardError, match=r"socket\.connect"):
        sock.connect(("127.0.0.1", 9))
    # the test would fail at tear-down even had the code under test swallowed the error
    assert len(unit_guard.violations) == 2
    unit_guard.violations.clear()


def test_an_unmarked_test_may_not_start_a_process(unit_guard: Guard) -> None:
    with pytest.raises(UnitGuardError, match=r"mark\.subprocess"):
        subprocess.run(["true"], check=False)
    with pytest.raises(UnitGuardError, match=r"os\.posix_spawn"):
        os.posix_spawn("/bin/true", ["true"], {})
    assert len(unit_guard.violations) == 2
    unit_guard.violations.clear()


def test_a_swallowed_refusal_still_fails_the_test(pytester_free_guard: Guard) -> None:
    """A guard's recorded refusal is what fails the test at tear-down, so that code catching
    every exception cannot hide a socket from the guard."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        pytester_free_guard.install(monkeypatch, network=False, processes=False)
        with socket.socket() as sock, contextlib.suppress(Exception):
            sock.bind(("127.0.0.1", 0))  # the code under test swallows the refusal
    assert pytester_free_guard.violations
    assert "without @pytest.mark.network" in pytester_free_guard.violations[0]


@pytest.fixture
def pytester_free_guard() -> Guard:
    return Guard("an-inner-test")


@pytest.mark.network
def test_a_test_marked_network_may_bind_a_socket() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        assert sock.getsockname()[1] > 0


@pytest.mark.subprocess
def test_a_test_marked_subprocess_may_start_a_process() -> None:
    assert subprocess.run(["true"], check=False).returncode == 0
