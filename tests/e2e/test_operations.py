"""Operating the client as an operator does: stopping it, starting it twice, a reboot that did not
happen, a broken output stream, running it again on a bootstrapped device.

The real ``sztp-client`` process against real servers on loopback.  No timing: each test waits
for an observable event (the file server has sent the first bytes of the image, a command
wrote its pid) before it sends a signal, with generous timeouts.

R-011, R-015, R-069..R-073, D2, D17, D20, D24.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sztp_lab.pki import make_end_entity, utcnow
from sztp_lab.scenario import Device
from sztp_lab.server import LabBootstrapServer, LabFileServer, Response
from tests.e2e.conftest import Env, Image
from tests.helpers.slow_files import SlowFileServer

pytestmark = pytest.mark.integration

WAIT = 90.0


# -- helpers ------------------------------------------------------------------------------------


def client_command(device: Device, *args: str) -> list[str]:
    script = Path(sys.executable).parent / "sztp-client"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sztp_client"]
    return [*command, *args, "--config", str(device.config_path)]


def start(device: Device, *args: str) -> subprocess.Popen[str]:
    """``sztp-client ARGS`` as a process the test can signal."""
    return subprocess.Popen(
        client_command(device, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll ``condition`` until it holds (synchronisation, not a timing assertion)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def cache(device: Device, sub: str) -> list[Path]:
    directory = device.root / "var" / "cache" / "sztp" / sub
    return sorted(directory.iterdir()) if directory.exists() else []


def leftovers(device: Device) -> list[Path]:
    """Every temporary thing the client may leave: downloads, script and configuration
    directories, atomic-write temporaries anywhere under the device."""
    found = cache(device, "images") + cache(device, "scripts") + cache(device, "configuration")
    found += [p for p in device.root.rglob(".*") if p.is_file()]
    return found


def steps(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step"], s["outcome"]) for s in status["steps"]]


def executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o700)
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def hanging(root: Path, name: str) -> tuple[Path, Path, str]:
    """A flag file (while it exists the command hangs), a pid file, and the shell snippet."""
    flag, pid = root / f"{name}.hang", root / f"{name}.pid"
    flag.touch()
    # the pid file appears whole (written, then renamed): its existence means it can be read
    snippet = (
        f'if [ -f "{flag}" ]; then echo $$ > "{pid}.tmp"; mv "{pid}.tmp" "{pid}"; '
        "exec sleep 600; fi"
    )
    return flag, pid, snippet


@pytest.fixture
def slow(env: Env) -> Iterator[SlowFileServer]:
    image = env.image()
    server = SlowFileServer(image.directory).start()
    server.image = image  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


def slow_image(server: SlowFileServer) -> Image:
    image: Image = server.image  # type: ignore[attr-defined]
    return image


# -- SIGTERM and SIGINT at every stage ----------------------------------------------------------


@dataclass
class Stage:
    """A device whose run hangs at one stage until ``resume`` is called."""

    device: Device
    server: LabBootstrapServer
    reached: Callable[[], bool]
    resume: Callable[[], None]
    child: Path | None  # the pid file of the child process that hangs, if any


def _stage(env: Env, slow: SlowFileServer, name: str) -> Stage:
    image = slow_image(slow)
    root = env.root
    if name == "download":
        conveyed = env.onboarding(image=image, uris=[slow.url_for(image.name)])
        server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
        device = env.device([server])

        def reached() -> bool:
            return slow.started.is_set() and bool(cache(device, "images"))

        def resume() -> None:
            slow.hold = False
            slow.release.set()

        return Stage(device, server, reached, resume, None)
    flag, pid, snippet = hanging(root, name)
    if name == "installer":
        slow.hold = False
        conveyed = env.onboarding(image=image, uris=[slow.url_for(image.name)])
        installer = executable(
            root / "commands" / "install",
            f'{snippet}\ncp "$1" "{root}/installed.img"\necho done >> "{root}/installs"',
        )
        server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
        device = env.device(
            [server], installer="command", extra={"image": {"command": [str(installer)]}}
        )
    elif name == "pre-script":
        conveyed = env.onboarding(pre=snippet)
        server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
        device = env.device([server])
    elif name == "commit":
        commit = executable(
            root / "commands" / "commit",
            f'{snippet}\ncp "$1" "{root}/committed.json"\necho done >> "{root}/commits"',
        )
        conveyed = env.onboarding()
        server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
        device = env.device(
            [server], applier="command", extra={"configuration": {"commit-command": [str(commit)]}}
        )
    else:  # pragma: no cover
        raise AssertionError(name)
    return Stage(device, server, pid.exists, flag.unlink, pid)


STEP_OF = {
    "download": "boot-image",
    "installer": "boot-image",
    "pre-script": "pre-script",
    "commit": "config",
}


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("stage_name", ["download", "installer", "pre-script", "commit"])
def test_signal_ends_the_run_cleanly_and_the_next_run_goes_on(
    env: Env, slow: SlowFileServer, stage_name: str, signame: str
) -> None:
    """D20: SIGTERM (systemctl stop) and SIGINT (Ctrl-C) during the image download, the
    installer command, a script and the commit command: exit 143/130, the child process
    killed, no partial file left, the step and the state recorded as interrupted; the next
    run goes on and completes, and what completed is not done twice."""
    stage = _stage(env, slow, stage_name)
    number = signal.Signals[signame]
    process = start(stage.device, "run", "--once")
    try:
        wait_for(lambda: stage.reached() or process.poll() is not None, f"the {stage_name}")
        assert process.poll() is None, process.communicate()
        child = int(stage.child.read_text()) if stage.child is not None else None
        process.send_signal(number)
        out, err = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + number, out + err
    assert f"interrupted by {signame}" in err
    assert "Traceback" not in err
    if child is not None:
        assert not alive(child), "the child process outlived the run"
    assert leftovers(stage.device) == []
    status = stage.device.status()
    assert status["state"] == "interrupted"
    assert steps(status)[-1] == (STEP_OF[stage_name], "interrupted")
    assert [a["outcome"] for a in status["attempts"]] == ["interrupted"]
    assert "bootstrap-complete" not in stage.server.reports()
    assert not (stage.device.slots / "next").exists()

    stage.resume()
    result = stage.device.run("run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    if stage_name in ("download", "installer"):
        assert stage.device.status()["state"] == "rebooting"
        assert stage.device.reboots == 1
        result = stage.device.run("run", "--once")  # after the reboot
        assert result.returncode == 0, result.stdout + result.stderr
    assert stage.device.status()["state"] == "bootstrapped"
    assert stage.server.reports().count("bootstrap-complete") == 1
    assert env.scripts_ran()[-2:] == ["pre-configuration", "post-configuration"]
    assert env.scripts_ran().count("post-configuration") == 1
    if stage_name == "download":
        assert slow.downloads() == 2  # the interrupted one and the complete one
    if stage_name == "installer":
        assert (env.root / "installs").read_text().splitlines() == ["done"]
        assert slow.downloads() == 2
    if stage_name == "commit":
        assert (env.root / "commits").read_text().splitlines() == ["done"]
    assert leftovers(stage.device) == []


# -- killed without a chance to clean up --------------------------------------------------------


def test_killed_run_is_shown_interrupted_and_its_leftovers_are_swept(
    env: Env, slow: SlowFileServer
) -> None:
    """SIGKILL in the middle of a download: the status that said "running" is shown as
    interrupted (no run holds the lock), and the next run sweeps the partial image before it
    starts and completes."""
    image = slow_image(slow)
    conveyed = env.onboarding(image=image, uris=[slow.url_for(image.name)])
    server = env.server(Response(signed=env.signed(conveyed)))
    device = env.device([server])
    process = start(device, "run", "--once")
    wait_for(lambda: slow.started.is_set() and cache(device, "images"), "the download")
    process.kill()
    process.communicate(timeout=WAIT)
    partial = cache(device, "images")
    assert len(partial) == 1  # SIGKILL leaves it
    assert json.loads(device.status_path.read_text())["state"] == "running"
    assert device.status()["state"] == "interrupted"

    slow.hold = False
    slow.release.set()
    result = device.run("run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the previous run was killed" in result.stdout
    assert "removed leftovers of an earlier run" in result.stdout
    assert partial[0].name in result.stdout
    assert leftovers(device) == []
    assert device.reboots == 1


def test_leftover_temporaries_are_swept_at_the_start_of_a_pass(env: Env) -> None:
    """Temporary files of every kind the client writes, left by a run that died, are removed
    at the start of the next pass; files that only look alike are kept."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server])
    var = device.root / "var"
    planted = [
        var / "cache" / "sztp" / "images" / "boot-image-abc123.download",
        var / "cache" / "sztp" / "scripts" / "sztp-pre-script-x1y2z3" / "pre-configuration-script",
        var / "cache" / "sztp" / "configuration" / "configuration-q1w2e3",
        device.state_dir / ".state.json.a1b2c3d4",
        device.status_path.parent / ".status.json.zz99yy88",
        device.slots / "b" / ".image.x7y7z7w7",
        device.slots / "b" / ".image.4242.link",
        device.config_file.parent / ".device-config.json.k9k9k9k9",
    ]
    kept = [device.config_file.parent / ".hidden-operator-file", device.state_dir / "notes.txt"]
    for path in planted + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left over")
    result = device.run("run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p for p in planted if p.exists()] == []
    assert all(p.exists() for p in kept)
    assert not (var / "cache" / "sztp" / "scripts" / "sztp-pre-script-x1y2z3").exists()


# -- one run at a time --------------------------------------------------------------------------


def test_second_run_is_refused_by_the_lock(env: Env, slow: SlowFileServer) -> None:
    """Two runs at once: the second is refused (exit 75) with the pid of the first, before any
    traffic; the first completes; one bootstrap, one download, one install."""
    image = slow_image(slow)
    conveyed = env.onboarding(image=image, uris=[slow.url_for(image.name)])
    server = env.server(Response(signed=env.signed(conveyed)))
    device = env.device([server])
    first = start(device, "run", "--once")
    try:
        wait_for(slow.started.is_set, "the first run's download")
        second = device.run("run", "--once")
        assert second.returncode == 75, second.stdout + second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert "another sztp-client run is in progress" in second.stderr
        assert device.status()["state"] == "running"  # the first run's status, untouched
        slow.hold = False
        slow.release.set()
        out, err = first.communicate(timeout=WAIT)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0, out + err
    assert len(server.requests("get-bootstrapping-data")) == 1
    assert slow.downloads() == 1
    assert device.reboots == 1
    assert (device.slots / "active").read_text().strip() == "b"


# -- output that cannot be written --------------------------------------------------------------


def _bootstrap_server(env: Env) -> tuple[LabBootstrapServer, Device]:
    server = env.server(Response(signed=env.signed(env.onboarding())))
    return server, env.device([server])


def test_broken_stdout_pipe_never_stops_provisioning(env: Env) -> None:
    """The reader of stdout went away (EPIPE on every write): the device bootstraps."""
    server, device = _bootstrap_server(env)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            client_command(device, "run", "--once"),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=WAIT,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert device.status()["state"] == "bootstrapped"
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]


