"""``sztp-client factory-reset``: the LDevID and its key gone, the IDevID intact (R-132).

After an RFC 9646 bootstrap, with the LDevID key in the TPM (swtpm) or in a key file, the
reset removes the LDevID certificate, evicts or deletes its key and clears the state and
status; the IDevID (key and certificate) is untouched and still authenticates: the next
``run --once`` bootstraps again from scratch over mutual TLS against the strict lab server,
answering a new certificate request.  Without ``--yes`` and without a terminal the command
refuses (D20: 64); while a run holds the lock it waits for nothing and exits 75.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from sztp_client.identity.tpm import TPM
from sztp_client.state.lock import RunLock
from sztp_lab.scenario import Device
from sztp_lab.server import LabBootstrapServer, Response
from tests.e2e.conftest import Env
from tests.e2e.conftest import env as env  # noqa: PLC0414 - the e2e fixtures, reused here
from tests.e2e.conftest import lab as lab  # noqa: PLC0414
from tests.e2e.test_csr import LDEVID, _policy
from tests.helpers.swtpm import ECC_HANDLE, LabTPMIdentities, SoftwareTPM
from tests.integration.test_tpm_csr import LDEVID_HANDLE, _csr_extra
from tests.integration.test_tpm_identity import identities as identities  # noqa: PLC0414
from tests.integration.test_tpm_identity import swtpm as swtpm  # noqa: PLC0414

pytestmark = pytest.mark.integration

EXIT_OK = 0
EXIT_USAGE = 64
EXIT_TEMPFAIL = 75
EXIT_CONFIG = 78


def _ldevid_dir(device: Device) -> Path:
    return device.root / "var" / "lib" / "sztp" / "ldevid"


def _state(device: Device) -> Path:
    return device.root / "var" / "lib" / "sztp" / "state.json"


def _reset(device: Device, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "sztp_client",
        "factory-reset",
        "--config",
        str(device.config_path),
        *extra,
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _bootstrap(device: Device, server: LabBootstrapServer) -> None:
    result = device.run("run", "--once", timeout=120)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert server.reports()[-1] == "bootstrap-complete"


def _removed(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["version"] == 1
    return {entry["item"]: entry["location"] for entry in document["removed"]}


def test_r132_factory_reset_with_tpm_identity_evicts_the_ldevid_key(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities
) -> None:
    """R-132, D23: after a CSR bootstrap with the key in the TPM, factory-reset evicts the
    LDevID key and removes its certificate and the state; the IDevID key stays at its
    handle and still authenticates the next bootstrap, which starts from scratch."""
    policy = _policy(env)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=_csr_extra(env, swtpm, identities, "ec-p256"))
    _bootstrap(device, server)
    assert (_ldevid_dir(device) / "cert.pem").exists() and _state(device).exists()
    with TPM(swtpm.tcti) as tpm:
        assert tpm.holds(LDEVID_HANDLE)
    removed = _removed(_reset(device, "--yes", "--json"))
    assert removed["ldevid-key"] == f"tpm:{LDEVID_HANDLE:#010x} via {swtpm.tcti}"
    assert Path(removed["ldevid-certificate"]).resolve() == _ldevid_dir(device) / "cert.pem"
    assert {"state", "status"} <= set(removed)
    assert not _ldevid_dir(device).exists() and not _state(device).exists()
    with TPM(swtpm.tcti) as tpm:
        assert not tpm.holds(LDEVID_HANDLE)
        idevid = tpm.key(ECC_HANDLE)  # the IDevID is where the factory put it
        assert idevid.public_key == identities.ecc.certificate.public_key()
    status = device.status()
    assert status["bootstrapped"] is False
    _bootstrap(device, server)  # mutual TLS with the IDevID, a new CSR exchange
    assert len(policy.issued) == 2
    with TPM(swtpm.tcti) as tpm:
        assert tpm.holds(LDEVID_HANDLE)


def test_r132_factory_reset_with_file_identity_deletes_the_key_file(env: Env) -> None:
    """R-132: with a file identity the LDevID key file and certificate are deleted, the
    IDevID files are byte for byte the same, and the next run bootstraps again."""
    policy = _policy(env)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=LDEVID)
    idevid_files = [device.root / "etc" / "idevid.key", device.root / "etc" / "idevid.pem"]
    before = [path.read_bytes() for path in idevid_files]
    _bootstrap(device, server)
    key_file = _ldevid_dir(device) / "key.pem"
    assert key_file.exists()
    result = _reset(device, "--yes")
    assert result.returncode == EXIT_OK, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert Path(lines["removed ldevid-key"]).resolve() == key_file
    assert "removed ldevid-certificate" in lines
    assert Path(lines["kept idevid-key"]).resolve() == idevid_files[0]
    assert not key_file.exists() and not (_ldevid_dir(device) / "cert.pem").exists()
    assert [path.read_bytes() for path in idevid_files] == before
    _bootstrap(device, server)
    installed = x509.load_pem_x509_certificate((_ldevid_dir(device) / "cert.pem").read_bytes())
    assert installed == policy.issued[-1]
    # nothing left to remove but what the second run made; a second reset is fine too
    assert _reset(device, "--yes").returncode == EXIT_OK
    again = _reset(device, "--yes")
    assert again.returncode == EXIT_OK and "nothing to remove" in again.stdout


def test_r132_factory_reset_refuses_without_yes_off_a_terminal(env: Env) -> None:
    """R-132, D20: without --yes and with stdin not a terminal nothing is removed (64)."""
    policy = _policy(env)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=LDEVID)
    _bootstrap(device, server)
    result = _reset(device)
    assert result.returncode == EXIT_USAGE
    assert "--yes" in result.stderr
    assert (_ldevid_dir(device) / "key.pem").exists() and _state(device).exists()


def test_d20_factory_reset_waits_for_no_run(env: Env) -> None:
    """D20: while a run holds the run lock, factory-reset removes nothing and exits 75."""
    device = env.device([], extra=LDEVID)
    run_dir = device.root / "run" / "sztp"
    run_dir.mkdir(parents=True, exist_ok=True)
    key_file = _ldevid_dir(device) / "key.pem"
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(b"key")
    with RunLock(run_dir):
        result = _reset(device, "--yes")
    assert result.returncode == EXIT_TEMPFAIL, result.stderr
    assert key_file.exists()


def test_d20_factory_reset_never_removes_the_idevid_files(env: Env) -> None:
    """R-132, D20: an identity.ldevid.key-file that is the IDevID's key is refused (78)."""
    device = env.device([], extra=LDEVID)
    idevid_key = device.root / "etc" / "idevid.key"
    text = device.config_path.read_text()
    device.config_path.write_text(
        text.replace("[identity.ldevid]\n", f'[identity.ldevid]\nkey-file = "{idevid_key}"\n')
    )
    result = _reset(device, "--yes")
    assert result.returncode == EXIT_CONFIG, result.stdout + result.stderr
    assert idevid_key.exists()


@pytest.mark.parametrize(("answer", "code"), [("no", EXIT_USAGE), ("yes", EXIT_OK)])
def test_r132_factory_reset_asks_on_a_terminal(env: Env, answer: str, code: int) -> None:
    """R-132, D20: on a terminal the command asks; anything but "yes" removes nothing (64)."""
    device = env.device([], extra=LDEVID)
    key_file = _ldevid_dir(device) / "key.pem"
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(b"key")
    primary, secondary = os.openpty()
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sztp_client",
                "factory-reset",
                "--config",
                str(device.config_path),
            ],
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(primary, f"{answer}\n".encode())
        stdout, stderr = process.communicate(timeout=60)
    finally:
        os.close(primary)
        os.close(secondary)
    assert process.returncode == code, stdout + stderr
    assert "Type 'yes'" in stdout
    assert key_file.exists() is (answer == "no")
