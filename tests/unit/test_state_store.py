"""The state store's files, which carry a run across the reboot (D24): atomic replacement, private
modes, bounded reads, and a format that a newer client reads and writes byte for byte alike."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sztp_client.errors import InternalError
from sztp_client.state import state_file
from sztp_client.state.device import DeviceState, InstalledImage, StateStore
from sztp_client.state.store import (
    MAX_STATE_FILE,
    atomic_file,
    read_json,
    write_atomic,
    write_json,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_file_replaces_the_file_with_a_private_mode(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    with atomic_file(target) as handle:
        handle.write(b"new ")
        handle.write(b"content")
        assert target.read_bytes() == b"old"  # nothing visible before the block ends
    assert target.read_bytes() == b"new content"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_atomic_file_keeps_the_old_file_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), atomic_file(target) as handle:
        handle.write(b"half")
        raise Boom
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_atomic_file_creates_missing_directories_private(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file"
    write_atomic(target, b"x", mode=0o640)
    assert target.read_bytes() == b"x"
    assert _mode(target) == 0o640
    assert _mode(target.parent) == 0o700


def test_json_round_trip_and_absent_file(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    assert read_json(target) is None
    write_json(target, {"b": 1, "a": [True, None]})
    assert read_json(target) == {"a": [True, None], "b": 1}
    assert target.read_text().endswith("\n")


def test_read_json_refuses_a_file_over_the_bound(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(json.dumps("x" * MAX_STATE_FILE).encode())
    with pytest.raises(InternalError, match="larger than"):
        read_json(target)


@pytest.mark.parametrize("content", [b"{", b"\xff\xfe", b""])
def test_read_json_refuses_a_damaged_file_with_advice(tmp_path: Path, content: bytes) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(content)
    with pytest.raises(InternalError, match="move it away"):
        read_json(target)


#: ``state.json`` as the client has always written it: keys sorted, two-space indent, a final
#: newline, every image key present (null when unknown)
STATE_FILE = """\
{
  "bootstrapped": true,
  "bootstrapped-at": "2026-01-02T03:04:05Z",
  "images": [
    {
      "boot-id": "boot-1",
      "installed-at": "2026-01-02T03:00:00Z",
      "os-name": "Linux",
      "os-version": "6.1",
      "sha256": "abababababababababababababababababababababababababababababababab"
    },
    {
      "boot-id": null,
      "installed-at": "2026-01-01T00:00:00Z",
      "os-name": null,
      "os-version": null,
      "sha256": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
    }
  ],
  "rebooting": false,
  "version": 1
}
"""

STATE = DeviceState(
    bootstrapped=True,
    bootstrapped_at="2026-01-02T03:04:05Z",
    images=[
        InstalledImage("ab" * 32, "boot-1", "2026-01-02T03:00:00Z", "Linux", "6.1"),
        InstalledImage("cd" * 32, None, "2026-01-01T00:00:00Z"),
    ],
)


def test_device_state_is_written_in_the_established_format(tmp_path: Path) -> None:
    """D24: a state file written before an upgrade is read after it, and written back the
    same, byte for byte."""
    StateStore(tmp_path).save(STATE)
    assert (tmp_path / "state.json").read_text() == STATE_FILE
    assert _mode(tmp_path / "state.json") == 0o600
    assert StateStore(tmp_path).load() == STATE


def test_device_state_reads_an_old_file_and_writes_it_back_unchanged(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(STATE_FILE)
    state = StateStore(tmp_path).load()
    assert state == STATE
    state.rebooting = True  # the state is changed in place by the executor, then saved
    StateStore(tmp_path).save(state)
    assert json.loads((tmp_path / "state.json").read_text())["rebooting"] is True
    state.rebooting = False
    StateStore(tmp_path).save(state)
    assert (tmp_path / "state.json").read_text() == STATE_FILE


@pytest.mark.parametrize("document", ["[]", "null", "{}", '{"version": 1}'])
def test_device_state_of_an_unexpected_document_is_the_fresh_state(
    tmp_path: Path, document: str
) -> None:
    (tmp_path / "state.json").write_text(document)
    assert StateStore(tmp_path).load() == DeviceState()


#: a file with entries left out (an older or hand-written one) and an unknown key
SPARSE_FILE = json.dumps(
    {
        "bootstrapped": 1,
        "images": [{"sha256": "ab" * 32, "boot-id": "boot-1"}],
        "unknown": "dropped",
    }
)


@pytest.mark.parametrize(
    "text", [STATE_FILE, SPARSE_FILE, "[]", "{}"], ids=["full", "sparse", "list", "empty"]
)
def test_status_reads_the_state_file_as_the_run_does(tmp_path: Path, text: str) -> None:
    """D24: ``status`` reads state.json without the run's records (start-up); what it reads
    is what the run's :class:`DeviceState` reads and would write back."""
    (tmp_path / "state.json").write_text(text)
    assert state_file.read_state(tmp_path) == StateStore(tmp_path).load().to_json()


def test_status_reads_the_established_format_unchanged(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(STATE_FILE)
    document = state_file.read_state(tmp_path)
    assert json.dumps(document, indent=2, sort_keys=True) + "\n" == STATE_FILE


def test_status_reads_no_state_file_as_the_fresh_state(tmp_path: Path) -> None:
    assert state_file.read_state(tmp_path) == DeviceState().to_json()
    assert state_file.read_state(tmp_path)[state_file.BOOTSTRAPPED] is False
