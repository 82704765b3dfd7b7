"""Configuration appliers: commit, rollback, discard with real commands and files (R-075,
R-080, D25)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sztp_client.actions import configuration
from sztp_client.actions.configuration import (
    BACKUP_SUFFIX,
    Applier,
    CommandApplier,
    FileApplier,
)
from sztp_client.errors import ConfigApplyError
from sztp_client.model.conveyed import ConfigurationHandling
from sztp_client.progress import ProgressType
from sztp_client.state import store

MERGE = ConfigurationHandling.MERGE
REPLACE = ConfigurationHandling.REPLACE


def write_tool(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o700)
    return path


# -- command -----------------------------------------------------------------------------------


@pytest.fixture
def device(tmp_path: Path) -> Path:
    """A "running configuration" file that the device's commit and rollback tools manage."""
    running = tmp_path / "running.conf"
    running.write_text("hostname factory\n")
    write_tool(
        tmp_path / "commit.sh",
        f"cp {running} {running}.saved\n"
        f'echo "handling=$2 env=$SZTP_CONFIG_HANDLING same=$([ "$1" = "$SZTP_CONFIG" ] && echo y)"'
        f" > {tmp_path}/commit.log\n"
        f'stat -c %a "$1" >> {tmp_path}/commit.log\n'
        f'if [ "$2" = replace ]; then cat "$1" > {running}; else cat "$1" >> {running}; fi\n',
    )
    write_tool(tmp_path / "rollback.sh", f"mv {running}.saved {running}\n")
    return tmp_path


@pytest.mark.subprocess
def test_command_commit_merge_and_rollback(device: Path) -> None:
    running = device / "running.conf"
    work = device / "work"
    applier = CommandApplier(
        [str(device / "commit.sh"), "{config}", "{handling}"],
        [str(device / "rollback.sh")],
        work_dir=work,
    )
    assert applier.name == "command"
    applier.commit(b"ntp server 192.0.2.1\n", MERGE)
    assert running.read_text() == "hostname factory\nntp server 192.0.2.1\n"
    assert (device / "commit.log").read_text() == "handling=merge env=merge same=y\n600\n"
    assert list(work.iterdir()) == []  # the configuration file does not linger
    applier.rollback()
    assert running.read_text() == "hostname factory\n"
    applier.rollback()  # nothing left to roll back: no-op
    assert running.read_text() == "hostname factory\n"


@pytest.mark.subprocess
def test_command_commit_replace_and_discard(device: Path) -> None:
    running = device / "running.conf"
    applier = CommandApplier(
        [str(device / "commit.sh"), "{config}", "{handling}"],
        [str(device / "rollback.sh")],
        work_dir=device / "work",
    )
    applier.commit(b"hostname sw1\n", REPLACE)
    assert running.read_text() == "hostname sw1\n"
    applier.discard()
    applier.rollback()  # discarded: nothing to roll back
    assert running.read_text() == "hostname sw1\n"


@pytest.mark.subprocess
def test_command_config_path_appended(tmp_path: Path) -> None:
    log = tmp_path / "log"
    tool = write_tool(tmp_path / "apply.sh", f'echo "$#:$1:$(cat "$2")" > {log}\n')
    CommandApplier([str(tool), "apply"], None, work_dir=tmp_path / "w").commit(b"cfg", REPLACE)
    assert log.read_text() == "2:apply:cfg\n"


@pytest.mark.subprocess
def test_command_commit_failure(device: Path) -> None:
    tool = write_tool(device / "bad.sh", "echo 'line 3: syntax error' >&2\nexit 4\n")
    applier = CommandApplier([str(tool)], [str(device / "rollback.sh")], work_dir=device / "w")
    with pytest.raises(ConfigApplyError) as info:
        applier.commit(b"garbage", MERGE)
    assert "exited with status 4" in info.value.message
    assert "line 3: syntax error" in info.value.message
    assert info.value.reported_as() is ProgressType.CONFIG_ERROR
    assert list((device / "w").iterdir()) == []
    applier.rollback()  # the commit did not happen: the rollback command is not run
    assert not (device / "running.conf.saved").exists()


@pytest.mark.subprocess
def test_command_commit_timeout(tmp_path: Path) -> None:
    tool = write_tool(tmp_path / "slow.sh", "sleep 30\n")
    applier = CommandApplier([str(tool)], None, work_dir=tmp_path / "w", timeout=0.3)
    with pytest.raises(ConfigApplyError, match="timed out"):
        applier.commit(b"x", MERGE)


@pytest.mark.subprocess
def test_command_without_rollback_command(device: Path) -> None:
    applier = CommandApplier([str(device / "commit.sh")], None, work_dir=device / "w")
    applier.commit(b"x\n", MERGE)
    with pytest.raises(ConfigApplyError, match="no rollback command configured"):
        applier.rollback()


@pytest.mark.subprocess
def test_command_rollback_failure(device: Path) -> None:
    bad = write_tool(device / "bad-rollback.sh", "echo 'no snapshot' ; exit 1\n")
    applier = CommandApplier([str(device / "commit.sh")], [str(bad)], work_dir=device / "w")
    applier.commit(b"x\n", MERGE)
    with pytest.raises(ConfigApplyError, match="no snapshot"):
        applier.rollback()


# -- file --------------------------------------------------------------------------------------


