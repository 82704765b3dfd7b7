"""The envelope decryptor against ``openssl cms -encrypt``, a producer we did not write, and
openssl ``cms -decrypt`` against the lab's producer (R-008, R-020, R-044, R-046, R-050, D14).

Recipients are an RSA-2048 and an EC P-256 IDevID from the lab PKI.  openssl's own defaults are
covered (3DES content, PKCS#1 v1.5 for RSA, a SHA-1 X9.63 KDF and the CMS Triple-DES key wrap
for EC) beside AES-CBC, RSAES-OAEP, other KDF hashes and AES-GCM (AuthEnvelopedData).
"""

from __future__ import annotations

from typing import Any

import pytest

from sztp_client.trust import cms, oids
from sztp_client.trust.envelope import ContentDecryptionError, NotForThisDeviceError
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import Artifacts, verify_bootstrapping_data
from sztp_lab import envelope
from sztp_lab.artifacts import voucher_json
from sztp_lab.cms import inner_content
from sztp_lab.pki import Issued, LabPKI, make_lab_pki
from tests.conftest import require
from tests.helpers.envelopes import (
    counted,
    envelope_of,
    mutate,
    open_envelope,
    relabel_as_signed_data,
)
from tests.helpers.openssl_cli import (
    openssl_available,
    openssl_decrypt,
    openssl_degenerate,
    openssl_sign,
)
from tests.helpers.openssl_envelope import openssl_cms_encrypt
from tests.support import ONBOARDING, SERIAL, device_of, policy_of

pytestmark = pytest.mark.integration

JSON = oids.ID_CT_SZTP_CONVEYED_INFO_JSON
VOUCHER = oids.ID_CT_ANIMA_JSON_VOUCHER
CONTENT = ONBOARDING


@pytest.fixture(scope="module", autouse=True)
def _openssl() -> None:
    require(openssl_available(), "the openssl command line (Debian package openssl)")


@pytest.fixture(scope="module")
def rsa_pki() -> LabPKI:
    return make_lab_pki("rsa-2048")


@pytest.fixture(scope="module")
def ec_pki() -> LabPKI:
    return make_lab_pki("ec-p256")


RSA_VARIANTS: dict[str, dict[str, Any]] = {
    "default-3des-v15": {},
    "aes128-v15": {"cipher": "aes128"},
    "aes256-v15": {"cipher": "aes256"},
    "oaep-sha1": {"cipher": "aes256", "keyopts": ["rsa_padding_mode:oaep"]},
    "oaep-sha256": {
        "cipher": "aes256",
        "keyopts": ["rsa_padding_mode:oaep", "rsa_oaep_md:sha256"],
    },
    "oaep-sha512-mgf1-sha1": {
        "keyopts": ["rsa_padding_mode:oaep", "rsa_oaep_md:sha512", "rsa_mgf1_md:sha1"],
    },
    "gcm-v15": {"cipher": "aes-256-gcm"},
    "gcm-oaep-sha256": {
        "cipher": "aes-128-gcm",
        "keyopts": ["rsa_padding_mode:oaep", "rsa_oaep_md:sha256"],
    },
    "keyid": {"cipher": "aes128", "keyid": True},
}
EC_VARIANTS: dict[str, dict[str, Any]] = {
    "default-3des-sha1kdf-3deswrap": {},
    "aes128-sha1kdf": {"cipher": "aes128"},
    "aes256-sha1kdf": {"cipher": "aes256"},
    "aes256-sha256kdf": {"cipher": "aes256", "keyopts": ["ecdh_kdf_md:sha256"]},
    "aes128-sha384kdf": {"cipher": "aes128", "keyopts": ["ecdh_kdf_md:sha384"]},
    "3des-sha512kdf": {"keyopts": ["ecdh_kdf_md:sha512"]},
    "3des-sha224kdf": {"keyopts": ["ecdh_kdf_md:sha224"]},
    "gcm": {"cipher": "aes-256-gcm"},
    "gcm-sha256kdf": {"cipher": "aes-128-gcm", "keyopts": ["ecdh_kdf_md:sha256"]},
    "cofactor": {"cipher": "aes256", "keyopts": ["ecdh_cofactor_mode:1"]},
    "keyid": {"cipher": "aes256", "keyid": True},
}


@pytest.mark.parametrize("variant", list(RSA_VARIANTS))
def test_openssl_rsa_recipient(rsa_pki: LabPKI, variant: str) -> None:
    """R-050: every openssl key-transport variant opens with one RSA operation."""
    options = RSA_VARIANTS[variant]
    idevid = rsa_pki.idevid(SERIAL)
    der = openssl_cms_encrypt(CONTENT, [idevid.cert], **options)
    decryptor, key = counted(idevid)
    assert open_envelope(der, decryptor) == (oids.ID_DATA, CONTENT)
    assert (key.rsa_calls, key.ecdh_calls) == (1, 0)
    keyopts = options.get("keyopts", [])
    if "rsa_padding_mode:oaep" in keyopts:
        md = next((o.split(":")[1] for o in keyopts if o.startswith("rsa_oaep_md:")), "sha1")
        mgf = next((o.split(":")[1] for o in keyopts if o.startswith("rsa_mgf1_md:")), md)
        assert (key.paddings[0].scheme, key.paddings[0].hash, key.paddings[0].mgf1_hash) == (
            "oaep",
            md,
            mgf,
        )
    else:
        assert key.paddings[0].scheme == "pkcs1v15"
    expected_type = oids.ID_AUTH_ENVELOPED_DATA if "gcm" in variant else oids.ID_ENVELOPED_DATA
    assert envelope_of(der)[0] == expected_type


