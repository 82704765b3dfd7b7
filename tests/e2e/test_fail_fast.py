"""Fail fast at start-up: what can never succeed later stops ``run`` before any traffic.

Each case checks the exit code (78 configuration, 77 permission denied), the message (the key
named), that the bootstrap server saw nothing, and that nothing was written under the device's
paths.  The permission cases run the client as ``nobody`` (``setpriv``), since root ignores
file modes.

D20 (exit codes), D21 (drop-ins), R-011.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from sztp_lab.scenario import Device, make_device, to_toml
from sztp_lab.server import LabBootstrapServer, Response
from tests.conftest import require
from tests.e2e.conftest import SERIAL, Env

pytestmark = pytest.mark.integration

EXIT_NOPERM = 77
EXIT_CONFIG = 78
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with its mode, size and modification time."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def set_key(device: Device, table: str, **values: object) -> None:
    """Set keys of ``[table]`` in the device's configuration file (``_`` for ``-``)."""
    document = tomllib.loads(device.config_path.read_text())
    document.setdefault(table, {}).update({k.replace("_", "-"): v for k, v in values.items()})
    device.config_path.write_text(to_toml(document))


def not_executable(device: Device) -> str:
    path = device.root / "bin" / "not-executable"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o644)
    return str(path)


def encrypt_key(device: Device) -> None:
    path = device.root / "etc" / "idevid.key"
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a passphrase nobody can type"),
        )
    )


