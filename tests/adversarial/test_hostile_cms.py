"""Hostile CMS input has a bounded cost and only typed errors (D28): one test per attack.

Every test asserts the typed error and the step that refused the data.  Cost is asserted as
work counted (signature checks, path validations), never as time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asn1crypto import cms as acms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sztp_client.errors import CMSError, DataError, ModelError, TrustError, VerificationFailure
from sztp_client.limits import Limits
from sztp_client.trust import cms, cms_algorithms, cms_verify, oids, pipeline, voucher_steps
from sztp_client.trust.verifier import Artifacts
from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import SignedSet, make_signed_set, redirect_json, voucher_json
from sztp_lab.pki import Issued, LabPKI, make_crl, make_lab_pki
from tests.support import ONBOARDING, SERIAL, verify


@pytest.fixture(scope="module")
def rsa_pki() -> LabPKI:
    return make_lab_pki("rsa-2048")


@pytest.fixture(scope="module", params=["ec-p256", "rsa-2048"])
def pki(request: pytest.FixtureRequest) -> LabPKI:
    return make_lab_pki(request.param)


@dataclass
class Counts:
    signatures: int = 0
    paths: int = 0


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    """Count the signature checks and path validations the verifier makes."""
    seen = Counts()
    real_verify = cms_verify.verify_signature
    real_path = pipeline.validate_path

    def counting_verify(*args: Any, **kwargs: Any) -> bytes:
        seen.signatures += 1
        return real_verify(*args, **kwargs)

    def counting_path(*args: Any, **kwargs: Any) -> Any:
        seen.paths += 1
        return real_path(*args, **kwargs)

    monkeypatch.setattr(cms_verify, "verify_signature", counting_verify)
    monkeypatch.setattr(pipeline, "validate_path", counting_path)
    monkeypatch.setattr(voucher_steps, "validate_path", counting_path)
    yield seen


def refused(pki: LabPKI, data: SignedSet | Artifacts, step: str, **kwargs: Any) -> DataError:
    with pytest.raises(DataError) as info:
        verify(pki, data, **kwargs)
    assert info.value.step == step, f"{info.value.step}: {info.value}"
    assert "Traceback" not in info.value.message
    return info.value


def pss_set(pki: LabPKI) -> SignedSet:
    """A signed set whose voucher is signed with RSASSA-PSS (salt = digest length)."""
    good = make_signed_set(pki, SERIAL, ONBOARDING)
    voucher = voucher_json(
        serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert, created_on=pki.now
    )
    signer = pki.voucher_signer
    der = lab_cms.sign(
        voucher, lab_cms.OID_VOUCHER, signer, certificates=list(signer.path), rsa_padding="pss"
    )
    return SignedSet(good.conveyed_information, good.owner_certificate, der)


def mutate_signer(der: bytes, change: Callable[[acms.SignerInfo], None]) -> bytes:
    info = acms.ContentInfo.load(der)
    change(info["content"]["signer_infos"][0])
    return bytes(info.dump(force=True))


def with_voucher(signed: SignedSet, voucher: bytes) -> Artifacts:
    return Artifacts(signed.conveyed_information, signed.owner_certificate, voucher)


def pss_params(si: acms.SignerInfo) -> Any:
    return si["signature_algorithm"]["parameters"]


# -- RSASSA-PSS and algorithm parameters ----------------------------------------------------


def test_pss_baseline_is_accepted(rsa_pki: LabPKI) -> None:
    assert verify(rsa_pki, pss_set(rsa_pki)).signed


@pytest.mark.parametrize(
    "salt", [-1, -(2**70), 2**63, 2**70, 10**400], ids=["-1", "-2^70", "2^63", "2^70", "10^400"]
)
def test_pss_salt_length_negative_or_huge(rsa_pki: LabPKI, salt: int) -> None:
    """D28: a saltLength below 0 or above any key's bound (once a ValueError/OverflowError
    traceback) is a typed refusal at voucher-signature, before any signature check."""
    signed = pss_set(rsa_pki)

    def change(si: acms.SignerInfo) -> None:
        pss_params(si)["salt_length"] = salt

    err = refused(
        rsa_pki,
        with_voucher(signed, mutate_signer(signed.ownership_voucher or b"", change)),
        "voucher-signature",
    )
    assert isinstance(err, cms_algorithms.AlgorithmParameterError)
    assert "salt length" in err.message


def test_pss_salt_length_above_what_the_key_allows(rsa_pki: LabPKI) -> None:
    """D28: for a 2048-bit key and SHA-256 the salt is at most 256 - 32 - 2 = 222 octets."""
    signed = pss_set(rsa_pki)

    def change(si: acms.SignerInfo) -> None:
        pss_params(si)["salt_length"] = 223

    err = refused(
        rsa_pki,
        with_voucher(signed, mutate_signer(signed.ownership_voucher or b"", change)),
        "voucher-signature",
    )
    assert isinstance(err, TrustError)
    assert isinstance(err.__cause__, cms_algorithms.AlgorithmParameterError)
    assert "0..222" in err.message


def test_pss_salt_length_mismatched(rsa_pki: LabPKI) -> None:
    """A saltLength that fits the key but is not the one used: the signature does not verify."""
    signed = pss_set(rsa_pki)

    def change(si: acms.SignerInfo) -> None:
        pss_params(si)["salt_length"] = 20

    err = refused(
        rsa_pki,
        with_voucher(signed, mutate_signer(signed.ownership_voucher or b"", change)),
        "voucher-signature",
    )
    assert isinstance(err, TrustError)
    assert "does not verify" in err.message


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("mgf-unknown", lambda p: p["mask_gen_algorithm"].__setitem__("algorithm", "1.2.3.4.5")),
        (
            "mgf-hash-unknown",
            lambda p: p["mask_gen_algorithm"].__setitem__("parameters", {"algorithm": "sha1"}),
        ),
        ("pss-hash-unknown", lambda p: p.__setitem__("hash_algorithm", {"algorithm": "md5"})),
        ("pss-hash-sha224", lambda p: p.__setitem__("hash_algorithm", {"algorithm": "sha224"})),
        ("trailer-field-2", lambda p: p.__setitem__("trailer_field", 2)),
    ],
)
def test_pss_mgf_or_hash_unknown(rsa_pki: LabPKI, what: str, change: Callable[[Any], None]) -> None:
    """D28: an unknown MGF, MGF hash or PSS hash, or a trailer field other than 1, is refused
    when the SignerInfo is parsed."""
    signed = pss_set(rsa_pki)
    voucher = mutate_signer(signed.ownership_voucher or b"", lambda si: change(pss_params(si)))
    err = refused(rsa_pki, with_voucher(signed, voucher), "voucher-signature")
    assert isinstance(err, cms_algorithms.AlgorithmParameterError), what


@pytest.mark.parametrize("digest", ["md5", "sha1", "1.2.3.4"])
def test_digest_algorithm_unknown(pki: LabPKI, digest: str) -> None:
    signed = make_signed_set(pki, SERIAL, ONBOARDING)

    def change(si: acms.SignerInfo) -> None:
        si["digest_algorithm"] = {"algorithm": digest}

    voucher = mutate_signer(signed.ownership_voucher or b"", change)
    err = refused(pki, with_voucher(signed, voucher), "voucher-signature")
    assert isinstance(err, cms_algorithms.AlgorithmParameterError)


def test_pss_salt_negative_in_conveyed_information(rsa_pki: LabPKI) -> None:
    """The same parameter checks guard the conveyed information, refused when decoded."""
    good = make_signed_set(rsa_pki, SERIAL, ONBOARDING)
    ci = lab_cms.sign(
        ONBOARDING,
        oids.ID_CT_SZTP_CONVEYED_INFO_JSON,
        rsa_pki.owner_certificate,
        rsa_padding="pss",
    )

    def change(si: acms.SignerInfo) -> None:
        pss_params(si)["salt_length"] = -5

    bad = Artifacts(mutate_signer(ci, change), good.owner_certificate, good.ownership_voucher)
    err = refused(rsa_pki, bad, "decode")
    assert isinstance(err, cms_algorithms.AlgorithmParameterError)


def test_primitive_failure_becomes_a_signature_failure(
    pki: LabPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D28: any exception a cryptographic primitive raises is a failed signature."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OverflowError("Python int too large to convert to C long")

    monkeypatch.setattr(cms_verify, "_check_with_key", broken)
    err = refused(pki, signed, "voucher-signature")
    assert isinstance(err, TrustError)
    assert "OverflowError" in err.message


def test_any_unexpected_failure_is_a_typed_refusal(
    pki: LabPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D28: an exception that is not the project's own, anywhere in the pipeline, becomes a
    VerificationFailure naming the step."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(pipeline, "check_revocation", broken)
    monkeypatch.setattr(pipeline, "_check_owner_key_usage", broken)
    err = refused(pki, signed, "owner-key-usage")
    assert isinstance(err, VerificationFailure)
    assert "internal failure while verifying" in err.message


# -- forged signer candidates ------------------------------------------------------------------


_FORGER = ec.generate_private_key(ec.SECP256R1())


def forged_candidates(signer: Issued, count: int, *, same_key: bool) -> list[x509.Certificate]:
    """Certificates that carry the signer's issuer and serial number (so the SignerInfo names
    each of them), with the signer's public key or the forger's, signed by the forger."""
    key = signer.cert.public_key() if same_key else _FORGER.public_key()
    start = signer.cert.not_valid_before_utc
    made = []
    for index in range(count):
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"F{index}")]))
            .issuer_name(signer.cert.issuer)
            .public_key(key)  # type: ignore[arg-type]
            .serial_number(signer.cert.serial_number)
            .not_valid_before(start + dt.timedelta(seconds=index))
            .not_valid_after(signer.cert.not_valid_after_utc)
            .sign(_FORGER, hashes.SHA256())
        )
        made.append(cert)
    return made


def voucher_with(pki: LabPKI, certificates: list[x509.Certificate]) -> bytes:
    voucher = voucher_json(
        serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert, created_on=pki.now
    )
    return lab_cms.sign(voucher, lab_cms.OID_VOUCHER, pki.voucher_signer, certificates=certificates)


def test_2000_forged_signer_candidates(pki: LabPKI, counts: Counts) -> None:
    """D28: 2,000 forged certificates naming the signer (once 2.5 CPU minutes under the
    untrusted clock) are refused by the bag bound before one is decoded: no signature check,
    no path validation."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    forged = forged_candidates(pki.voucher_signer, 2000, same_key=False)
    bag = [*pki.voucher_signer.path, *forged]
    voucher = voucher_with(pki, bag)
    assert len(voucher) < 1024 * 1024
    err = refused(pki, with_voucher(signed, voucher), "voucher-signature")
    assert isinstance(err, cms.CMSBagLimitError)
    assert "2002 certificates" in err.message and "limits.cms-certificates" in err.message
    assert counts.signatures == 0 and counts.paths == 0