@pytest.mark.parametrize("variant", list(EC_VARIANTS))
def test_openssl_ec_recipient(ec_pki: LabPKI, variant: str) -> None:
    """R-050: every openssl key-agreement variant opens with one ECDH."""
    idevid = ec_pki.idevid(SERIAL)
    der = openssl_cms_encrypt(CONTENT, [idevid.cert], **EC_VARIANTS[variant])
    decryptor, key = counted(idevid)
    assert open_envelope(der, decryptor) == (oids.ID_DATA, CONTENT)
    assert (key.rsa_calls, key.ecdh_calls) == (0, 1)


def test_openssl_several_recipients(rsa_pki: LabPKI, ec_pki: LabPKI) -> None:
    """R-008: an openssl envelope for three devices; each opens it with one operation."""
    devices = [rsa_pki.idevid(SERIAL), ec_pki.idevid(SERIAL), rsa_pki.idevid("SN-2")]
    der = openssl_cms_encrypt(CONTENT, [d.cert for d in devices], cipher="aes256")
    for device in devices:
        decryptor, key = counted(device)
        assert open_envelope(der, decryptor) == (oids.ID_DATA, CONTENT)
        assert key.operations == 1


@pytest.mark.parametrize("key_type", ["rsa-2048", "ec-p256"])
def test_openssl_envelope_for_another_device(key_type: str) -> None:
    """R-008: encrypted to another certificate: NotForThisDeviceError, no key operation."""
    pki = make_lab_pki(key_type)  # type: ignore[arg-type]
    der = openssl_cms_encrypt(CONTENT, [pki.idevid("SN-ELSEWHERE").cert], cipher="aes256")
    decryptor, key = counted(pki.idevid(SERIAL))
    with pytest.raises(NotForThisDeviceError, match="not encrypted for this device"):
        open_envelope(der, decryptor)
    assert key.operations == 0


@pytest.mark.parametrize("cipher", [None, "aes-256-gcm"])
def test_openssl_envelope_corrupted(rsa_pki: LabPKI, cipher: str | None) -> None:
    """A corrupted openssl ciphertext: the one content-failure refusal."""
    idevid = rsa_pki.idevid(SERIAL)
    der = openssl_cms_encrypt(CONTENT, [idevid.cert], cipher=cipher)

    def flip(content: Any) -> None:
        name = "auth_encrypted_content_info" if cipher else "encrypted_content_info"
        data = bytearray(content[name]["encrypted_content"].native)
        data[-9] ^= 0xFF  # 3DES: the pad length of the last block; GCM: any byte
        content[name]["encrypted_content"] = bytes(data)

    with pytest.raises(ContentDecryptionError):
        open_envelope(mutate(der, flip), counted(idevid)[0])


def _openssl_signed_set(pki: LabPKI) -> tuple[bytes, bytes, bytes]:
    owner = pki.owner_certificate
    signer = pki.voucher_signer
    voucher = voucher_json(serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert)
    return (
        openssl_sign(CONTENT, JSON, owner.cert, owner.key, owner.chain),
        openssl_degenerate(owner.path),
        openssl_sign(voucher, VOUCHER, signer.cert, signer.key, signer.chain),
    )


def _verify(pki: LabPKI, idevid: Issued, artifacts: Artifacts, source: SourceKind) -> Any:
    decryptor, key = counted(idevid)
    verified = verify_bootstrapping_data(
        artifacts, device_of(pki), policy_of(pki), source=source, decryptor=decryptor
    )
    return verified, key.operations


@pytest.mark.parametrize("key_type", ["rsa-2048", "ec-p256"])
@pytest.mark.parametrize("cipher", [None, "aes256", "aes-256-gcm"])
def test_openssl_sign_then_encrypt_through_the_pipeline(key_type: str, cipher: str | None) -> None:
    """R-020, R-046, D14: openssl signs all three artifacts and encrypts each to the IDevID
    (relabelled id-signedData, as RFC 8572 layers it); the pipeline verifies the set."""
    pki = make_lab_pki(key_type)  # type: ignore[arg-type]
    idevid = pki.idevid(SERIAL)
    signed = _openssl_signed_set(pki)
    encrypted = [
        relabel_as_signed_data(
            openssl_cms_encrypt(_signed_data_of(a), [idevid.cert], cipher=cipher)
        )
        for a in signed
    ]
    verified, operations = _verify(pki, idevid, Artifacts(*encrypted), SourceKind.UNTRUSTED_SERVER)
    assert verified.signed and verified.encrypted
    assert verified.owner_certificate == pki.owner_certificate.cert
    assert operations == 3


