"""Pre-/post-configuration scripts run as real processes (R-074, R-076, D3, D4)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from sztp_client.actions import CLEAN_PATH, process, scripts
from sztp_client.actions.process import run_process
from sztp_client.actions.scripts import ScriptPolicy, run_script
from sztp_client.errors import ScriptError
from sztp_client.progress import ProgressType

ENV = {"SZTP_SERIAL_NUMBER": "SN-0042", "SZTP_BOOTSTRAP_SERVER": "https://sztp.example:8443"}


def run(
    tmp_path: Path,
    script: bytes,
    *,
    stage: scripts.ScriptStage = "pre",
    policy: ScriptPolicy | None = None,
) -> scripts.ScriptResult:
    return run_script(
        stage,
        script,
        policy=policy or ScriptPolicy(timeout=30),
        work_parent=tmp_path,
        environment=ENV,
    )


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie counts as gone: it runs nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" in state.split()[1]


@pytest.mark.subprocess
def test_exit_zero_is_success(tmp_path: Path) -> None:
    """D3: status 0 = success; output captured (stdout and stderr)."""
    result = run(tmp_path, b"echo out; echo err >&2; exit 0\n")
    assert result == scripts.ScriptResult("pre", warning=False, exit_code=0, output="out\nerr\n")
    assert list(tmp_path.iterdir()) == []  # the working directory is removed


@pytest.mark.subprocess
def test_warning_code_continues_with_output(tmp_path: Path) -> None:
    """D3: status 10 = warning (soft error) with the output kept for the report."""
    result = run(tmp_path, b"echo 'disk almost full'\nexit 10\n", stage="post")
    assert result.warning is True
    assert result.exit_code == 10
    assert result.stage == "post"
    assert result.output == "disk almost full\n"


@pytest.mark.subprocess
def test_warning_codes_are_configurable(tmp_path: Path) -> None:
    policy = ScriptPolicy(timeout=30, warning_codes=frozenset({3}))
    assert run(tmp_path, b"exit 3\n", policy=policy).warning
    with pytest.raises(ScriptError):
        run(tmp_path, b"exit 10\n", policy=policy)


@pytest.mark.subprocess
def test_other_status_is_error(tmp_path: Path) -> None:
    """D3: any other status = error carrying the status and the output tail."""
    with pytest.raises(ScriptError) as info:
        run(tmp_path, b"echo 'cannot reach NTP'\nexit 1\n")
    assert info.value.stage == "pre"
    assert "exited with status 1" in info.value.message
    assert "pre-configuration script" in info.value.message
    assert info.value.output == "cannot reach NTP\n"
    assert info.value.reported_as() is ProgressType.PRE_SCRIPT_ERROR
    assert list(tmp_path.iterdir()) == []


@pytest.mark.subprocess
def test_post_script_error_is_reported_as_post(tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as info:
        run(tmp_path, b"exit 2\n", stage="post")
    assert info.value.reported_as() is ProgressType.POST_SCRIPT_ERROR


@pytest.mark.subprocess
def test_signal_is_error(tmp_path: Path) -> None:
    """D3: a script ended by a signal is an error naming the signal."""
    with pytest.raises(ScriptError) as info:
        run(tmp_path, b"echo before\nkill -TERM $$\nsleep 5\n")
    assert "signal SIGTERM (15)" in info.value.message
    assert info.value.output == "before\n"


@pytest.mark.subprocess
def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """D4: at the timeout the script and the processes it started are killed."""
    pid_file = tmp_path / "child.pid"
    script = f"echo started\nsleep 300 &\necho $! > {pid_file}\nwait\n".encode()
    started = time.monotonic()
    with pytest.raises(ScriptError) as info:
        run(tmp_path, script, policy=ScriptPolicy(timeout=1.0))
    elapsed = time.monotonic() - started
    assert elapsed < 10
    assert "timed out after 1 s" in info.value.message
    assert info.value.output == "started\n"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not process_gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(child)
    assert [p.name for p in tmp_path.iterdir()] == ["child.pid"]


@pytest.mark.subprocess
def test_huge_output_keeps_only_the_tail(tmp_path: Path) -> None:
    """D4: 200 MB of output costs no memory; the last bytes are kept, bounded."""
    limit = 4096
    script = b"head -c 200000000 /dev/zero | tr '\\0' 'x'\necho\necho THE-END\n"
    result = run(tmp_path, script, policy=ScriptPolicy(timeout=60, output_limit=limit))
    assert len(result.output) <= limit
    assert result.output.endswith("x\nTHE-END\n")
    # 200000009 bytes written; the note says exactly how many are not shown
    note, shown = result.output.split("\n", 1)
    assert note == f"[{200000009 - len(shown)} earlier bytes of output omitted]"


@pytest.mark.subprocess
def test_output_not_utf8_is_replaced(tmp_path: Path) -> None:
    result = run(tmp_path, b"printf 'a\\377b'\n")
    assert result.output == "a\ufffdb"


@pytest.mark.subprocess
def test_shebang_with_usr_bin_env(tmp_path: Path) -> None:
    """D4: the interpreter comes from the #! line; /usr/bin/env is an absolute path."""
    assert Path("/usr/bin/env").exists() and Path("/usr/bin/python3").exists()
    script = b"#!/usr/bin/env python3\nimport sys\nprint('py', sys.version_info[0])\n"
    assert run(tmp_path, script).output == "py 3\n"


@pytest.mark.subprocess
def test_shebang_absolute_python_with_argument(tmp_path: Path) -> None:
    script = f"#!{sys.executable} -B\nimport sys\nprint(int(sys.dont_write_bytecode))\n".encode()
    assert run(tmp_path, script).output == "1\n"


