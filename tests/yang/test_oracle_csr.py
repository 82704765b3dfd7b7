"""The oracle (yangson over the published modules) accepts the device's RFC 9646 request
bodies: ``csr-support`` in the first get-bootstrapping-data and ``p10-csr`` in the answer to
a csr-request, in JSON and XML (R-124, R-129)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sztp_client.errors import ModelError
from sztp_client.model.rpc import GetBootstrappingDataInput
from tests.yang import oracle

NONCE = bytes(range(32))


def _csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("encoding", ["json", "xml"])
def test_r124_csr_support_body_is_valid(encoding: str) -> None:
    body = GetBootstrappingDataInput(hw_model="lab", nonce=NONCE, csr_support=True)
    data = body.to_json() if encoding == "json" else body.to_xml()
    raw = oracle.check_get_bootstrapping_data_input(data, encoding)
    assert "ietf-sztp-csr:csr-support" in str(raw)


@pytest.mark.parametrize("encoding", ["json", "xml"])
def test_r129_p10_csr_body_is_valid(encoding: str) -> None:
    body = GetBootstrappingDataInput(hw_model="lab", nonce=NONCE, p10_csr=_csr())
    data = body.to_json() if encoding == "json" else body.to_xml()
    raw = oracle.check_get_bootstrapping_data_input(data, encoding)
    assert "ietf-sztp-csr:p10-csr" in str(raw)


def test_r129_csr_support_and_p10_csr_are_exclusive() -> None:
    with pytest.raises(ModelError):
        GetBootstrappingDataInput(nonce=NONCE, csr_support=True, p10_csr=b"\x30\x00")