def _signed_data_of(content_info: bytes) -> bytes:
    """The SignedData inside a ContentInfo: what RFC 8572 encrypts."""
    return inner_content(content_info)[1]


def test_openssl_lab_signed_and_openssl_encrypted_mixed(ec_pki: LabPKI) -> None:
    """The lab's encryption around openssl's signatures and the other way round, in one set."""
    idevid = ec_pki.idevid(SERIAL)
    ci, oc, ov = _openssl_signed_set(ec_pki)
    artifacts = Artifacts(
        envelope.encrypt_artifact(ci, idevid.cert, cipher="aes-128-gcm"),
        relabel_as_signed_data(openssl_cms_encrypt(_signed_data_of(oc), [idevid.cert])),
        envelope.encrypt_artifact(ov, idevid.cert, cipher="des-ede3-cbc", kdf_hash="sha1"),
    )
    verified, _ = _verify(ec_pki, idevid, artifacts, SourceKind.UNTRUSTED_SERVER)
    assert verified.signed and verified.encrypted


def test_openssl_unsigned_encrypted_from_a_trusted_server(rsa_pki: LabPKI) -> None:
    """R-044: openssl's id-data envelope around unsigned onboarding information, from a trusted
    server, is processed."""
    idevid = rsa_pki.idevid(SERIAL)
    der = openssl_cms_encrypt(CONTENT, [idevid.cert], cipher="aes256")
    unwrapped = cms.unwrap(der, "test", decryptor=counted(idevid)[0])
    assert unwrapped == cms.Plain(oids.ID_DATA, CONTENT, encrypted=True)
    verified, _ = _verify(rsa_pki, idevid, Artifacts(der), SourceKind.TRUSTED_SERVER)
    assert verified.encrypted and not verified.signed


LAB_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "rsa-v15-aes256": ("rsa-2048", {"rsa_padding": "pkcs1v15"}),
    "rsa-oaep-sha256": ("rsa-2048", {"oaep_hash": "sha256"}),
    "rsa-oaep-sha1-3des": ("rsa-2048", {"oaep_hash": "sha1", "cipher": "des-ede3-cbc"}),
    "rsa-oaep-sha384-mgf1-sha1": ("rsa-2048", {"oaep_hash": "sha384", "mgf1_hash": "sha1"}),
    "rsa-keyid-aes192": ("rsa-2048", {"rid": "subject_key_identifier", "cipher": "aes-192-cbc"}),
    "rsa-gcm": ("rsa-2048", {"cipher": "aes-256-gcm", "auth_attributes": False}),
    "ec-sha256kdf-aes256": ("ec-p256", {}),
    "ec-sha1kdf-3des-3deswrap": ("ec-p256", {"kdf_hash": "sha1", "cipher": "des-ede3-cbc"}),
    "ec-sha512kdf-aes128-wrap256": (
        "ec-p256",
        {"kdf_hash": "sha512", "cipher": "aes-128-cbc", "key_wrap": "aes256_wrap"},
    ),
    "ec-sha224kdf-ukm": ("ec-p256", {"kdf_hash": "sha224", "ukm": b"keying material"}),
    "ec-keyid": ("ec-p256", {"rid": "subject_key_identifier"}),
    "ec-gcm": ("ec-p256", {"cipher": "aes-128-gcm", "auth_attributes": False}),
}


@pytest.mark.parametrize("variant", list(LAB_VARIANTS))
def test_openssl_opens_what_the_lab_makes(rsa_pki: LabPKI, ec_pki: LabPKI, variant: str) -> None:
    """The lab's producer checked by an independent decryptor: openssl cms -decrypt."""
    key_type, options = LAB_VARIANTS[variant]
    idevid = (rsa_pki if key_type == "rsa-2048" else ec_pki).idevid(SERIAL)
    der = envelope.encrypt(CONTENT, oids.ID_DATA, idevid.cert, **options)
    assert openssl_decrypt(der, idevid.cert, idevid.key) == CONTENT
    assert open_envelope(der, counted(idevid)[0]) == (oids.ID_DATA, CONTENT)


@pytest.mark.parametrize("key_type", ["ec-p384", "rsa-3072"])
@pytest.mark.parametrize("cipher", [None, "aes-256-gcm"])
def test_openssl_other_key_sizes(key_type: str, cipher: str | None) -> None:
    """R-050: P-384 and RSA-3072 IDevIDs open openssl's default and AES-GCM envelopes."""
    idevid = make_lab_pki(key_type).idevid(SERIAL)  # type: ignore[arg-type]
    der = openssl_cms_encrypt(CONTENT, [idevid.cert], cipher=cipher)
    decryptor, key = counted(idevid)
    assert open_envelope(der, decryptor) == (oids.ID_DATA, CONTENT)
    assert key.operations == 1
