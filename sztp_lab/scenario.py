"""A simulated device under a scratch root, and the lab servers it bootstraps from.

Used by ``make demo`` and by the end-to-end tests.  A :class:`Device` is a directory holding
everything the client touches: its configuration file, IDevID, trust anchors, state, run and
cache directories, the A/B image slots, the configuration file the ``file`` applier writes,
an SSH host key, a fake kernel boot id, and a reboot command that simulates the reboot (a new
boot id, the freshly installed slot becomes the active one).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sztp_lab.pki import Issued, LabPKI, pem_bundle

REBOOT_SCRIPT = """#!/bin/sh
# Simulated reboot: a new kernel boot id, and the slot installed last becomes the active one.
set -e
cat /proc/sys/kernel/random/uuid > "{root}/boot_id"
if [ -f "{root}/slots/next" ]; then mv "{root}/slots/next" "{root}/slots/active"; fi
echo reboot >> "{root}/reboots.log"
"""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def to_toml(document: Mapping[str, Any]) -> str:
    """A small TOML writer for the flat tables the client configuration uses."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for key, value in document.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Device:
    root: Path
    serial_number: str

    @property
    def config_path(self) -> Path:
        return self.root / "etc" / "client.toml"

    @property
    def config_file(self) -> Path:
        """What the ``file`` configuration applier writes."""
        return self.root / "etc" / "device-config.json"

    @property
    def slots(self) -> Path:
        return self.root / "slots"

    @property
    def state_dir(self) -> Path:
        return self.root / "var" / "lib" / "sztp"

    @property
    def status_path(self) -> Path:
        return self.root / "run" / "sztp" / "status.json"

    @property
    def scripts_log(self) -> Path:
        """Scripts written by the tests and the demo append here (``$SZTP_LOG``)."""
        return self.root / "scripts.log"

    @property
    def reboots(self) -> int:
        path = self.root / "reboots.log"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def status(self) -> dict[str, Any]:
        result = self.run("status", "--json")
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def run(
        self, *args: str, timeout: float = 120, wrapper: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Run the installed ``sztp-client`` with this device's configuration; ``wrapper`` is a
        command that runs it (its arguments follow), e.g. one that gives it a private
        /etc/hosts."""
        script = Path(sys.executable).parent / "sztp-client"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "sztp_client"]
        return subprocess.run(  # noqa: S603 - the project's own console script
            [*wrapper, *command, *args, "--config", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def changed_files(self) -> dict[str, str]:
        """Digest of every file the onboarding steps may change (for 'nothing changed')."""
        digests = {}
        for base in (self.slots, self.config_file.parent):
            for path in sorted(base.rglob("*")) if base.exists() else []:
                if path.is_file() and path.name != "client.toml":
                    digests[str(path.relative_to(self.root))] = hashlib.sha256(
                        path.read_bytes()
                    ).hexdigest()
        return digests


def make_device(
    root: Path,
    pki: LabPKI,
    serial_number: str,
    *,
    servers: Sequence[str],
    server_trust_anchors: Sequence[x509.Certificate] = (),
    idevid: Issued | None = None,
    installer: str = "ab-directory",
    applier: str = "file",
    clock: str = "untrusted",
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Device:
    """Lay out a device under ``root`` configured to bootstrap from ``servers``."""
    device = Device(root, serial_number)
    for sub in ("etc", "slots", "var/lib/sztp", "run/sztp", "var/cache/sztp"):
        (root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = idevid or pki.idevid(serial_number)
    _write(root / "etc" / "idevid.pem", pem_bundle(identity.path))
    _write(
        root / "etc" / "idevid.key",
        identity.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    # Vouchers validate to the voucher root only; the IDevID root is what the IDevID
    # validates to (the client refuses a configuration where one anchor serves both).
    _write(root / "etc" / "voucher-signer-trust-anchors.pem", pki.voucher_root.cert_pem())
    _write(root / "etc" / "manufacturer-trust-anchors.pem", pki.manufacturer_root.cert_pem())
    anchors = list(server_trust_anchors)
    if anchors:
        _write(root / "etc" / "bootstrap-server-trust-anchors.pem", pem_bundle(anchors))
    device_chain = (*identity.chain, identity.trust_anchor)
    _write(root / "etc" / "device-trust-anchors.pem", pem_bundle(device_chain))
    host_key = ed25519.Ed25519PrivateKey.generate().public_key()
    _write(
        root / "etc" / "ssh_host_ed25519_key.pub",
        host_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        + b" root@lab-device\n",
    )
    _write(root / "boot_id", (str(uuid.uuid4()) + "\n").encode())
    reboot = root / "bin" / "reboot"
    reboot.parent.mkdir(exist_ok=True)
    reboot.write_text(REBOOT_SCRIPT.format(root=root))
    reboot.chmod(0o700)
    _write(root / "etc" / "os-release", b'ID=factory\nVERSION_ID="1.0"\n')

    config: dict[str, Any] = {
        "enabled": True,
        "identity": {"certificate": "idevid.pem", "key": "idevid.key"},
        "trust": {
            "clock": clock,
            "voucher-signer-trust-anchors": ["voucher-signer-trust-anchors.pem"],
            "manufacturer-trust-anchors": ["manufacturer-trust-anchors.pem"],
            "bootstrap-server-trust-anchors": (
                ["bootstrap-server-trust-anchors.pem"] if anchors else []
            ),
        },
        # the lab's servers only: a lab device must not look at this host's media, DHCP or DNS
        "discovery": {"bootstrap-servers": list(servers), "order": ["configured"]},
        "paths": {
            "state-dir": "../var/lib/sztp",
            "run-dir": "../run/sztp",
            "cache-dir": "../var/cache/sztp",
            "boot-id": "../boot_id",
            "os-release": "os-release",
        },
        "image": {
            "installer": installer,
            "ab-root": "../slots",
            "reboot-command": [str(reboot)],
            "min-free": 1024 * 1024,
        },
        "configuration": {"applier": applier, "file": "device-config.json"},
        "bootstrap-complete": {
            "ssh-host-keys": ["ssh_host_ed25519_key.pub"],
            "trust-anchor-certs": ["device-trust-anchors.pem"],
        },
        "network": {"connect-timeout": 5, "read-timeout": 10},
    }
    for table, values in (extra or {}).items():
        config.setdefault(table, {})
        config[table].update(values)
    _write(device.config_path, to_toml(config).encode())
    return device


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)


def script(body: str, log: Path) -> bytes:
    """A POSIX shell script that appends its stage to ``log`` and then runs ``body``."""
    return f'#!/bin/sh\necho "$SZTP_STAGE" >> "{log}"\n{body}\n'.encode()