def test_output_piped_into_head_never_stops_provisioning(env: Env) -> None:
    """``sztp-client run --once | head -c1``: the pipe closes after one byte."""
    _, device = _bootstrap_server(env)
    command = " ".join(f"'{word}'" for word in client_command(device, "run", "--once"))
    result = subprocess.run(
        ["/bin/bash", "-c", f'{command} | head -c1 >/dev/null; echo "status=${{PIPESTATUS[0]}}"'],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.stdout.strip() == "status=0", result.stdout + result.stderr
    assert device.status()["state"] == "bootstrapped"


def test_closed_stdout_and_stderr_never_stop_provisioning(env: Env) -> None:
    """stdout and stderr closed altogether (a journal stream that went away)."""
    _, device = _bootstrap_server(env)
    command = " ".join(f"'{word}'" for word in client_command(device, "run", "--once"))
    result = subprocess.run(
        ["/bin/bash", "-c", f"{command} >&- 2>&-; echo status=$?"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.stdout.strip() == "status=0", result.stdout + result.stderr
    assert device.status()["state"] == "bootstrapped"


def test_quiet_still_prints_errors(env: Env) -> None:
    """--quiet: no timeline, no result line, but the error that ended the pass on stderr."""
    server = env.server(None)  # 404 to every device
    device = env.device([server])
    result = device.run("run", "--once", "--quiet")
    assert result.returncode == 69
    assert result.stdout == ""
    assert "sztp-client: error:" in result.stderr
    assert "404" in result.stderr


# -- the record of the bootstrap, and the image download ----------------------------------------


def test_run_on_a_bootstrapped_device_keeps_the_record_status_shows(env: Env) -> None:
    """R-015: a later run on a bootstrapped device changes nothing, the status included: the
    attempts, steps and reports of the run that bootstrapped it stay."""
    _, device = _bootstrap_server(env)
    assert device.run("run", "--once").returncode == 0
    before = device.status()
    assert before["attempts"] and before["steps"] and before["reports"]
    again = device.run("run", "--once")
    assert again.returncode == 0
    after = device.status()
    for key in ("attempts", "steps", "reports", "runs", "started", "state", "bootstrapped"):
        assert after[key] == before[key], key


def _expired_file_server(env: Env, image: Image) -> LabFileServer:
    now = utcnow()
    expired = make_end_entity(
        env.lab.server_ca,
        "image server with an expired certificate",
        key_usage={"digital_signature", "key_encipherment"},
        ip_addresses=["127.0.0.1"],
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    files = LabFileServer(image.directory, identity=expired)
    files.start()
    env.servers.append(files)
    return files


@pytest.mark.parametrize("clock", ["trusted", "untrusted"])
def test_image_download_gets_the_clock_of_the_run(env: Env, clock: str) -> None:
    """D10, R-115: with image.verify-tls, an image server whose certificate has expired is
    refused under a trusted clock (boot-image-error, nothing installed) and accepted under an
    untrusted one, as every other server."""
    image = env.image()
    files = _expired_file_server(env, image)
    conveyed = env.onboarding(image=image, uris=[files.url_for(image.name)])
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    device = env.device([server], clock=clock, extra={"image": {"verify-tls": True}})
    result = device.run("run", "--once")
    if clock == "untrusted":
        assert result.returncode == 0, result.stdout + result.stderr
        assert device.reboots == 1
        return
    assert result.returncode == 75, result.stdout + result.stderr
    assert server.reports()[-1] == "boot-image-error"
    error = device.status()["last-error"]
    assert "expired" in error["message"]
    assert not (device.slots / "next").exists()
    assert leftovers(device) == []


def test_file_image_uri_is_refused(env: Env) -> None:
    """D7, R-114: a file: download-uri in data from a bootstrap server is refused with a
    boot-image-error saying why (allowed only in data from a removable medium); nothing is
    read or installed."""
    image = env.image()
    conveyed = env.onboarding(image=image, uris=[f"file://{image.path}"])
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    device = env.device([server])
    result = device.run("run", "--once")
    assert result.returncode == 75, result.stdout + result.stderr
    assert server.reports() == ["bootstrap-initiated", "boot-image-initiated", "boot-image-error"]
    message = device.status()["last-error"]["message"]
    assert "file: download-uri refused" in message
    assert "only in data from a removable medium" in message
    assert device.status()["last-error"]["type"] == "BootImageError"
    assert not (device.slots / "next").exists()
    assert leftovers(device) == []


def test_sigterm_of_the_shutdown_does_not_cut_the_reboot_command(env: Env) -> None:
    """``systemctl reboot`` stops the service with SIGTERM while the client may still wait for
    the reboot command: the command is not killed, and the status says rebooting."""
    image = env.image()
    files = env.files(image)
    conveyed = env.onboarding(image=image, uris=[files.url_for(image.name)])
    server = env.server(Response(signed=env.signed(conveyed)))
    release, pid, log = env.root / "release", env.root / "reboot.pid", env.root / "reboot.log"
    reboot = executable(
        env.root / "commands" / "reboot",
        f'echo $$ > "{pid}"\nwhile [ ! -f "{release}" ]; do sleep 0.05; done\n'
        f'echo reboot >> "{log}"',
    )
    device = env.device([server], extra={"image": {"reboot-command": [str(reboot)]}})
    process = start(device, "run", "--once")
    try:
        wait_for(lambda: pid.exists() and pid.read_text().strip(), "the reboot command")
        process.send_signal(signal.SIGTERM)
        release.touch()
        out, err = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 143, out + err
    assert log.read_text().splitlines() == ["reboot"]  # it ran to its end
    assert device.status()["state"] == "rebooting"
    assert server.reports()[-1] == "boot-image-installed-rebooting"


def test_interrupted_download_ends_the_progress_bar_line(env: Env) -> None:
    """On a terminal the progress bar's line is ended when SIGINT stops the download, so the
    shell prompt does not land in the middle of it."""
    image = env.image()
    slow = SlowFileServer(image.directory, head=3 * 1024 * 1024 // 2).start()
    try:
        conveyed = env.onboarding(image=image, uris=[slow.url_for(image.name)])
        server = env.server(Response(signed=env.signed(conveyed)))
        device = env.device([server])
        master, slave = os.openpty()
        process = subprocess.Popen(
            client_command(device, "run", "--once"),
            stdout=slave,
            stderr=subprocess.PIPE,
        )
        os.close(slave)
        shown = bytearray()
        try:
            wait_for(lambda: _read_some(master, shown) and b"image [" in shown, "the bar")
            process.send_signal(signal.SIGINT)
            process.wait(WAIT)
            while _read_some(master, shown):
                pass
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate()
            os.close(master)
    finally:
        slow.stop()
    assert process.returncode == 130
    text = shown.decode("utf-8", "replace")
    assert "\r  image [" in text
    tail = text[text.rindex("\r  image [") :]
    bar, _, after = tail.partition("\n")
    assert "interrupted" not in bar, repr(tail)  # the bar's line ended first
    assert "!! interrupted by SIGINT" in after, repr(tail)
    assert text.endswith("\n"), repr(text[-120:])


def _read_some(fd: int, into: bytearray) -> bool:
    """Read what the terminal holds now; False at its end (the client closed it)."""
    if not select.select([fd], [], [], 0.05)[0]:
        return True
    try:
        chunk = os.read(fd, 65536)
    except OSError:  # EIO: the other side is closed
        return False
    into += chunk
    return bool(chunk)
