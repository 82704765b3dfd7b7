"""The TPM back-end's primitives against a real software TPM (swtpm), IDevIDs made by the
factory.

R-007 (the TLS client key is held in the TPM, referenced by a persistent handle, never
exportable), R-010 (an 802.1AR-style IDevID with the serial number as the subject's last
serialNumber RDN), R-121 (the same key signs and decrypts: RSA PKCS#1 v1.5 / OAEP and ECDH
ZGen for the CMS decryption to come).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

from sztp_client.errors import ConfigurationError, SZTPError
from sztp_client.identity.errors import (
    TPMCertificateError,
    TPMConnectionError,
    TPMKeyError,
    TPMOperationError,
    TPMSupportMissingError,
)
from sztp_client.identity.tpm import TPM, parse_handle, parse_nv_index, parse_tcti
from sztp_client.identity.tpm_certs import load_certificates, split_der_certificates
from sztp_lab.pki import LabPKI, make_lab_pki
from sztp_lab.tpm_factory import build_csr
from tests.conftest import require
from tests.helpers.swtpm import (
    ECC_HANDLE,
    ECC_NV_INDEX,
    RSA_HANDLE,
    LabTPMIdentities,
    SoftwareTPM,
    provision_lab_identities,
    require_tpm_stack,
    tpm2_pytss_available,
)

pytestmark = pytest.mark.integration
SERIAL = "TPM-PRIM-0001"
MESSAGE = b"signed inside the TPM"


@pytest.fixture(scope="module")
def lab_pki() -> LabPKI:
    return make_lab_pki()


@pytest.fixture(scope="module")
def swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftwareTPM]:
    require_tpm_stack()
    with SoftwareTPM(tmp_path_factory.mktemp("swtpm")) as software_tpm:
        yield software_tpm


@pytest.fixture(scope="module")
def identities(swtpm: SoftwareTPM, lab_pki: LabPKI) -> LabTPMIdentities:
    return provision_lab_identities(swtpm.tcti, lab_pki, SERIAL)


@pytest.fixture
def tpm(swtpm: SoftwareTPM, identities: LabTPMIdentities) -> Iterator[TPM]:
    with TPM(swtpm.tcti) as opened:
        yield opened


# -- configuration values: typed errors, no TPM needed --------------------------------------


def test_key_handle_from_string_or_integer() -> None:
    assert parse_handle("0x81020000") == 0x81020000
    assert parse_handle(0x81020001) == 0x81020001


@pytest.mark.parametrize("value", ["0x01C00002", "handle", "", True, 3.5, None, 0x82000000])
def test_bad_key_handle_is_a_configuration_error(value: object) -> None:
    with pytest.raises(TPMKeyError) as caught:
        parse_handle(value)
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.exit_code == 78
    assert "identity.tpm.key-handle" in str(caught.value)


def test_nv_reference_parsed() -> None:
    assert parse_nv_index("nv:0x01C00002") == 0x01C00002
    with pytest.raises(TPMCertificateError):
        parse_nv_index("nv:0x81000000")


@pytest.mark.parametrize("value", ["", "   ", "bogus:x", 2321, None])
def test_bad_tcti_is_a_configuration_error(value: object) -> None:
    with pytest.raises(TPMSupportMissingError) as caught:
        parse_tcti(value)
    assert "identity.tpm.tcti" in str(caught.value)


def test_default_tcti_is_the_kernel_resource_manager() -> None:
    assert TPM().tcti == "device:/dev/tpmrm0"


def test_missing_tpm2_pytss_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tpm2_pytss", None)  # makes the import fail
    with pytest.raises(TPMSupportMissingError) as caught:
        TPM("swtpm:host=127.0.0.1,port=1").key(ECC_HANDLE)
    assert "tpm2-pytss" in str(caught.value)
    assert caught.value.exit_code == 78


def test_missing_tpm_device_is_a_typed_error(tmp_path: Path) -> None:
    require(tpm2_pytss_available(), "tpm2-pytss")
    with pytest.raises(TPMConnectionError) as caught:
        TPM(f"device:{tmp_path / 'tpmrm0'}").key(ECC_HANDLE)
    assert "no TPM at" in str(caught.value)
    assert caught.value.retryable


def test_tpm_not_answering_is_a_typed_error() -> None:
    require(tpm2_pytss_available(), "tpm2-pytss")
    with pytest.raises(TPMConnectionError) as caught:
        TPM("swtpm:host=127.0.0.1,port=1").key(ECC_HANDLE)
    assert "does not answer" in str(caught.value)


def test_stored_certificates_parsed_and_garbage_refused(lab_pki: LabPKI) -> None:
    issued = lab_pki.idevid("NV-PARSE")
    ders = issued.cert_der() + lab_pki.idevid_ca.cert_der()
    certs = split_der_certificates(ders + b"\xff" * 40)
    assert [c.subject for c in certs] == [issued.cert.subject, lab_pki.idevid_ca.cert.subject]
    for garbage in (b"", b"\x00" * 8, b"\x04\x02ab", b"\x30\x84\xff\xff\xff\xff", ders[:-1]):
        with pytest.raises(TPMCertificateError):
            split_der_certificates(garbage)


# -- against swtpm ----------------------------------------------------------------------------


@pytest.mark.parametrize("handle", [ECC_HANDLE, RSA_HANDLE])
def test_idevid_key_is_non_exportable_by_its_attributes(tpm: TPM, handle: int) -> None:
    """R-007: generated in the TPM and bound to it (fixedTPM, fixedParent,
    sensitiveDataOrigin), so no duplication, and the public part is all that is read."""
    key = tpm.key(handle)
    attributes = key.attributes
    assert attributes.fixed_tpm and attributes.fixed_parent
    assert attributes.sensitive_data_origin
    assert attributes.non_exportable
    assert attributes.sign and attributes.decrypt and not attributes.restricted
    assert not hasattr(key, "private_bytes")


@pytest.mark.parametrize("handle", [ECC_HANDLE, RSA_HANDLE])
def test_reading_the_private_part_fails(tpm: TPM, handle: int) -> None:
    """R-007: TPM2_Duplicate, the only command that lets a private area leave a TPM, is
    refused by the TPM itself, with a password and with a policy session: the key has no
    authorisation policy and is fixedParent."""
    import tpm2_pytss
    from tpm2_pytss.types import TPM2B_DATA, TPMT_SYM_DEF, TPMT_SYM_DEF_OBJECT

    esapi = tpm.esapi
    key_tr = esapi.tr_from_tpmpublic(handle)
    no_wrap = TPMT_SYM_DEF_OBJECT(algorithm=tpm2_pytss.TPM2_ALG.NULL)
    with pytest.raises(tpm2_pytss.TSS2_Exception) as caught:
        esapi.duplicate(
            key_tr,
            tpm2_pytss.ESYS_TR.RH_NULL,
            TPM2B_DATA(),
            no_wrap,
            session1=tpm2_pytss.ESYS_TR.PASSWORD,
        )
    assert (caught.value.rc >> 16) & 0xFF == 0  # the TPM refused, not the TSS
    session = esapi.start_auth_session(
        tpm2_pytss.ESYS_TR.NONE,
        tpm2_pytss.ESYS_TR.NONE,
        tpm2_pytss.TPM2_SE.POLICY,
        TPMT_SYM_DEF(algorithm=tpm2_pytss.TPM2_ALG.NULL),
        tpm2_pytss.TPM2_ALG.SHA256,
    )
    with tpm.transient(session):
        esapi.policy_command_code(session, tpm2_pytss.TPM2_CC.Duplicate)
        with pytest.raises(tpm2_pytss.TSS2_Exception) as caught:
            esapi.duplicate(
                key_tr, tpm2_pytss.ESYS_TR.RH_NULL, TPM2B_DATA(), no_wrap, session1=session
            )
        assert (caught.value.rc >> 16) & 0xFF == 0
    public, _, _ = esapi.read_public(key_tr)
    assert public.publicArea.objectAttributes & tpm2_pytss.TPMA_OBJECT.FIXEDPARENT
    assert len(bytes(public.publicArea.authPolicy)) == 0


def test_ecdsa_signature_verifies_with_the_certificate(
    tpm: TPM, identities: LabTPMIdentities
) -> None:
    key = tpm.key(ECC_HANDLE)
    signature = key.sign_data(MESSAGE)
    public = identities.ecc.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))


def test_rsa_signatures_verify_with_the_certificate(tpm: TPM, identities: LabTPMIdentities) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = tpm.key(RSA_HANDLE)
    public = identities.rsa.certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        key.sign_data(MESSAGE, padding="pkcs1"), MESSAGE, padding.PKCS1v15(), hashes.SHA256()
    )
    public.verify(
        key.sign_data(MESSAGE, padding="pss"),
        MESSAGE,
        padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )


def test_digest_of_the_wrong_size_refused(tpm: TPM) -> None:
    with pytest.raises(TPMOperationError):
        tpm.key(ECC_HANDLE).sign_digest(b"\x00" * 31)


@pytest.mark.parametrize(
    ("scheme", "oaep_hash"), [("pkcs1", "sha1"), ("oaep", "sha1"), ("oaep", "sha256")]
)
def test_rsa_decrypt_in_the_tpm_matches_encryption_to_the_public_key(
    tpm: TPM, identities: LabTPMIdentities, scheme: str, oaep_hash: str
) -> None:
    """R-121: encrypt with cryptography to the IDevID's public key, decrypt in the TPM."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = identities.rsa.certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    secret = b"a 256-bit content-encryption key"
    if scheme == "pkcs1":
        ciphertext = public.encrypt(secret, padding.PKCS1v15())
    else:
        algorithm = hashes.SHA1() if oaep_hash == "sha1" else hashes.SHA256()
        ciphertext = public.encrypt(secret, padding.OAEP(padding.MGF1(algorithm), algorithm, None))
    key = tpm.key(RSA_HANDLE)
    assert key.rsa_decrypt(ciphertext, scheme, oaep_hash) == secret  # type: ignore[arg-type]