def other_devices_key(env: Env, device: Device) -> None:
    other = env.lab.pki.idevid("SZTP-E2E-OTHER")
    (device.root / "etc" / "idevid.key").write_bytes(
        other.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def drop_in_typo(device: Device) -> None:
    directory = device.config_path.with_name("client.toml.d")
    directory.mkdir()
    (directory / "50-installer.toml").write_text('[image]\ncomand = ["/bin/true"]\n')


CASES: dict[str, tuple[Callable[[Env, Device], None], str, list[str]]] = {
    "encrypted key": (
        lambda env, d: encrypt_key(d),
        "ab-directory",
        ["identity.key:", "is encrypted (protected by a passphrase)"],
    ),
    "key of another certificate": (
        other_devices_key,
        "ab-directory",
        ["identity.key:", "is not the private key of the certificate"],
    ),
    "command installer without a command": (
        lambda env, d: None,
        "command",
        ["image.command:", "no command is configured"],
    ),
    "installer command not executable": (
        lambda env, d: set_key(d, "image", command=[not_executable(d)]),
        "command",
        ["image.command:", "is not an executable file"],
    ),
    "installer command missing": (
        lambda env, d: set_key(d, "image", command=["/nonexistent/install", "{image}"]),
        "command",
        ["image.command:", "'/nonexistent/install' does not exist"],
    ),
    "installer command not on the PATH": (
        lambda env, d: set_key(d, "image", command=["no-such-installer"]),
        "command",
        ["image.command:", "not an executable on the commands' PATH"],
    ),
    "reboot command missing": (
        lambda env, d: set_key(d, "image", reboot_command=["/nonexistent/reboot"]),
        "ab-directory",
        ["image.reboot-command:", "does not exist"],
    ),
    "commit command not executable": (
        lambda env, d: set_key(
            d, "configuration", applier="command", commit_command=[not_executable(d)]
        ),
        "ab-directory",
        ["configuration.commit-command:", "is not an executable file"],
    ),
    "command applier without a commit command": (
        lambda env, d: set_key(d, "configuration", applier="command"),
        "ab-directory",
        ["configuration.commit-command:", "no commit command is configured"],
    ),
    "rollback command missing": (
        lambda env, d: set_key(
            d,
            "configuration",
            applier="command",
            commit_command=["/bin/true"],
            rollback_command=["/nonexistent/rollback"],
        ),
        "ab-directory",
        ["configuration.rollback-command:", "does not exist"],
    ),
    "misspelt key in a drop-in": (
        lambda env, d: drop_in_typo(d),
        "ab-directory",
        ["image.comand: unknown key in ", "50-installer.toml", "did you mean image.command?"],
    ),
    "configuration file missing": (
        lambda env, d: d.config_path.unlink(),
        "ab-directory",
        ["client.toml does not exist", "--config"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_start_up_refuses_what_can_never_succeed(env: Env, case: str) -> None:
    """D20: exit 78, the key and the reason named, before any traffic; nothing written."""
    change, installer, words = CASES[case]
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server], installer=installer)
    # a fresh device: the directories the client writes do not exist yet
    for sub in ("var", "run", "slots"):
        shutil.rmtree(device.root / sub)
    change(env, device)
    before = snapshot(device.root)
    result = device.run("run", "--once")
    assert result.returncode == EXIT_CONFIG, result.stdout + result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for word in words:
        assert word in message
    assert "Traceback" not in result.stderr
    assert server.log == []
    assert snapshot(device.root) == before


# -- permission denied (77), as a user that is not root ----------------------------------------


@pytest.fixture
def public_root() -> Iterator[Path]:
    """A scratch directory others may enter (pytest's own is private to root)."""
    require(shutil.which("setpriv") is not None, "setpriv (util-linux)")
    require(os.geteuid() == 0, "root, to run the client as nobody")
    root = Path(tempfile.mkdtemp(prefix="sztp-noperm-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def nobody_device(env: Env, root: Path, server: LabBootstrapServer) -> Device:
    device = make_device(
        root / "device",
        env.lab.pki,
        SERIAL,
        idevid=env.lab.idevid,
        servers=[server.url],
        server_trust_anchors=[env.lab.server_root.cert],
    )
    subprocess.run(["chown", "-R", "nobody:nogroup", str(device.root)], check=True)
    return device


def root_only(path: Path) -> None:
    os.chown(path, 0, 0)
    path.chmod(0o700)


PERMISSION_CASES: dict[str, tuple[Callable[[Device], None], list[str]]] = {
    "state-dir not accessible": (
        lambda d: root_only(d.state_dir),
        ["paths.state-dir:", "permission denied"],
    ),
    "run-dir not accessible": (
        lambda d: root_only(d.status_path.parent),
        ["paths.run-dir:", "permission denied"],
    ),
    "cache-dir cannot be created": (
        lambda d: (shutil.rmtree(d.root / "var" / "cache"), root_only(d.root / "var")),
        ["paths.", "permission denied"],
    ),
    "slots not accessible": (
        lambda d: root_only(d.slots),
        ["image.ab-root:", "permission denied"],
    ),
    "identity key not readable": (
        lambda d: root_only(d.root / "etc" / "idevid.key"),
        ["identity.key:", "cannot read", "permission denied"],
    ),
}


@pytest.mark.parametrize("case", list(PERMISSION_CASES))
def test_permission_denied_is_one_line_and_exit_77(env: Env, public_root: Path, case: str) -> None:
    """EX_NOPERM (77): a directory or file the client may not use gives one line naming the
    path and its key, never a traceback; no traffic, nothing written."""
    change, words = PERMISSION_CASES[case]
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = nobody_device(env, public_root, server)
    change(device)
    before = snapshot(device.root)
    result = device.run("run", "--once", wrapper=NOBODY)
    assert result.returncode == EXIT_NOPERM, result.stdout + result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for word in words:
        assert word in message, message
    assert server.log == []
    assert snapshot(device.root) == before


def test_status_works_for_nobody_when_it_may_read(env: Env, public_root: Path) -> None:
    """The same device, all its paths readable: status works as nobody (exit 0), run gets past
    the start-up checks (the server sees the device)."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = nobody_device(env, public_root, server)
    status = device.run("status", wrapper=NOBODY)
    assert status.returncode == 0, status.stderr
    assert "state: idle" in status.stdout
