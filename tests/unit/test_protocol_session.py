"""The session machine's table itself, and the image and reboot decisions (D17, D24)."""

from __future__ import annotations

import subprocess
import sys

import msgspec
import pytest

from sztp_client.errors import BootImageError, ConnectError
from sztp_client.model.conveyed import SHA_256, BootImage, ImageVerification
from sztp_client.model.server_uri import ServerEndpoint
from sztp_client.protocol import session_events as s
from sztp_client.protocol.image_policy import RunningSystem, decide_image, reboot_pending
from sztp_client.protocol.onboarding import ProtocolError
from sztp_client.protocol.outcome import RunOutcome
from sztp_client.protocol.session import Session, transitions

ENDPOINT = ServerEndpoint("boot.example", 443)
DIGEST = bytes(range(32))


def _session(*endpoints: ServerEndpoint) -> Session:
    return Session([s.WellKnownServers(endpoints)], max_hops=2)


def test_illegal_event_raises_and_leaves_the_state() -> None:
    session = _session(ENDPOINT)
    with pytest.raises(ProtocolError):
        session.handle(s.Resolved(("192.0.2.1",), (DIGEST,)))
    assert session.state is s.SessionState.IDLE


def test_a_pass_with_no_source_ends_with_nothing() -> None:
    session = Session([s.WellKnownServers(())])
    [fetch] = session.handle(s.Begin())
    assert isinstance(fetch, s.FetchSource) and not fetch.source.detect()
    notice, ended = session.handle(s.SourceAbsent())
    assert notice == s.Notice("no bootstrapping data from any source: configured: not present")
    assert ended == s.PassEnded(RunOutcome.NOTHING, None)
    assert session.finished


def test_the_walk_in_actions() -> None:
    """Resolve, then one attempt per address, each with its own nonce (no randomness here)."""
    session = _session(ENDPOINT)
    session.handle(s.Begin())
    [resolve] = session.handle(s.SourceFetched((s.ServerCandidate(ENDPOINT),)))
    assert resolve == s.Resolve("boot.example", 443)
    started, request = session.handle(
        s.Resolved(("192.0.2.1", "192.0.2.2"), (b"a" * 32, b"b" * 32))
    )
    assert isinstance(started, s.AttemptStarted) and started.address == "192.0.2.1"
    assert isinstance(request, s.Request) and request.body.nonce == b"a" * 32
    error = ConnectError("refused")
    ended, started, request = session.handle(s.RequestFailed(error))
    assert ended == s.AttemptEnded("error", error)
    assert isinstance(request, s.Request) and request.body.nonce == b"b" * 32
    ended, notice, passed = session.handle(s.RequestFailed(error))
    assert isinstance(notice, s.Notice) and "1 server, none gave" in notice.text
    assert passed == s.PassEnded(RunOutcome.NOTHING, error)


def test_a_resolve_failure_is_recorded_and_the_walk_goes_on() -> None:
    other = ServerEndpoint("two.example", 443)
    session = _session(ENDPOINT, other)
    session.handle(s.Begin())
    session.handle(s.SourceFetched((s.ServerCandidate(ENDPOINT), s.ServerCandidate(other))))
    actions = session.handle(s.ResolveFailed(ConnectError("no such host")))
    assert [type(a) for a in actions] == [s.AttemptStarted, s.AttemptEnded, s.Resolve]


def test_transitions_are_the_table() -> None:
    rows = transitions()
    assert ("idle", "Begin", "next-source") in rows
    assert ("requesting", "DataReceived", "onboarding") in rows
    states = {row[0] for row in rows} | {row[2] for row in rows}
    assert states == {state.value for state in s.SessionState}
    assert not [row for row in rows if row[0] == "done"]  # the terminal state has no row


def _image(name: str | None = "VendorOS", version: str | None = "17.3") -> BootImage:
    return BootImage(name, version, ("https://x.example/i",), (ImageVerification(SHA_256, DIGEST),))


class _Installed(msgspec.Struct):
    sha256: str
    boot_id: str | None


def test_image_not_needed_when_the_running_system_matches() -> None:
    """D17."""
    decision = decide_image(_image(), RunningSystem("VendorOS", "17.3"), [], "boot-1")
    assert not decision.needed and "VendorOS 17.3" in decision.reason


def test_image_needed_unless_installed_and_booted() -> None:
    """D24: an image that names no version is installed once; after the reboot into it, not
    again."""
    image = _image(None, None)
    running = RunningSystem("VendorOS", "17.3")
    assert decide_image(image, running, [], "boot-1").needed
    installed = [_Installed(DIGEST.hex(), "boot-1")]
    assert decide_image(image, running, installed, "boot-1").needed  # not booted yet
    assert not decide_image(image, running, installed, "boot-2").needed


def test_an_image_that_cannot_be_verified_is_refused() -> None:
    """R-071."""
    with pytest.raises(BootImageError):
        decide_image(
            BootImage("X", "2", ("https://x.example/i",)), RunningSystem("X", "1"), [], None
        )


def test_reboot_not_happened() -> None:
    """The boot id is unchanged since the install: the reboot did not happen."""
    installed = [_Installed(DIGEST.hex(), "boot-1")]
    assert reboot_pending(True, installed, "boot-1")
    assert not reboot_pending(True, installed, "boot-2")
    assert not reboot_pending(False, installed, "boot-1")
    assert not reboot_pending(True, [], "boot-1")
    assert not reboot_pending(True, installed, None)


def test_sources_in_order_an_absent_one_skipped() -> None:
    """R-004, R-005: sources are tried in order; one that detects nothing is passed over."""
    absent = s.WellKnownServers((), name="empty source")
    present = s.WellKnownServers((ENDPOINT,))
    session = Session([absent, present])
    [fetch] = session.handle(s.Begin())
    assert isinstance(fetch, s.FetchSource) and fetch.source is absent
    [fetch] = session.handle(s.SourceAbsent())
    assert isinstance(fetch, s.FetchSource) and fetch.source is present
    [resolve] = session.handle(s.SourceFetched(tuple(present.fetch())))
    assert resolve == s.Resolve("boot.example", 443)
    started, _request = session.handle(s.Resolved(("192.0.2.1",), (DIGEST,)))
    assert isinstance(started, s.AttemptStarted) and started.source == present.name


@pytest.mark.subprocess
def test_running_a_pass_never_loads_the_diagram_tool() -> None:
    """The machines draw their diagrams only when asked (the docs and the lint): a pass does
    not import the diagram tool."""
    code = (
        "import sys, sztp_client.runner, sztp_client.protocol.onboarding;"
        "print('sztp_client.protocol.graph' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
