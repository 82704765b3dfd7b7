"""A full bootstrap with the IDevID key inside a software TPM (identity.backend = "tpm").

``sztp-client run --once`` against the strict lab bootstrap server, which requires a client
certificate of the manufacturer's CA, reaches bootstrap-complete with an ECC P-256 and an
RSA-2048 key provisioned by the lab's factory helper (R-003, R-018, R-019, R-007: the key stays
in the TPM).  With swtpm stopped the run fails with the typed TPM error, while the same device
with its file identity bootstraps.  Conveyed information encrypted to the device certificate is
opened with the identity's key, file or TPM (R-008, R-020, R-050).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_client.errors import ConnectError, TLSError
from sztp_client.identity.base import FileIdentity, TPMIdentity
from sztp_client.transport.download import download
from sztp_client.transport.http import Timeouts
from sztp_lab.artifacts import SignedSet
from sztp_lab.envelope import encrypt_artifact
from sztp_lab.scenario import Device
from sztp_lab.server import LabBootstrapServer, Response
from tests.e2e.conftest import SERIAL, Env
from tests.e2e.conftest import env as env  # noqa: PLC0414 - the e2e fixtures, reused here
from tests.e2e.conftest import lab as lab  # noqa: PLC0414
from tests.helpers.swtpm import (
    ECC_NV_INDEX,
    LabTPMIdentities,
    SoftwareTPM,
    provision_lab_identities,
    require_tpm_stack,
)
from tests.helpers.tls_server import Reply, ScriptedServer, credentials, make_server_pki

pytestmark = pytest.mark.integration

EXIT_TEMPFAIL = 75
NET = {"connect-timeout": 2, "read-timeout": 3}


@pytest.fixture
def swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftwareTPM]:
    require_tpm_stack()
    with SoftwareTPM(tmp_path_factory.mktemp("swtpm")) as software_tpm:
        yield software_tpm


@pytest.fixture
def identities(swtpm: SoftwareTPM, env: Env) -> LabTPMIdentities:
    return provision_lab_identities(swtpm.tcti, env.lab.pki, SERIAL)


def _write_chain(path: Path, certs: tuple[x509.Certificate, ...]) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def _tpm_extra(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities, algorithm: str, nv: bool = False
) -> dict[str, dict[str, Any]]:
    provisioned = identities.by_algorithm(algorithm)
    if nv:
        certificate = f"nv:{ECC_NV_INDEX:#010x}"
    else:
        chain = (provisioned.certificate, *provisioned.chain)
        certificate = str(_write_chain(env.root / f"tpm-idevid-{algorithm}.pem", chain))
    return {
        "network": NET,
        "identity": {"backend": "tpm"},
        # the lab's TOML writer writes flat tables: the sub-table by its dotted name
        "identity.tpm": {
            "tcti": swtpm.tcti,
            "key-handle": f"{provisioned.handle:#010x}",
            "certificate": certificate,
        },
    }


def _run(device: Device) -> subprocess.CompletedProcess[str]:
    return device.run("run", "--once", timeout=60)


def _why(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def _bootstraps(server: LabBootstrapServer, device: Device) -> str:
    result = _run(device)
    assert result.returncode == 0, _why(result)
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]
    return result.stdout


@pytest.mark.parametrize(
    ("algorithm", "nv"), [("ec-p256", False), ("ec-p256", True), ("rsa-2048", False)]
)
def test_run_once_with_tpm_identity_bootstraps(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities, algorithm: str, nv: bool
) -> None:
    """R-003, R-018, R-019: mutual TLS with the key inside the TPM (ECC and RSA, certificate
    from a PEM file or an NV index) against the strict lab server reaches bootstrap-complete;
    the timeline says the TPM is used."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server], extra=_tpm_extra(env, swtpm, identities, algorithm, nv))
    stdout = _bootstraps(server, device)
    assert "identity: tpm, key tpm:0x8" in stdout


def test_auto_takes_the_tpm_when_it_answers(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities
) -> None:
    """R-018: identity.backend = "auto" takes the TPM that answers, and says so."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    extra = _tpm_extra(env, swtpm, identities, "ec-p256")
    extra["identity"]["backend"] = "auto"
    stdout = _bootstraps(server, env.device([server], extra=extra))
    assert "auto: the TPM answered" in stdout


def test_swtpm_stopped_fails_typed_while_file_identity_works(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities
) -> None:
    """R-007: with the TPM gone the key is gone: the run ends with the typed TPM error (exit
    75, no traceback) and nothing reaches the server; the file identity still bootstraps."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server], extra=_tpm_extra(env, swtpm, identities, "ec-p256"))
    swtpm.stop()
    result = _run(device)
    assert result.returncode == EXIT_TEMPFAIL, _why(result)
    assert "Traceback" not in result.stderr
    assert "TPM" in result.stderr + result.stdout
    assert server.reports() == []
    file_device = env.device([server], extra={"network": NET})
    assert _run(file_device).returncode == 0
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]


def _encrypted(env: Env, recipient: x509.Certificate) -> SignedSet:
    signed = env.signed(env.onboarding())
    return SignedSet(
        conveyed_information=encrypt_artifact(signed.conveyed_information, recipient),
        owner_certificate=signed.owner_certificate,
        ownership_voucher=signed.ownership_voucher,
    )


