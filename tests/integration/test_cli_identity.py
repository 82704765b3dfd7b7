"""``sztp-client identity``: the device's identity shown, file and TPM (swtpm).

The versioned JSON document names the serial number, the IDevID subject and issuer, the key's
location and whether it is non-exportable (R-007), and for a TPM identity the digest of the
selected PCRs, equal to the one computed from the PCR values read (attestation evidence).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sztp_client.identity import attest
from sztp_client.identity.tpm import TPM
from sztp_lab.attestation import QuoteRefused, verify_quote
from sztp_lab.tpm_factory import DEFAULT_AK_HANDLE, provision_attestation_key
from tests.e2e.conftest import SERIAL, Env
from tests.e2e.conftest import env as env  # noqa: PLC0414 - the e2e fixtures, reused here
from tests.e2e.conftest import lab as lab  # noqa: PLC0414
from tests.helpers.swtpm import LabTPMIdentities, SoftwareTPM
from tests.integration.test_tpm_identity import NET, _tpm_extra
from tests.integration.test_tpm_identity import identities as identities  # noqa: PLC0414
from tests.integration.test_tpm_identity import swtpm as swtpm  # noqa: PLC0414

pytestmark = pytest.mark.integration


def _identity(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sztp_client", "identity", "--config", str(config), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_identity_json_for_file_identity(env: Env) -> None:
    """R-007: the file identity: path, exportable, no PCR digest; version 1."""
    device = env.device([], extra={"network": NET})
    result = _identity(device.config_path, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["version"] == 1
    assert document["serial-number"] == SERIAL
    assert document["idevid"]["subject"] == env.lab.idevid.cert.subject.rfc4514_string()
    assert document["idevid"]["issuer"] == env.lab.idevid.cert.issuer.rfc4514_string()
    assert document["key"] == {
        "backend": "file",
        "path": str(device.root / "etc" / "idevid.key"),
        "non-exportable": False,
    }
    assert document["pcr-digest"] is None
    text = _identity(device.config_path)
    assert text.returncode == 0
    assert f"serial number: {SERIAL}" in text.stdout
    assert "pcr digest: none" in text.stdout


def test_identity_json_for_tpm_identity(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities
) -> None:
    """R-007: the TPM identity: handle, non-exportable, and the PCR digest of sha256 PCRs 0-7
    as computed from the values read."""
    device = env.device([], extra=_tpm_extra(env, swtpm, identities, "ec-p256"))
    result = _identity(device.config_path, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    provisioned = identities.ecc
    assert document["version"] == 1
    assert document["serial-number"] == SERIAL
    assert document["idevid"]["subject"] == provisioned.certificate.subject.rfc4514_string()
    assert document["key"]["backend"] == "tpm"
    assert document["key"]["handle"] == f"{provisioned.handle:#010x}"
    assert document["key"]["non-exportable"] is True
    selection = attest.parse_selection(attest.DEFAULT_SELECTION)
    with TPM(swtpm.tcti) as device_tpm:
        values = attest.read_pcrs(device_tpm, selection)
    assert document["pcr-digest"] == attest.pcr_digest(selection, values).hex()
    assert document["pcr-selection"] == "sha256:0,1,2,3,4,5,6,7"


def test_identity_refuses_bad_pcr_selection_and_missing_config(env: Env, tmp_path: Path) -> None:
    """A bad --pcrs and a missing configuration give exit 78 / a typed message, no traceback."""
    device = env.device([], extra={"network": NET})
    bad = _identity(device.config_path, "--pcrs", "md5:0-99")
    assert bad.returncode == 78
    assert "Traceback" not in bad.stderr
    missing = _identity(tmp_path / "absent.toml")
    assert missing.returncode != 0
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_identity_quote_on_request_verifies_with_the_lab_verifier(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities, algorithm: str
) -> None:
    """Attestation evidence: `identity --quote NONCE` has the attestation key (ECC or RSA)
    quote the selected PCRs bound to the nonce; the lab's verifier accepts it, and refuses it
    for another nonce."""
    with TPM(swtpm.tcti) as device_tpm:
        ak = provision_attestation_key(device_tpm, algorithm=algorithm)  # type: ignore[arg-type]
    device = env.device([], extra=_tpm_extra(env, swtpm, identities, "ec-p256"))
    nonce = os.urandom(32)
    result = _identity(device.config_path, "--json", "--quote", nonce.hex())
    assert result.returncode == 0, result.stderr
    quoted = json.loads(result.stdout)["quote"]
    assert quoted["nonce"] == nonce.hex()
    assert quoted["ak-handle"] == f"{DEFAULT_AK_HANDLE:#010x}"
    assert quoted["algorithm"] == algorithm
    pcrs = {int(register): bytes.fromhex(value) for register, value in quoted["pcrs"].items()}
    attest_bytes = base64.b64decode(quoted["attest"])
    signature = base64.b64decode(quoted["signature"])
    verify_quote(ak, attest_bytes, signature, nonce=nonce, bank="sha256", pcrs=pcrs)
    with pytest.raises(QuoteRefused, match="nonce"):
        verify_quote(ak, attest_bytes, signature, nonce=b"other", bank="sha256", pcrs=pcrs)
    text = _identity(device.config_path, "--quote", nonce.hex())
    assert text.returncode == 0, text.stderr
    assert f"attestation key {DEFAULT_AK_HANDLE:#010x}, nonce {nonce.hex()}" in text.stdout


def test_identity_quote_refused_for_file_identity_and_bad_nonce(env: Env) -> None:
    """--quote needs a TPM identity and a hexadecimal nonce of 1 to 64 bytes: exit 78."""
    device = env.device([], extra={"network": NET})
    for nonce in ("00" * 16, "not-hex", "00" * 65):
        result = _identity(device.config_path, "--quote", nonce)
        assert result.returncode == 78, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