def test_rsa_decrypt_of_a_corrupted_ciphertext_is_a_typed_error(
    tpm: TPM, identities: LabTPMIdentities
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = identities.rsa.certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    ciphertext = bytearray(public.encrypt(b"secret", padding.PKCS1v15()))
    ciphertext[-1] ^= 1
    with pytest.raises(TPMOperationError):
        tpm.key(RSA_HANDLE).rsa_decrypt(bytes(ciphertext), "oaep")
    with pytest.raises(TPMOperationError):
        tpm.key(RSA_HANDLE).rsa_decrypt(b"short")
    with pytest.raises(TPMOperationError):
        tpm.key(ECC_HANDLE).rsa_decrypt(bytes(256))


def test_ecdh_zgen_matches_the_exchange_with_the_public_key(
    tpm: TPM, identities: LabTPMIdentities
) -> None:
    """R-121: the TPM's shared secret equals what the sender computes from the public key."""
    public = identities.ecc.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    expected = ephemeral.exchange(ec.ECDH(), public)
    assert tpm.key(ECC_HANDLE).ecdh_zgen(ephemeral.public_key()) == expected
    with pytest.raises(TPMOperationError):
        tpm.key(ECC_HANDLE).ecdh_zgen(ec.generate_private_key(ec.SECP384R1()).public_key())


def test_certificate_read_from_nv_index(tpm: TPM, identities: LabTPMIdentities) -> None:
    certs = load_certificates(f"nv:{ECC_NV_INDEX:#010x}", tpm)
    assert certs[0] == identities.ecc.certificate
    assert tuple(certs[1:]) == identities.ecc.chain


def test_certificate_from_pem_file(tmp_path: Path, identities: LabTPMIdentities) -> None:
    path = tmp_path / "idevid.pem"
    path.write_bytes(identities.rsa.pem_chain())
    assert load_certificates(path)[0] == identities.rsa.certificate
    with pytest.raises(TPMCertificateError):
        load_certificates(tmp_path / "absent.pem")
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(TPMCertificateError):
        load_certificates(tmp_path / "bad.pem")


def test_absent_nv_index_and_absent_key_are_typed_errors(tpm: TPM) -> None:
    with pytest.raises(TPMCertificateError):
        load_certificates("nv:0x01C9FF00", tpm)
    with pytest.raises(TPMCertificateError):
        load_certificates("nv:0x01C90000", None)
    with pytest.raises(TPMKeyError) as caught:
        tpm.key(0x81027777)
    assert "0x81027777" in str(caught.value)


def test_factory_idevid_validates_to_the_idevid_root(
    identities: LabTPMIdentities, lab_pki: LabPKI
) -> None:
    """R-010: serialNumber is the subject's last RDN; the chain validates for client auth."""
    for provisioned in (identities.ecc, identities.rsa):
        cert = provisioned.certificate
        last = list(cert.subject)[-1]
        assert last.oid == NameOID.SERIAL_NUMBER and last.value == SERIAL
        cert.verify_directly_issued_by(lab_pki.idevid_ca.cert)
        assert provisioned.chain == (lab_pki.idevid_ca.cert,)
        lab_pki.idevid_ca.cert.verify_directly_issued_by(lab_pki.manufacturer_root.cert)
        assert provisioned.root == lab_pki.manufacturer_root.cert


def test_factory_csr_is_signed_by_the_tpm(tpm: TPM) -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "CSR-1")])
    for handle in (ECC_HANDLE, RSA_HANDLE):
        key = tpm.key(handle)
        csr = build_csr(key, subject)
        assert csr.is_signature_valid
        assert csr.public_key() == key.public_key
        assert csr.subject == subject


