"""The pieces behind clean operation: config loader messages, the run lock, the sweep, deferred
interruption, the status recorder's interrupted and kept records, the CLI's help and output.

D20 (exit codes), D21 (drop-ins).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sztp_client import interrupt
from sztp_client.cli.main import main
from sztp_client.cli.run import Timeline
from sztp_client.config import DEFAULT_CONFIG, load_config
from sztp_client.errors import (
    AlreadyRunningError,
    ConfigurationError,
    Interrupted,
    PermissionDeniedError,
)
from sztp_client.state.lock import RunLock, holder
from sztp_client.state.status import StatusRecorder, TimelineEvent
from sztp_client.state.store import ensure_dir, read_json
from sztp_client.state.sweep import sweep

# -- configuration loader ----------------------------------------------------------------------


def test_unknown_key_in_a_drop_in_names_the_file_and_the_nearest_key(tmp_path: Path) -> None:
    """D21: the drop-in that holds the typo is named, with the valid key it resembles."""
    main_file = tmp_path / "client.toml"
    main_file.write_text('[image]\ninstaller = "ab-directory"\n')
    dropins = tmp_path / "client.toml.d"
    dropins.mkdir()
    (dropins / "10-ok.toml").write_text("[retry]\ninitial = 2\n")
    (dropins / "20-typo.toml").write_text('[discovery]\nbootstrap-server = ["https://x"]\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(main_file)
    assert info.value.key == "discovery.bootstrap-server"
    assert str(dropins / "20-typo.toml") in info.value.message
    assert "did you mean discovery.bootstrap-servers?" in info.value.message


def test_unknown_key_without_a_near_one_lists_the_valid_keys(tmp_path: Path) -> None:
    main_file = tmp_path / "client.toml"
    main_file.write_text("[retry]\nzzz = 1\n")
    with pytest.raises(ConfigurationError) as info:
        load_config(main_file)
    assert f"unknown key in {main_file}" in info.value.message
    assert "the valid keys here are: initial, maximum" in info.value.message


def test_misspelt_table_is_suggested(tmp_path: Path) -> None:
    main_file = tmp_path / "client.toml"
    main_file.write_text("[discovry]\nmax-redirects = 2\n")
    with pytest.raises(ConfigurationError) as info:
        load_config(main_file)
    assert "did you mean discovery?" in info.value.message


def test_missing_file_is_said_as_such_when_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config(tmp_path / "client.toml", required=True)
    assert "does not exist" in info.value.message
    assert "--config" in info.value.message


def test_run_without_the_default_file_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run`` never bootstraps on built-in defaults: the missing default file is an error."""
    from sztp_client.cli import run as run_module

    monkeypatch.setattr(run_module, "DEFAULT_CONFIG", tmp_path / "client.toml")
    assert main(["run", "--once"]) == 78
    err = capsys.readouterr().err
    assert f"the configuration file {tmp_path / 'client.toml'} does not exist" in err


def test_status_without_the_default_file_reads_the_default_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sztp_client.cli import status as status_module

    monkeypatch.setattr(status_module, "DEFAULT_CONFIG", tmp_path / "client.toml")
    assert main(["status"]) == 0
    captured = capsys.readouterr()
    assert "reading the built-in default paths" in captured.err
    assert "state:" in captured.out


# -- permissions -------------------------------------------------------------------------------


def test_ensure_dir_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(PermissionDeniedError) as info:
        ensure_dir(tmp_path / "x", key="paths.cache-dir")
    assert info.value.exit_code == 77
    assert info.value.message.startswith("paths.cache-dir: cannot create")


def test_read_json_permission_denied_is_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    path.write_text("{}")

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(PermissionDeniedError):
        read_json(path)


