"""The newcomer path: what the README tells a new operator to type, run as they would.

``sztp-lab create`` writes a device whose client.toml works as is against ``sztp-lab serve``
on its default ports, and a signed set that the printed ``verify`` command accepts;
``make demo KEEP=DIR`` leaves the device and the logs to look at.  The console scripts of the
.venv run as processes.  serve's default ports are fixed (8443, 8444), so it runs in a
private network namespace of its own (root, unshare, nsenter) where they are surely free,
and the device joins that namespace: nothing depends on which ports the machine has in use.
Everything synchronises on what the commands print, never on time.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sztp_lab.cli import DEFAULT_FILE_PORT, DEFAULT_PORT, _parser
from tests.conftest import require
from tests.helpers.lab_serve import HANG, LabServe

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
GBD = "/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"


def _run(command: list[str], *wrapper: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wrapper, *command], capture_output=True, text=True, timeout=HANG, check=False
    )


def _printed_command(output: str, words: str) -> list[str]:
    """The one command line of ``output`` that contains ``words``."""
    (line,) = [line for line in output.splitlines() if words in line]
    return shlex.split(line)


def _console_script(name: str) -> str:
    script = BIN / name
    require(script.exists(), f"the .venv's {name} console script (make venv)")
    return str(script)


def _private_network() -> None:
    require(
        os.geteuid() == 0 and all(shutil.which(c) for c in ("unshare", "nsenter", "ip")),
        "root, unshare(1), nsenter(1) and ip(8), for a private network namespace",
    )


def test_every_sztp_lab_option_has_help() -> None:
    """Every option and argument of sztp-lab and of its sub-commands says what it does."""
    parser = _parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for name, sub in [("sztp-lab", parser), *commands.choices.items()]:
        for action in sub._actions:
            skip = isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
            if not skip and not action.help:
                missing.append(f"{name} {action.dest}")
    assert not missing
    create, serve = (
        " ".join(commands.choices[c].format_help().split()) for c in ("create", "serve")
    )
    assert f"(default: {DEFAULT_PORT})" in create
    assert f"normally {DEFAULT_PORT};" in serve
    assert f"normally {DEFAULT_FILE_PORT};" in serve


def test_create_serve_run_verify_by_hand(tmp_path: Path) -> None:
    """`sztp-lab create DIR`; the verify command it prints accepts its artifacts; `sztp-lab
    serve DIR` on its default ports; `sztp-client run --once` with the client.toml create
    wrote, unchanged, bootstraps the device in two runs (an image, a simulated reboot); serve
    prints one line per request with the device's serial number; status says bootstrapped."""
    _private_network()
    lab_dir = tmp_path / "lab"
    created = _run([_console_script("sztp-lab"), "create", str(lab_dir)])
    assert created.returncode == 0, created.stderr

    verify = _run(_printed_command(created.stdout, " verify "))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "acceptable: yes" in verify.stdout

    serve_command = _printed_command(created.stdout, " serve ")
    assert serve_command[1:] == ["serve", str(lab_dir.resolve())]
    private = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    with LabServe([*private, *serve_command]) as serve:
        summary = serve.summary()
        assert summary["bootstrap-server"] == f"https://127.0.0.1:{DEFAULT_PORT}"
        assert summary["file-server"] == f"https://127.0.0.1:{DEFAULT_FILE_PORT}"
        inside = ("nsenter", f"--net=/proc/{serve.pid}/ns/net", "--")
        run = _printed_command(created.stdout, " run --once ")

        first = _run(run, *inside)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "result: rebooting" in first.stdout
        second = _run(run, *inside)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "result: bootstrap-complete" in second.stdout

        line = serve.line(lambda text: GBD in text)
        assert line.split()[1:] == ["bootstrap-server", "POST", GBD, "200", "SZTP-DEMO-0001"]
        line = serve.line(lambda text: " file-server " in text)
        assert line.split()[1:] == ["file-server", "GET", "/lab-os-1.0.img", "200", "-"]
        line = serve.line(lambda text: text.endswith(" bootstrap-complete"))
        assert " 204 SZTP-DEMO-0001 " in line
        assert serve.stop() == 0

    status = _run(_printed_command(created.stdout, " status "))
    assert status.returncode == 0, status.stderr
    assert "bootstrapped: yes" in status.stdout


def test_demo_keeps_the_device(tmp_path: Path) -> None:
    """`make demo KEEP=DIR` (the demo's --keep) leaves the device, its status and the logs
    under DIR and prints the status command that shows them; a DIR that is not empty is
    refused before anything is made."""
    keep = tmp_path / "kept"
    demo = _run([sys.executable, "-m", "sztp_lab.demo", "--keep", str(keep)])
    assert demo.returncode == 0, demo.stdout + demo.stderr
    status = _run(_printed_command(demo.stdout, " status --config "))
    assert status.returncode == 0, status.stderr
    assert "bootstrapped: yes" in status.stdout
    assert (keep / "device" / "run" / "sztp" / "status.json").is_file()
    assert {p.name for p in (keep / "logs").iterdir()} >= {"onboarding-server.jsonl"}

    before = sorted(p.name for p in keep.iterdir())
    again = _run([sys.executable, "-m", "sztp_lab.demo", "--keep", str(keep)])
    assert again.returncode == 2
    assert "not an empty directory" in again.stderr
    assert sorted(p.name for p in keep.iterdir()) == before