def test_file_replace_and_rollback(tmp_path: Path) -> None:
    target = tmp_path / "device.conf"
    target.write_bytes(b"old content\n")
    target.chmod(0o640)
    applier: Applier = FileApplier(target)
    assert applier.name == "file"
    applier.commit(b"new content\n", REPLACE)
    assert target.read_bytes() == b"new content\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    backup = tmp_path / ("device.conf" + BACKUP_SUFFIX)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    applier.rollback()
    assert target.read_bytes() == b"old content\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.conf"]


def test_file_commit_when_absent_then_rollback_removes(tmp_path: Path) -> None:
    target = tmp_path / "device.json"
    applier = FileApplier(target, mode=0o644)
    applier.commit(b'{"a": 1}', MERGE)  # no existing file: merge is a plain write
    assert target.read_bytes() == b'{"a": 1}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    applier.rollback()
    assert list(tmp_path.iterdir()) == []


def test_file_merge_json(tmp_path: Path) -> None:
    target = tmp_path / "device.json"
    existing = {"system": {"hostname": "factory", "ntp": ["192.0.2.1"]}, "keep": True}
    target.write_text(json.dumps(existing))
    applier = FileApplier(target)
    new = {"system": {"hostname": "sw1", "ntp": ["192.0.2.9"], "domain": "example"}, "x": None}
    applier.commit(json.dumps(new).encode(), MERGE)
    assert json.loads(target.read_text()) == {
        "system": {"hostname": "sw1", "ntp": ["192.0.2.9"], "domain": "example"},
        "keep": True,
        "x": None,
    }
    applier.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.json"]
    applier.rollback()  # discarded: nothing to restore
    assert json.loads(target.read_text())["system"]["hostname"] == "sw1"


@pytest.mark.parametrize(
    ("existing", "configuration"),
    [
        (b'{"a": 1}', b"hostname sw1\n"),
        (b"hostname factory\n", b'{"a": 1}'),
        (b"[1, 2]", b'{"a": 1}'),
        (b'{"a": 1}', b'"text"'),
        (b'{"a": 1, "a": 2}', b'{"b": 1}'),
    ],
)
def test_file_merge_needs_json_objects(
    tmp_path: Path, existing: bytes, configuration: bytes
) -> None:
    target = tmp_path / "device.conf"
    target.write_bytes(existing)
    applier = FileApplier(target)
    with pytest.raises(ConfigApplyError, match="merge needs JSON objects for the file applier"):
        applier.commit(configuration, MERGE)
    assert target.read_bytes() == existing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.conf"]
    applier.rollback()  # nothing was committed
    assert target.read_bytes() == existing


def test_file_rollback_after_crash_from_backup(tmp_path: Path) -> None:
    """The backup file alone is enough: a new applier (after a restart) rolls back."""
    target = tmp_path / "device.conf"
    target.write_bytes(b"before bootstrap\n")
    FileApplier(target).commit(b"bootstrapped\n", REPLACE)
    # the process "crashes" here; a new one starts
    restarted = FileApplier(target)
    restarted.rollback()
    assert target.read_bytes() == b"before bootstrap\n"
    assert not (tmp_path / ("device.conf" + BACKUP_SUFFIX)).exists()


def test_file_rollback_after_crash_restores_absence(tmp_path: Path) -> None:
    target = tmp_path / "device.conf"
    FileApplier(target).commit(b"bootstrapped\n", REPLACE)
    FileApplier(target).rollback()
    assert list(tmp_path.iterdir()) == []


def test_file_commit_after_crash_keeps_oldest_backup(tmp_path: Path) -> None:
    """A backup left by an unfinished commit is the state before bootstrapping: kept."""
    target = tmp_path / "device.conf"
    target.write_bytes(b"factory\n")
    FileApplier(target).commit(b"first attempt\n", REPLACE)
    again = FileApplier(target)
    again.commit(b"second attempt\n", REPLACE)
    again.rollback()
    assert target.read_bytes() == b"factory\n"


def test_file_refuses_foreign_backup(tmp_path: Path) -> None:
    target = tmp_path / "device.conf"
    target.write_bytes(b"current\n")
    (tmp_path / ("device.conf" + BACKUP_SUFFIX)).write_bytes(b"something else\n")
    with pytest.raises(ConfigApplyError, match="not a backup this client wrote"):
        FileApplier(target).rollback()
    assert target.read_bytes() == b"current\n"


def test_file_unreadable_target(tmp_path: Path) -> None:
    target = tmp_path / "dir-in-the-way"
    target.mkdir()
    with pytest.raises(ConfigApplyError, match="cannot read"):
        FileApplier(target).commit(b"x", REPLACE)
    assert target.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir-in-the-way"]


def test_file_write_failure_leaves_no_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "device.conf"
    target.write_bytes(b"current\n")
    real_write = store.write_atomic

    def failing_write(path: Path, data: bytes, mode: int = 0o600) -> None:
        if path == target:
            raise OSError(28, "No space left on device")
        real_write(path, data, mode)

    monkeypatch.setattr(configuration, "write_atomic", failing_write)
    applier = FileApplier(target)
    with pytest.raises(ConfigApplyError, match="No space left on device"):
        applier.commit(b"new\n", REPLACE)
    assert target.read_bytes() == b"current\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.conf"]