def test_connection_error_recreates_the_context(tmp_path: Path, lab_pki: LabPKI) -> None:
    """A TPM that goes away gives a typed, retryable error; once it is back the same TPM object
    works again (a new ESAPI context on the same TCTI)."""
    require_tpm_stack()
    with SoftwareTPM(tmp_path / "state") as software_tpm:
        provisioned = provision_lab_identities(software_tpm.tcti, lab_pki, "TPM-RESTART")
        public = provisioned.ecc.certificate.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        with TPM(software_tpm.tcti) as tpm:
            key = tpm.key(ECC_HANDLE)
            public.verify(key.sign_data(MESSAGE), MESSAGE, ec.ECDSA(hashes.SHA256()))
            software_tpm.stop()
            with pytest.raises(TPMConnectionError) as caught:
                key.sign_data(MESSAGE)
            assert isinstance(caught.value, SZTPError) and caught.value.retryable
            software_tpm.start()
            public.verify(key.sign_data(MESSAGE), MESSAGE, ec.ECDSA(hashes.SHA256()))


def test_public_key_matches_the_certificate(tpm: TPM, identities: LabTPMIdentities) -> None:
    for handle, provisioned in ((ECC_HANDLE, identities.ecc), (RSA_HANDLE, identities.rsa)):
        key = tpm.key(handle)
        assert key.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == provisioned.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def test_factory_leaves_no_transient_objects(tmp_path: Path, lab_pki: LabPKI) -> None:
    """Without a resource manager a TPM holds about three transient objects: provisioning
    again and again (replacing the key at its handle) works because each step flushes what it
    loaded, and nothing transient is left afterwards."""
    require_tpm_stack()
    import tpm2_pytss

    with SoftwareTPM(tmp_path / "state") as software_tpm:
        for round_number in range(4):
            provisioned = provision_lab_identities(
                software_tpm.tcti, lab_pki, f"TPM-ROUND-{round_number}"
            )
        with TPM(software_tpm.tcti) as tpm:
            esapi = tpm.esapi
            _, transient = esapi.get_capability(
                tpm2_pytss.TPM2_CAP.HANDLES, tpm2_pytss.TPM2_HT.TRANSIENT << 24, 16
            )
            _, persistent = esapi.get_capability(
                tpm2_pytss.TPM2_CAP.HANDLES, tpm2_pytss.TPM2_HT.PERSISTENT << 24, 16
            )
            assert list(transient.data.handles) == []
            assert sorted(persistent.data.handles) == [ECC_HANDLE, RSA_HANDLE]
            certs = load_certificates(f"nv:{ECC_NV_INDEX:#010x}", tpm)
            assert certs[0] == provisioned.ecc.certificate
            assert tpm.key(ECC_HANDLE).public_key == provisioned.ecc.certificate.public_key()
