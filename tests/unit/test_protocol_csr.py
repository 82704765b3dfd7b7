"""RFC 9646 certificate requests: the offer, the csr-request checks and the PKCS#10 request
(R-124, R-126, R-127, R-128, R-130; D23)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sztp_client.actions.ldevid import FileKeyStore, LDevIDMismatchError
from sztp_client.errors import CSRRequestError
from sztp_client.model import csr as csr_offer
from sztp_client.protocol import csr

SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lab"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, "SN-1"),
    ]
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _request(
    algorithm: bytes | None, fmt: str = csr.P10_FORMAT, **extra: object
) -> dict[str, object]:
    body: dict[str, object] = {"csr-generation": {"selected-format": {"format-identifier": fmt}}}
    if algorithm is not None:
        body["key-generation"] = {"selected-algorithm": {"algorithm-identifier": _b64(algorithm)}}
    body.update(extra)
    return body


def test_r124_offer_lists_ec_rsa_and_p10_only() -> None:
    support = csr_offer.csr_support_json()
    algorithms = support["key-generation"]["supported-algorithms"]["algorithm-identifier"]  # type: ignore[index]
    names = [
        asn1_keys.PublicKeyAlgorithm.load(base64.b64decode(a))["algorithm"].native
        for a in algorithms
    ]
    assert names == ["ec", "rsa"]
    assert support["csr-generation"] == {
        "supported-formats": {"format-identifier": ["ietf-ztp-types:p10-csr"]}
    }
    assert "ztp:p10-csr" in csr_offer.csr_support_xml()


def test_r125_find_csr_request_in_error_info() -> None:
    inner = _request(csr.SUPPORTED_ALGORITHMS["ec-p256"])
    assert csr.find_csr_request({"ietf-sztp-csr:csr-request": inner}) == inner
    assert csr.find_csr_request({"other": 1}) is None
    assert csr.find_csr_request("text") is None


@pytest.mark.parametrize("name", ["ec-p256", "rsa-2048"])
def test_r126_offered_algorithm_accepted(name: str) -> None:
    parsed = csr.parse_csr_request(_request(csr.SUPPORTED_ALGORITHMS[name]))
    assert parsed == csr.CSRRequest(algorithm=name, cert_req_info=None)


def test_r126_unoffered_algorithm_refused() -> None:
    p384 = asn1_keys.PublicKeyAlgorithm(
        {"algorithm": "ec", "parameters": asn1_keys.ECDomainParameters("named", "secp384r1")}
    ).dump()
    with pytest.raises(CSRRequestError, match="did not offer"):
        csr.parse_csr_request(_request(p384))


@pytest.mark.parametrize(
    "fmt",
    ["ietf-ztp-types:cmp-csr", "ietf-ztp-types:cmc-csr", 7, "ztp:cmp-csr", "a:b:p10-csr", ""],
)
def test_r126_unoffered_format_refused(fmt: object) -> None:
    with pytest.raises(CSRRequestError, match="not offered"):
        csr.parse_csr_request(_request(csr.SUPPORTED_ALGORITHMS["ec-p256"], fmt))  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["ietf-ztp-types:p10-csr", "p10-csr", "ztp:p10-csr"])
def test_r126_p10_format_as_json_or_xml_identityref(fmt: str) -> None:
    """R-126: the p10-csr format, module-qualified (JSON) or with an XML server's prefix."""
    asked = csr.parse_csr_request(_request(csr.SUPPORTED_ALGORITHMS["ec-p256"], fmt))
    assert asked.algorithm == "ec-p256"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"csr-generation": "x"},
        {"csr-generation": {"selected-format": {"format-identifier": csr.P10_FORMAT}}, "z": 1},
        {
            "key-generation": {"selected-algorithm": {"algorithm-identifier": "!!"}},
            "csr-generation": {"selected-format": {"format-identifier": csr.P10_FORMAT}},
        },
        {
            "key-generation": [],
            "csr-generation": {"selected-format": {"format-identifier": csr.P10_FORMAT}},
        },
    ],
)
def test_malformed_csr_request_is_typed(body: dict[str, object]) -> None:
    with pytest.raises(CSRRequestError):
        csr.parse_csr_request(body)


def _store(tmp_path: Path) -> FileKeyStore:
    return FileKeyStore(key_path=tmp_path / "ldevid" / "key.pem", cert_path=tmp_path / "ldevid.pem")