def test_shebang_relative_interpreter_refused(tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as info:
        run(tmp_path, b"#!python3\nprint('x')\n")
    assert "absolute path" in info.value.message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.subprocess
def test_shebang_missing_interpreter(tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as info:
        run(tmp_path, b"#!/nonexistent/interpreter\n")
    assert "cannot start" in info.value.message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.subprocess
def test_no_shebang_runs_with_bin_sh(tmp_path: Path) -> None:
    """D4: no #! line: /bin/sh runs the script ($0 is the script file)."""
    result = run(tmp_path, b'echo "$0"\n')
    assert result.output.strip().endswith("/pre-configuration-script")


@pytest.mark.subprocess
def test_environment_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """D4: only PATH, HOME (the work dir), LANG, SZTP_STAGE and the SZTP_* passed in."""
    monkeypatch.setenv("LEAKED_SECRET", "do-not-pass")
    monkeypatch.setenv("HOME", "/root/leaked-home")
    result = run(tmp_path, b'env; echo "PWD=$(pwd -P)"\n', stage="post")
    lines = result.output.splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line and line[0] != "_")
    cwd = env.pop("PWD")
    # sh itself may export PWD, SHLVL and _; nothing else may appear
    env.pop("SHLVL", None)
    assert env == {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": cwd,
        "LANG": "C.UTF-8",
        "SZTP_STAGE": "post-configuration",
        "SZTP_SERIAL_NUMBER": "SN-0042",
        "SZTP_BOOTSTRAP_SERVER": "https://sztp.example:8443",
    }
    assert Path(cwd).parent == tmp_path.resolve()
    assert "leaked" not in result.output.lower()


def test_environment_refuses_other_names(tmp_path: Path) -> None:
    for bad in ({"HOME": "/x"}, {"PATH": "/x"}, {"SZTP_STAGE": "x"}, {"sztp_lower": "x"}):
        with pytest.raises(ValueError):
            run_script(
                "pre", b"exit 0\n", policy=ScriptPolicy(), work_parent=tmp_path, environment=bad
            )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.subprocess
def test_private_work_dir_and_file_modes_while_running(tmp_path: Path) -> None:
    """D4: the script file is 0700 and its working directory private (0700); stdin is empty."""
    script = b'stat -c %a "$0"; stat -c %a .; cat; echo "stdin-done"\n'
    result = run(tmp_path, script)
    assert result.output == "700\n700\nstdin-done\n"


@pytest.mark.subprocess
def test_work_dir_removed_even_when_script_locks_it(tmp_path: Path) -> None:
    """A script that makes its files unreadable still leaves nothing behind."""
    script = b"mkdir -p deep/er && touch deep/er/f && chmod 000 deep/er deep\nexit 1\n"
    with pytest.raises(ScriptError):
        run(tmp_path, script)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.subprocess
def test_empty_script_succeeds(tmp_path: Path) -> None:
    assert run(tmp_path, b"").exit_code == 0


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        ScriptPolicy(timeout=0)
    with pytest.raises(ValueError):
        ScriptPolicy(output_limit=0)
    with pytest.raises(ValueError):
        ScriptPolicy(warning_codes=frozenset({0}))


@pytest.mark.subprocess
def test_run_process_stops_reading_when_the_command_exits(tmp_path: Path) -> None:
    """A background process that keeps the pipe open does not hold the caller up."""
    pid_file = tmp_path / "bg.pid"
    started = time.monotonic()
    outcome = run_process(
        ["/bin/sh", "-c", f"sleep 30 & echo $! > {pid_file}; echo done"],
        env={"PATH": CLEAN_PATH},
        cwd=tmp_path,
        timeout=20,
    )
    assert time.monotonic() - started < 10
    assert outcome.returncode == 0
    assert not outcome.timed_out
    assert outcome.output == b"done\n"
    os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.mark.subprocess
def test_run_process_outcome_describe(tmp_path: Path) -> None:
    env = {"PATH": CLEAN_PATH}
    assert run_process(
        ["/bin/sh", "-c", "exit 7"], env=env, cwd=tmp_path, timeout=10
    ).describe() == ("exited with status 7")
    killed = run_process(["/bin/sh", "-c", "kill -9 $$"], env=env, cwd=tmp_path, timeout=10)
    assert killed.signal_number == 9
    assert killed.describe() == "was killed by signal SIGKILL (9)"


def test_output_text_does_not_start_inside_a_utf8_sequence() -> None:
    outcome = process.ProcessOutcome(
        returncode=0,
        timed_out=False,
        output="é".encode() * 100,
        omitted=1000,
        timeout=1,
        output_limit=100,
    )
    text = outcome.text()
    note, shown = text.split("\n", 1)
    assert "\ufffd" not in shown
    assert shown == "é" * (len(shown.encode()) // 2)
    assert note == f"[{1000 + 200 - len(shown.encode())} earlier bytes of output omitted]"
    assert len(text.encode()) <= 100


@pytest.mark.subprocess
def test_run_process_without_pidfd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels without pidfd_open: the runner polls instead, with the same results."""

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    env = {"PATH": CLEAN_PATH}
    done = run_process(
        ["/bin/sh", "-c", "echo a; exec 1>&- 2>&-; sleep 0.3; exit 4"],
        env=env,
        cwd=tmp_path,
        timeout=10,
    )
    assert (done.returncode, done.timed_out, done.output) == (4, False, b"a\n")
    late = run_process(["/bin/sh", "-c", "echo b; sleep 30"], env=env, cwd=tmp_path, timeout=0.3)
    assert late.timed_out
    assert late.output == b"b\n"
    assert late.signal_number == 9
