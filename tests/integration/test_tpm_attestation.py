"""Attestation evidence: a TPM quote over PCRs, bound to a nonce, checked by the lab verifier.

The attestation key is a restricted ECC P-256 signing key, an endorsement-hierarchy primary
made by the factory helper.  A genuine quote verifies; a wrong nonce, a PCR extended after
the quote and a forged signature are refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sztp_client.identity import attest
from sztp_client.identity.tpm import TPM, pytss_module
from sztp_lab.attestation import QuoteRefused, verify_quote
from sztp_lab.tpm_factory import DEFAULT_AK_HANDLE, provision_attestation_key
from tests.helpers.swtpm import SoftwareTPM
from tests.integration.test_tpm_identity import swtpm as swtpm  # noqa: PLC0414

pytestmark = pytest.mark.integration

SELECTION = attest.parse_selection(attest.DEFAULT_SELECTION)


@pytest.fixture(params=["ec-p256", "rsa-2048"])
def device(
    swtpm: SoftwareTPM, request: pytest.FixtureRequest
) -> Iterator[tuple[TPM, ec.EllipticCurvePublicKey]]:
    """A TPM with an attestation key, ECC P-256 (ECDSA) or RSA-2048 (RSASSA-PKCS1-v1_5)."""
    with TPM(swtpm.tcti) as tpm:
        yield tpm, provision_attestation_key(tpm, algorithm=request.param)


def _check(ak: ec.EllipticCurvePublicKey, q: attest.Quote, nonce: bytes) -> None:
    verify_quote(ak, q.attest, q.signature, nonce=nonce, bank=q.selection.bank, pcrs=q.pcrs)


def test_quote_verifies(device: tuple[TPM, ec.EllipticCurvePublicKey]) -> None:
    tpm, ak = device
    nonce = os.urandom(32)
    q = attest.quote(tpm, DEFAULT_AK_HANDLE, nonce, SELECTION)
    _check(ak, q, nonce)
    assert attest.pcr_digest(SELECTION, q.pcrs) == attest.pcr_digest(
        SELECTION, attest.read_pcrs(tpm, SELECTION)
    )


def test_wrong_nonce_is_refused(device: tuple[TPM, ec.EllipticCurvePublicKey]) -> None:
    tpm, ak = device
    q = attest.quote(tpm, DEFAULT_AK_HANDLE, b"n" * 32, SELECTION)
    with pytest.raises(QuoteRefused, match="nonce"):
        _check(ak, q, b"m" * 32)


def test_changed_pcr_is_refused(device: tuple[TPM, ec.EllipticCurvePublicKey]) -> None:
    """The quote is taken, then PCR 7 extended: the values read now do not match it."""
    tpm, ak = device
    nonce = os.urandom(20)
    q = attest.quote(tpm, DEFAULT_AK_HANDLE, nonce, SELECTION)
    pytss = pytss_module()

    def extend(esapi: object) -> None:
        digests = pytss.TPML_DIGEST_VALUES(
            [pytss.TPMT_HA(hashAlg=pytss.TPM2_ALG.SHA256, digest=pytss.TPMU_HA(sha256=b"x" * 32))]
        )
        esapi.pcr_extend(pytss.ESYS_TR.PCR7, digests)  # type: ignore[attr-defined]

    tpm.run(extend, "extend PCR 7")
    now = attest.read_pcrs(tpm, SELECTION)
    assert now[7] != q.pcrs[7]
    with pytest.raises(QuoteRefused, match="PCR digest"):
        verify_quote(ak, q.attest, q.signature, nonce=nonce, bank="sha256", pcrs=now)


def test_forged_signature_is_refused(device: tuple[TPM, ec.EllipticCurvePublicKey]) -> None:
    """A signature by another key over the same bytes, and a tampered TPMS_ATTEST."""
    tpm, ak = device
    nonce = os.urandom(32)
    q = attest.quote(tpm, DEFAULT_AK_HANDLE, nonce, SELECTION)
    forged = ec.generate_private_key(ec.SECP256R1()).sign(q.attest, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(QuoteRefused, match="signature"):
        verify_quote(ak, q.attest, forged, nonce=nonce, bank="sha256", pcrs=q.pcrs)
    tampered = q.attest[:-1] + bytes([q.attest[-1] ^ 1])
    with pytest.raises(QuoteRefused, match="signature"):
        verify_quote(ak, tampered, q.signature, nonce=nonce, bank="sha256", pcrs=q.pcrs)