@pytest.mark.parametrize("name", ["ec-p256", "rsa-2048"])
def test_r127_fresh_key_file_0600_and_csr_mirrors_idevid_subject(tmp_path: Path, name: str) -> None:
    store = _store(tmp_path)
    store.generate(name)
    assert stat.S_IMODE(store.key_path.stat().st_mode) == 0o600
    der = csr.build_p10_csr(
        algorithm=name,
        spki_der=store.spki_der(),
        sign=store.sign,
        cert_req_info=None,
        subject_der=SUBJECT.public_bytes(),
    )
    request = x509.load_der_x509_csr(der)
    assert request.is_signature_valid
    assert request.subject == SUBJECT
    assert (
        request.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == store.spki_der()
    )


def test_r130_second_round_deletes_previous_key(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.generate("ec-p256")
    first_pem = store.key_path.read_bytes()
    first_spki = store.spki_der()
    store.generate("ec-p256")
    assert store.key_path.read_bytes() != first_pem
    assert store.spki_der() != first_spki
    store.delete()
    assert not store.key_path.exists()


def _cert_req_info(spki: bytes) -> bytes:
    return asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.load(
                x509.Name(
                    [x509.NameAttribute(NameOID.COMMON_NAME, "given by server")]
                ).public_bytes()
            ),
            "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki),
            "attributes": [],
        }
    ).dump()


def test_r128_cert_req_info_signed_exactly_as_given(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.generate("ec-p256")
    info = _cert_req_info(store.spki_der())
    parsed = csr.parse_csr_request(
        _request(csr.SUPPORTED_ALGORITHMS["ec-p256"], **{"cert-req-info": _b64(info)})
    )
    assert parsed.cert_req_info == info
    der = csr.build_p10_csr(
        algorithm="ec-p256",
        spki_der=store.spki_der(),
        sign=store.sign,
        cert_req_info=parsed.cert_req_info,
        subject_der=SUBJECT.public_bytes(),
    )
    request = asn1_csr.CertificationRequest.load(der)
    assert request["certification_request_info"].dump() == info
    assert x509.load_der_x509_csr(der).is_signature_valid


def test_r128_cert_req_info_with_other_algorithm_refused(tmp_path: Path) -> None:
    rsa_store = _store(tmp_path)
    rsa_store.generate("rsa-2048")
    info = _cert_req_info(rsa_store.spki_der())
    with pytest.raises(CSRRequestError, match="differs from the selected"):
        csr.load_cert_req_info(info, "ec-p256")
    with pytest.raises(CSRRequestError, match="malformed"):
        csr.load_cert_req_info(b"\x30\x03\x02\x01\x00", "ec-p256")


def test_d23_installed_ldevid_must_match_new_key(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.check_certificate() is False
    store.generate("ec-p256")
    made = serialization.load_der_public_key(store.spki_der())
    other = ec.generate_private_key(ec.SECP256R1())

    def cert_for(public: ec.EllipticCurvePublicKey) -> bytes:
        import datetime as dt

        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(SUBJECT)
            .issuer_name(SUBJECT)
            .public_key(public)
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(other, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    store.cert_path.write_bytes(cert_for(made))  # type: ignore[arg-type]
    assert store.check_certificate() is True
    # a later run that made no key checks against the key the store holds
    assert FileKeyStore(store.key_path, store.cert_path).check_certificate() is True
    store.cert_path.write_bytes(cert_for(other.public_key()))
    with pytest.raises(LDevIDMismatchError):
        store.check_certificate()
    store.cert_path.write_bytes(b"garbage")
    with pytest.raises(LDevIDMismatchError):
        store.check_certificate()


def test_r128_cert_req_info_subject_kept_byte_for_byte_with_the_new_key(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.generate("ec-p256")
    placeholder = ec.generate_private_key(ec.SECP256R1()).public_key()
    info = _cert_req_info(
        placeholder.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    der = csr.build_p10_csr(
        algorithm="ec-p256",
        spki_der=store.spki_der(),
        sign=store.sign,
        cert_req_info=info,
        subject_der=SUBJECT.public_bytes(),
    )
    made = asn1_csr.CertificationRequest.load(der)["certification_request_info"]
    given = asn1_csr.CertificationRequestInfo.load(info)
    assert made["subject"].dump() == given["subject"].dump()
    assert made["subject_pk_info"].dump() == store.spki_der()
    assert x509.load_der_x509_csr(der).is_signature_valid