# -- the run lock ------------------------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from sztp_client.state.lock import RunLock
lock = RunLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.mark.subprocess
def test_lock_refuses_a_second_holder_naming_its_pid(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as other:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "locked"
        assert holder(tmp_path) == other.pid
        with pytest.raises(AlreadyRunningError) as info:
            RunLock(tmp_path).acquire()
        assert info.value.pid == other.pid
        assert f"pid {other.pid}" in info.value.message
        assert info.value.exit_code == 75
        assert other.stdin is not None
        other.stdin.close()
        other.wait(30)
    # the holder is gone: the lock is free again, whatever the file holds
    assert holder(tmp_path) is None
    with RunLock(tmp_path):
        assert (tmp_path / "client.lock").read_text().strip() == str(os.getpid())
    assert holder(tmp_path) is None


def test_holder_without_a_lock_file_is_none(tmp_path: Path) -> None:
    assert holder(tmp_path) is None


# -- the sweep ---------------------------------------------------------------------------------


def test_sweep_removes_only_what_the_client_leaves(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    state = tmp_path / "state"
    for path in (
        cache / "images" / "boot-image-abcdefgh.download",
        cache / "scripts" / "sztp-post-script-abc" / "post-configuration-script",
        state / ".state.json.abcd_123",
        state / "state.json",
        state / ".state.json.keep-me-please",
        cache / "images" / "operator-notes.txt",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    removed = sweep(cache, [state / "state.json"])
    assert sorted(p.name for p in removed) == [
        ".state.json.abcd_123",
        "boot-image-abcdefgh.download",
        "sztp-post-script-abc",
    ]
    assert (state / "state.json").exists()
    assert (state / ".state.json.keep-me-please").exists()
    assert (cache / "images" / "operator-notes.txt").exists()
    assert sweep(tmp_path / "absent", [tmp_path / "absent" / "x"]) == []


# -- interruption ------------------------------------------------------------------------------


def test_signal_becomes_interrupted_once() -> None:
    with pytest.raises(Interrupted) as info, interrupt.interruptible():
        signal.raise_signal(signal.SIGTERM)
    assert info.value.exit_code == 143
    assert info.value.message == "interrupted by SIGTERM"
    assert not isinstance(info.value, Exception)  # no `except Exception` swallows it


def test_deferred_holds_the_interruption_until_the_block_ends() -> None:
    done: list[str] = []
    with pytest.raises(Interrupted) as info, interrupt.interruptible():
        with interrupt.deferred():
            signal.raise_signal(signal.SIGINT)
            done.append("finished the critical part")
            signal.raise_signal(signal.SIGINT)  # a second signal is ignored
        done.append("never")
    assert done == ["finished the critical part"]
    assert info.value.exit_code == 130


def test_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with interrupt.interruptible():
        pass
    assert signal.getsignal(signal.SIGTERM) is before


# -- status ------------------------------------------------------------------------------------


def _running_document(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "state": "running",
                "attempts": [{"server": "s", "hop": 0, "outcome": "running"}],
                "steps": [{"step": "boot-image", "outcome": "running"}],
                "reports": [],
            }
        )
    )


def test_stale_running_status_becomes_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    _running_document(path)
    recorder = StatusRecorder(path)
    assert recorder.recover_stale() is True
    document = json.loads(path.read_text())
    assert document["state"] == "interrupted"
    assert document["steps"][0]["outcome"] == "interrupted"
    assert document["attempts"][0]["outcome"] == "interrupted"
    assert StatusRecorder(path).recover_stale() is False


def test_status_command_shows_a_killed_run_as_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "client.toml"
    config.write_text('[paths]\nrun-dir = "run"\nstate-dir = "state"\n')
    (tmp_path / "run").mkdir()
    _running_document(tmp_path / "run" / "status.json")
    assert main(["status", "--json", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "interrupted"
    with RunLock(tmp_path / "run"):  # a run holds the lock: it is running
        assert main(["status", "--json", "--config", str(config)]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["state"] == "running"
        assert document["pid"] == os.getpid()


def test_interrupted_run_marks_what_was_running(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    recorder = StatusRecorder(path)
    recorder.run_started(bootstrapped=False)
    recorder.attempt_started("well-known", "https://s", "127.0.0.1", "trusted", 0)
    recorder.step_started("pre-script")
    recorder.interrupted("interrupted by SIGTERM")
    document = json.loads(path.read_text())
    assert document["state"] == "interrupted"
    assert [s["outcome"] for s in document["steps"]] == ["interrupted"]
    assert [a["outcome"] for a in document["attempts"]] == ["interrupted"]


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["status", "--help"]])
def test_help_shows_exit_codes_and_the_default_config(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    out = capsys.readouterr().out
    assert str(DEFAULT_CONFIG) in out
    for code in ("64", "65", "69", "70", "75", "77", "78", "130", "143"):
        assert f"  {code} " in out or f"{code}:" in out, code


def test_every_option_of_every_command_has_help() -> None:
    from sztp_client.cli.main import COMMANDS, build_parser

    parser = build_parser(COMMANDS)
    sub = next(a for a in parser._actions if a.dest == "command")
    parsers = [parser, *sub.choices.values()]  # type: ignore[union-attr]
    for each in parsers:
        for action in each._actions:
            if action.dest in ("help", "command"):
                continue
            assert action.help, f"{each.prog} {action.option_strings or action.dest}"


def test_verify_help_shows_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = capsys.readouterr().out
    for code in ("0", "64", "65", "66", "70", "78"):
        assert f"  {code} " in out, code


class _Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_timeline_survives_a_broken_stream() -> None:
    timeline = Timeline(_Broken())
    timeline(TimelineEvent("info", "hello", {}))
    assert timeline.broken
    timeline(TimelineEvent("info", "again", {}))  # silently dropped


@pytest.mark.subprocess
def test_status_does_not_load_cryptography() -> None:
    """``status`` reads files only: no cryptography, TLS or HTTP code is imported."""
    probe = (
        "import sys\n"
        "from sztp_client.cli.main import main\n"
        "main(['status', '--config', '/nonexistent/client.toml'])\n"
        "heavy = {'cryptography', 'urllib3', 'ssl'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines()[-1] == "[]"