def test_2000_forged_signer_candidates_with_the_bound_raised(pki: LabPKI, counts: Counts) -> None:
    """D28: even with the bag bound raised, forged candidates cost one signature check each
    and no path validation: only the real signer's path is validated."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    forged = forged_candidates(pki.voucher_signer, 2000, same_key=False)
    voucher = voucher_with(pki, [*pki.voucher_signer.path, *forged])
    verified = verify(pki, with_voucher(signed, voucher), limits=Limits(cms_certificates=4096))
    assert verified.voucher_signer == pki.voucher_signer.cert
    assert counts.signatures == 2001 + 1  # every voucher candidate once, the conveyed info once
    assert counts.paths == 2  # the voucher signer's path and the owner certificate's


def test_forged_signer_candidates_within_the_bound_other_keys(pki: LabPKI, counts: Counts) -> None:
    """D28: the worst case within the bound, forged certificates with other keys: one
    signature check each, and the honest signer is still accepted."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    forged = forged_candidates(pki.voucher_signer, 14, same_key=False)
    voucher = voucher_with(pki, [*pki.voucher_signer.path, *forged])
    assert verify(pki, with_voucher(signed, voucher)).signed
    assert counts.paths == 2


def test_forged_signer_candidates_within_the_bound_same_key(pki: LabPKI, counts: Counts) -> None:
    """D28: forged certificates that copy the signer's key all verify the signature; the path
    validations they cause stop at limits.path-validations, with a typed refusal."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    forged = forged_candidates(pki.voucher_signer, 15, same_key=True)
    voucher = voucher_with(pki, [pki.manufacturer_intermediate.cert, *forged])
    err = refused(pki, with_voucher(signed, voucher), "voucher-signature")
    assert "limits.path-validations" in err.message
    assert counts.paths == Limits().path_validations
    assert counts.signatures == 15


def test_duplicate_signer_certificates_are_checked_once(pki: LabPKI, counts: Counts) -> None:
    """D28: candidates are de-duplicated by their encoding."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    bag = [pki.voucher_signer.cert] * 8 + [pki.manufacturer_intermediate.cert]
    voucher = lab_cms.sign(
        voucher_json(
            serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert, created_on=pki.now
        ),
        lab_cms.OID_VOUCHER,
        pki.voucher_signer,
        certificates=bag,
        keep_order=True,
    )
    assert verify(pki, with_voucher(signed, voucher)).signed
    assert counts.signatures == 2 and counts.paths == 2


