"""RFC 9646 with a TPM identity: the LDevID key is made inside the TPM (swtpm).

The key store (``sztp_client.identity.ldevid_tpm``) against a software TPM: a fresh key of
the selected algorithm at ``identity.ldevid.tpm-handle``, non-exportable, signing in the TPM;
the previous round's key evicted (R-127, R-130, R-132, D23).  Then end to end through the lab:
``run --once`` with identity.backend = "tpm" answers two csr-requests, the handle holds the
second round's key and nothing else of the exchange is left in the TPM, and the installed
LDevID certifies that key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sztp_client.actions.ldevid import LDevIDMismatchError
from sztp_client.errors import ConfigurationError, CSRRequestError
from sztp_client.identity.ldevid_tpm import DEFAULT_LDEVID_HANDLE, TPMKeyStore
from sztp_client.identity.tpm import TPM
from sztp_client.protocol.csr import build_p10_csr
from sztp_lab.csr import RSA_2048, CSRPolicy
from sztp_lab.server import Response
from tests.e2e.conftest import Env
from tests.e2e.conftest import env as env  # noqa: PLC0414 - the e2e fixtures, reused here
from tests.e2e.conftest import lab as lab  # noqa: PLC0414
from tests.e2e.test_csr import _policy
from tests.helpers.swtpm import ECC_HANDLE, RSA_HANDLE, LabTPMIdentities, SoftwareTPM
from tests.integration.test_tpm_identity import _tpm_extra
from tests.integration.test_tpm_identity import identities as identities  # noqa: PLC0414
from tests.integration.test_tpm_identity import swtpm as swtpm  # noqa: PLC0414

pytestmark = pytest.mark.integration

EXIT_OK = 0
LDEVID_HANDLE = 0x81000123


def _spki(public: Any) -> bytes:
    der: bytes = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _csr_spki(der: bytes) -> bytes:
    return _spki(x509.load_der_x509_csr(der).public_key())


@pytest.fixture
def tpm(swtpm: SoftwareTPM, identities: LabTPMIdentities) -> Iterator[TPM]:
    with TPM(swtpm.tcti) as device:
        yield device


def _store(tpm: TPM, tmp_path: Path, handle: int = LDEVID_HANDLE) -> TPMKeyStore:
    return TPMKeyStore(tpm, handle, tmp_path / "ldevid.pem", idevid_handle=ECC_HANDLE)


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_r127_r132_key_made_in_the_tpm_signs_there(
    tpm: TPM, tmp_path: Path, algorithm: str
) -> None:
    """R-127, R-132: the key of the selected algorithm is made inside the TPM at the
    configured handle, cannot leave it, and signs (SHA-256) in the TPM."""
    store = _store(tpm, tmp_path)
    assert not tpm.holds(LDEVID_HANDLE)
    started = time.perf_counter()
    store.generate(algorithm)
    print(f"{algorithm} key made in the TPM in {time.perf_counter() - started:.3f} s")
    assert tpm.holds(LDEVID_HANDLE)
    key = tpm.key(LDEVID_HANDLE)
    assert key.algorithm == algorithm
    assert key.attributes.non_exportable
    assert _spki(key.public_key) == store.spki_der()
    public = serialization.load_der_public_key(store.spki_der())
    signature = store.sign(b"certification request info")
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, b"certification request info", ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
        public.verify(signature, b"certification request info", padding.PKCS1v15(), hashes.SHA256())
    assert store.location == f"tpm:{LDEVID_HANDLE:#010x} via {tpm.tcti}"
    assert store.script_environment()["SZTP_LDEVID_KEY"] == f"tpm:{LDEVID_HANDLE:#010x}"


def test_r130_second_round_evicts_the_previous_key(tpm: TPM, tmp_path: Path) -> None:
    """R-130: a second generate evicts the first key; the handle holds the new one and no
    other persistent object appeared; delete evicts it and is idempotent."""
    before = set(tpm.persistent_handles())
    store = _store(tpm, tmp_path)
    store.generate("ec-p256")
    first = store.spki_der()
    store.generate("ec-p256")
    second = store.spki_der()
    assert first != second
    assert _spki(tpm.key(LDEVID_HANDLE).public_key) == second
    assert set(tpm.persistent_handles()) == before | {LDEVID_HANDLE}
    assert store.delete() is True
    assert not tpm.holds(LDEVID_HANDLE)
    assert set(tpm.persistent_handles()) == before
    assert store.delete() is False
    with pytest.raises(CSRRequestError):
        store.spki_der()
    # the IDevIDs are untouched
    assert tpm.key(ECC_HANDLE).algorithm == "ec-p256"
    assert tpm.key(RSA_HANDLE).algorithm == "rsa-2048"


def test_d23_store_refuses_the_idevid_handle_and_checks_the_certificate(
    tpm: TPM, tmp_path: Path, identities: LabTPMIdentities, env: Env
) -> None:
    """D23: the IDevID's handle is refused; an installed certificate must certify the key
    made in the TPM."""
    with pytest.raises(ConfigurationError, match="IDevID"):
        _store(tpm, tmp_path, handle=ECC_HANDLE)
    with pytest.raises(CSRRequestError):
        _store(tpm, tmp_path).generate("ec-p384")
    store = _store(tpm, tmp_path)
    assert store.check_certificate() is False
    store.generate("ec-p256")
    policy = CSRPolicy(issuer=env.lab.pki.idevid_ca, onboarding=lambda cert: b"")
    request = x509.CertificateSigningRequestBuilder().subject_name(
        identities.ecc.certificate.subject
    )
    foreign = policy._issue(request.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    store.cert_path.write_bytes(foreign.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(LDevIDMismatchError):
        store.check_certificate()
    own = policy._issue(x509.load_der_x509_csr(_own_csr(store)))
    store.cert_path.write_bytes(own.public_bytes(serialization.Encoding.PEM))
    assert store.check_certificate() is True
    # a later run that made no key checks against the key at the handle
    assert _store(tpm, tmp_path).check_certificate() is True
    store.delete()
    with pytest.raises(LDevIDMismatchError):
        _store(tpm, tmp_path).check_certificate()


def _own_csr(store: TPMKeyStore) -> bytes:
    return build_p10_csr(
        algorithm="ec-p256",
        spki_der=store.spki_der(),
        sign=store.sign,
        cert_req_info=None,
        subject_der=x509.Name([]).public_bytes(),
    )


def test_default_ldevid_handle_is_apart_from_the_idevid_handles() -> None:
    """D23: the default LDevID handle is a persistent handle of its own."""
    assert DEFAULT_LDEVID_HANDLE not in (ECC_HANDLE, RSA_HANDLE, 0x81000001)
    assert 0x81000000 <= DEFAULT_LDEVID_HANDLE <= 0x817FFFFF


def _csr_extra(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities, algorithm: str
) -> dict[str, dict[str, Any]]:
    extra = _tpm_extra(env, swtpm, identities, algorithm)
    extra["identity.ldevid"] = {"enabled": True, "tpm-handle": f"{LDEVID_HANDLE:#010x}"}
    return extra


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_r127_r130_round_trip_with_tpm_identity_keeps_the_key_in_the_tpm(
    env: Env, swtpm: SoftwareTPM, identities: LabTPMIdentities, algorithm: str
) -> None:
    """R-124, R-127, R-129, R-130, R-131, R-132, D23: with a TPM identity the client answers
    two csr-requests with keys made in the TPM; the first is evicted, the handle holds the
    second, the installed LDevID certifies it and no key file was written."""
    selected = RSA_2048 if algorithm == "rsa-2048" else None
    policy = _policy(env, rounds=2, **({"algorithm": selected} if selected else {}))
    server = env.server(Response(csr=policy))
    with TPM(swtpm.tcti) as tpm:
        before = set(tpm.persistent_handles())
    device = env.device([server], extra=_csr_extra(env, swtpm, identities, algorithm))
    started = time.perf_counter()
    result = device.run("run", "--once", timeout=120)
    elapsed = time.perf_counter() - started
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    print(f"TPM {algorithm}: two CSR rounds and the bootstrap in {elapsed:.2f} s")
    assert server.reports()[-1] == "bootstrap-complete"
    first, second = (_csr_spki(der) for der in policy.received)
    assert first != second
    assert f"new key at tpm:{LDEVID_HANDLE:#010x}" in result.stdout
    with TPM(swtpm.tcti) as tpm:
        # the handle holds the last round's key; the first round's is nowhere in the TPM
        assert _spki(tpm.key(LDEVID_HANDLE).public_key) == second
        assert tpm.key(LDEVID_HANDLE).attributes.non_exportable
        assert set(tpm.persistent_handles()) == before | {LDEVID_HANDLE}
    cert_path = device.root / "var" / "lib" / "sztp" / "ldevid" / "cert.pem"
    installed = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert installed == policy.issued[-1]
    assert _spki(installed.public_key()) == second
    assert not (device.root / "var" / "lib" / "sztp" / "ldevid" / "key.pem").exists()