def test_encrypted_conveyed_information_with_file_identity(env: Env) -> None:
    """R-008, R-020, R-050: signed conveyed information encrypted to the IDevID is opened
    with the file key and bootstraps."""
    server = env.server(Response(signed=_encrypted(env, env.lab.idevid.cert)))
    _bootstraps(server, env.device([server], extra={"network": NET}))


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_encrypted_conveyed_information_with_tpm_identity(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities, algorithm: str
) -> None:
    """R-008, R-020, R-050: the TPM does the private-key step (ECDH or RSA decryption) of
    conveyed information encrypted to the TPM-held IDevID, and the device bootstraps."""
    recipient = identities.by_algorithm(algorithm).certificate
    server = env.server(Response(signed=_encrypted(env, recipient)))
    extra = _tpm_extra(env, swtpm, identities, algorithm)
    _bootstraps(server, env.device([server], extra=extra))


def _verify(
    env: Env, signed: SignedSet, idevid_pem: Path, *identity: str
) -> subprocess.CompletedProcess[str]:
    root = env.root / "verify"
    root.mkdir(exist_ok=True)
    files = {"ci": signed.conveyed_information, "oc": signed.owner_certificate, "ov": None}
    files["ov"] = signed.ownership_voucher
    for name, data in files.items():
        (root / f"{name}.cms").write_bytes(data or b"")
    (root / "anchors.pem").write_bytes(env.lab.pki.voucher_root.cert_pem())
    command = [sys.executable, "-m", "sztp_client", "verify", str(root / "ci.cms")]
    command += ["--owner-certificate", str(root / "oc.cms")]
    command += ["--ownership-voucher", str(root / "ov.cms")]
    command += ["--voucher-signer-trust-anchors", str(root / "anchors.pem")]
    command += ["--idevid-certificate", str(idevid_pem), *identity, "--json"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_verify_identity_opens_encrypted_artifacts_with_file_key_or_config(env: Env) -> None:
    """R-020: ``verify --identity`` decrypts with a PEM key (with --idevid-certificate) or
    with the identity table of a client configuration; without it the envelope is refused."""
    signed = _encrypted(env, env.lab.idevid.cert)
    device = env.device([], extra={"network": NET})
    idevid_pem = device.root / "etc" / "idevid.pem"
    key = device.root / "etc" / "idevid.key"
    refused = _verify(env, signed, idevid_pem)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    for identity in (str(key), str(device.config_path)):
        result = _verify(env, signed, idevid_pem, "--identity", identity)
        assert result.returncode == 0, _why(result)
        assert json.loads(result.stdout)["acceptable"] is True


def test_verify_identity_with_tpm_configuration(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities
) -> None:
    """R-020, R-050: ``verify --identity CONFIG`` with a TPM identity table: the TPM does
    the private-key step."""
    recipient = identities.by_algorithm("rsa-2048").certificate
    signed = _encrypted(env, recipient)
    device = env.device([], extra=_tpm_extra(env, swtpm, identities, "rsa-2048"))
    idevid_pem = env.root / "tpm-idevid-rsa-2048.pem"
    result = _verify(env, signed, idevid_pem, "--identity", str(device.config_path))
    assert result.returncode == 0, _why(result)
    assert json.loads(result.stdout)["acceptable"] is True


@pytest.mark.parametrize("backend", ["file", "tpm"])
def test_image_download_authenticates_with_the_identity(
    env: Env, tmp_path: Path, swtpm: SoftwareTPM, identities: LabTPMIdentities, backend: str
) -> None:
    """R-003, R-018: the image downloader presents the device's identity (file or TPM key)
    to a file server that requires a client certificate; without one it is refused."""
    spki = make_server_pki()
    image = tmp_path / "os.img"
    image.write_bytes(b"LabOS " * 1000)
    client_ca = env.lab.pki.manufacturer_root.cert_pem()
    identity: FileIdentity | TPMIdentity
    if backend == "file":
        device = env.device([], extra={"network": NET})
        etc = device.root / "etc"
        identity = FileIdentity(etc / "idevid.pem", etc / "idevid.key")
    else:
        provisioned = identities.by_algorithm("ec-p256")
        chain = (provisioned.certificate, *provisioned.chain)
        pem = _write_chain(tmp_path / "tpm.pem", chain)
        identity = TPMIdentity(swtpm.tcti, provisioned.handle, str(pem))
    with ScriptedServer(*credentials(spki.server), client_ca=client_ca) as server:
        server.routes["/os.img"] = Reply(200, {}, body_file=image)
        url = f"https://localhost:{server.port}/os.img"
        timeouts = Timeouts(connect=5, read=5)
        with pytest.raises((TLSError, ConnectError)):
            download(url, io.BytesIO(), timeouts=timeouts, verify_tls=True, anchors=[spki.anchor])
        result = download(
            url,
            io.BytesIO(),
            timeouts=timeouts,
            verify_tls=True,
            anchors=[spki.anchor],
            identity=identity,
        )
    if isinstance(identity, TPMIdentity):
        identity.close()
    assert result.sha256 == hashlib.sha256(image.read_bytes()).digest()