# -- bags over the bound --------------------------------------------------------------------


def test_certificate_bag_over_the_bound(pki: LabPKI) -> None:
    """D28: an owner-certificate CMS with 17 certificates is refused at owner-certificate."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    extra = forged_candidates(pki.owner_certificate, 15, same_key=False)
    bag = lab_cms.degenerate([*pki.owner_certificate.path, *extra])
    err = refused(
        pki,
        Artifacts(signed.conveyed_information, bag, signed.ownership_voucher),
        "owner-certificate",
    )
    assert isinstance(err, cms.CMSBagLimitError) and "17 certificates" in err.message
    # 16 is within the bound: decoded, and refused for what the certificates are
    within = lab_cms.degenerate([*pki.owner_certificate.path, *extra[:14]])
    err = refused(
        pki,
        Artifacts(signed.conveyed_information, within, signed.ownership_voucher),
        "owner-certificate",
    )
    assert not isinstance(err, cms.CMSBagLimitError)


def test_crl_bag_over_the_bound(pki: LabPKI) -> None:
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    crls = [make_crl(pki.owner_intermediate, crl_number=n) for n in range(17)]
    bag = lab_cms.degenerate(list(pki.owner_certificate.path), crls)
    err = refused(
        pki,
        Artifacts(signed.conveyed_information, bag, signed.ownership_voucher),
        "owner-certificate",
    )
    assert isinstance(err, cms.CMSBagLimitError) and "17 CRLs" in err.message


def test_certificate_bag_bound_is_configurable(pki: LabPKI) -> None:
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    err = refused(pki, signed, "decode", limits=Limits(cms_certificates=1))
    assert isinstance(err, CMSError) and "over the limit of 1" in err.message


# -- redirect list width -------------------------------------------------------------------------


def test_redirect_list_over_its_bound(pki: LabPKI) -> None:
    """D28: a redirect-information with more bootstrap servers than limits.redirect-servers
    is refused at conveyed-information; at the bound it is accepted."""

    def redirect(count: int) -> Artifacts:
        servers = [(f"sztp{i}.example", 443, None) for i in range(count)]
        content = lab_cms.content_info(oids.ID_CT_SZTP_CONVEYED_INFO_JSON, redirect_json(servers))
        return Artifacts(content)

    err = refused(pki, redirect(17), "conveyed-information")
    assert isinstance(err, ModelError) and "limits.redirect-servers" in err.message
    assert verify(pki, redirect(16)).kind.value == "redirect-information"
    err = refused(pki, redirect(3), "conveyed-information", limits=Limits(redirect_servers=2))
    assert isinstance(err, ModelError)


def _self_issued(name: x509.Name, key: Any, signed_by: Any, index: int) -> x509.Certificate:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key)
        .serial_number(7000 + index)
        .not_valid_before(start + dt.timedelta(seconds=index))
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(signed_by, hashes.SHA256())
    )


@pytest.mark.parametrize("shape", ["copies-of-one-issuer", "ring"])
def test_forged_issuers_that_name_each_other(pki: LabPKI, counts: Counts, shape: str) -> None:
    """D28: a forged leaf holding the signer's key under 14 forged issuers that name (and, for
    the copies, sign) each other: the path search keeps one issuer per name and key and at
    most two per name, so it is a line, not a tree; one path validation, a typed refusal."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    name = pki.voucher_signer.cert.issuer
    if shape == "ring":
        keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(14)]
        issuers = [
            _self_issued(name, keys[i].public_key(), keys[(i + 1) % 14], i) for i in range(14)
        ]
    else:
        issuers = [_self_issued(name, _FORGER.public_key(), _FORGER, i) for i in range(14)]
    leaf = forged_candidates(pki.voucher_signer, 1, same_key=True)
    voucher = voucher_with(pki, [pki.manufacturer_intermediate.cert, *leaf, *issuers])
    err = refused(pki, with_voucher(signed, voucher), "voucher-signature")
    assert isinstance(err, TrustError)
    assert counts.paths == 1
