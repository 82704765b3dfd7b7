"""Factory provisioning of an IDevID into a (software) TPM, with the lab's IDevID CA.

This plays the manufacturer's production line; the device's runtime never creates its IDevID.

:func:`provision_idevid`:

1. creates a storage primary key under the owner hierarchy (transient, flushed at the end);
2. creates under it the IDevID key, ECC P-256 or RSA-2048, unrestricted, ``sign`` and
   ``decrypt`` (TLS client authentication and CMS decryption with the same key), generated
   inside the TPM and bound to it (``fixedTPM``, ``fixedParent``, ``sensitiveDataOrigin``),
   and makes it persistent at ``handle`` (replacing what is there when ``replace``);
3. builds the PKCS#10 request with cryptography and asn1crypto, the TPM signing it;
4. the CA checks the request's signature and issues the certificate (subject O=SZTP Lab,
   CN=serial, serialNumber=serial as the last RDN, as ``LabPKI.idevid`` makes them);
5. optionally writes the certificate (DER, then the intermediates that fit) into an NV index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from sztp_client.identity import attest
from sztp_client.identity.tpm import TPM, parse_handle, parse_nv_index, pytss_module
from sztp_client.identity.tpm_key import KeyAlgorithm, TPMKey
from sztp_lab.pki import (
    BACKDATE,
    DEFAULT_LIFETIME,
    ORGANIZATION,
    Issued,
    pem_bundle,
    signature_hash,
    utcnow,
)

DEFAULT_HANDLE = 0x81020000
NV_CERTIFICATE_MAX = 2048  # swtpm's largest NV index


@dataclass(frozen=True)
class ProvisionedIdentity:
    """What the factory made: the key's handle and algorithm, the IDevID and its chain."""

    tcti: str
    handle: int
    algorithm: KeyAlgorithm
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    root: x509.Certificate
    nv_index: int | None

    def pem_chain(self) -> bytes:
        """The IDevID then its intermediates, PEM (what identity.tpm.certificate names)."""
        return pem_bundle((self.certificate, *self.chain))

    @property
    def handle_text(self) -> str:
        return f"{self.handle:#010x}"


def _attributes(pytss: Any, names: str) -> Any:
    return pytss.constants.TPMA_OBJECT.parse(names)


def create_persistent_key(
    tpm: TPM, algorithm: KeyAlgorithm, handle: int, *, replace: bool = False
) -> TPMKey:
    """A new IDevID-style key made inside the TPM and persisted at ``handle`` (the same
    primitive the runtime uses for LDevID keys: :meth:`TPM.create_persistent_key`)."""
    parse_handle(handle)
    if replace:
        tpm.evict(handle, "handle")
    return tpm.create_persistent_key(algorithm, handle, "handle")


def _name(serial_number: str, common_name: str | None) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or serial_number),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number),
        ]
    )


def build_csr(key: TPMKey, subject: x509.Name) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``key``'s public key, signed in the TPM (SHA-256; ECDSA or
    RSASSA-PKCS1-v1_5)."""
    spki = key.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki),
            "attributes": [],
        }
    )
    signature = key.sign_data(info.dump(), "sha256", "pkcs1")
    algorithm = "sha256_ecdsa" if key.algorithm == "ec-p256" else "sha256_rsa"
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": algorithm},
            "signature": signature,
        }
    )
    csr = x509.load_der_x509_csr(request.dump())
    if not csr.is_signature_valid:
        raise ValueError("the TPM's signature on the request does not verify")
    return csr


def issue_from_csr(
    ca: Issued,
    csr: x509.CertificateSigningRequest,
    *,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """The CA checks proof of possession and issues an IDevID for the request's key."""
    if not csr.is_signature_valid:
        raise ValueError("the request's signature does not verify: no proof of possession")
    public_key = csr.public_key()
    base = now if now is not None else utcnow()
    ca_key = ca.key
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"unsupported CA key {type(ca_key).__name__}")
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise TypeError(f"unsupported key in the request {type(public_key).__name__}")
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(base - BACKDATE)
        .not_valid_after(base + DEFAULT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=is_rsa,
                data_encipherment=False,
                key_agreement=not is_rsa,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(ca_key, signature_hash(ca_key))


def write_certificates_nv(tpm: TPM, index: int, certificates: tuple[x509.Certificate, ...]) -> int:
    """Define NV ``index`` (owner-defined, readable with its empty auth) and write the DER of
    the certificates that fit, the IDevID first; the number written."""
    pytss = pytss_module()

    types, constants = pytss.types, pytss.constants
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certificates]
    data = ders[0]
    for der in ders[1:]:
        if len(data) + len(der) > NV_CERTIFICATE_MAX:
            break
        data += der
    written = sum(1 for d in ders if d in data)
    if len(data) > NV_CERTIFICATE_MAX:
        raise ValueError(f"the IDevID is {len(data)} bytes, over the NV size {NV_CERTIFICATE_MAX}")
    esapi = tpm.esapi
    try:
        old = esapi.tr_from_tpmpublic(index)
    except pytss.TSS2_Exception:
        old = None
    if old is not None:
        esapi.nv_undefine_space(old)
    attrs = constants.TPMA_NV.parse("ownerwrite|ownerread|authread|authwrite|no_da")
    public = types.TPM2B_NV_PUBLIC(
        nvPublic=types.TPMS_NV_PUBLIC(
            nvIndex=index,
            nameAlg=constants.TPM2_ALG.SHA256,
            attributes=attrs,
            dataSize=len(data),
        )
    )
    tr = esapi.nv_define_space(None, public)
    for offset in range(0, len(data), 512):
        esapi.nv_write(tr, data[offset : offset + 512], offset, auth_handle=tr)
    return written


def provision_idevid(
    tpm: TPM,
    ca: Issued,
    serial_number: str,
    *,
    algorithm: KeyAlgorithm = "ec-p256",
    handle: int = DEFAULT_HANDLE,
    nv_index: str | int | None = None,
    common_name: str | None = None,
    replace: bool = True,
    now: dt.datetime | None = None,
) -> ProvisionedIdentity:
    """Make the IDevID of device ``serial_number`` inside ``tpm``, certified by ``ca``."""
    key = create_persistent_key(tpm, algorithm, handle, replace=replace)
    csr = build_csr(key, _name(serial_number, common_name))
    cert = issue_from_csr(ca, csr, now=now)
    chain = (ca.cert, *ca.chain) if ca.cert != ca.trust_anchor else ca.chain
    index = parse_nv_index(nv_index) if nv_index is not None else None
    if index is not None:
        write_certificates_nv(tpm, index, (cert, *chain))
    return ProvisionedIdentity(
        tcti=tpm.tcti,
        handle=handle,
        algorithm=algorithm,
        certificate=cert,
        chain=tuple(chain),
        root=ca.trust_anchor,
        nv_index=index,
    )


__all__ = [
    "DEFAULT_HANDLE",
    "ProvisionedIdentity",
    "build_csr",
    "create_persistent_key",
    "issue_from_csr",
    "provision_idevid",
    "write_certificates_nv",
]


#: where the factory persists the attestation key
DEFAULT_AK_HANDLE = attest.DEFAULT_AK_HANDLE


def provision_attestation_key(
    tpm: TPM, handle: int = DEFAULT_AK_HANDLE, algorithm: KeyAlgorithm = "ec-p256"
) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    """An attestation key: a restricted signing key, ECC P-256 (ECDSA with SHA-256) or
    RSA-2048 (RSASSA-PKCS1-v1_5 with SHA-256), a primary key of the endorsement hierarchy (so
    bound to the TPM's endorsement seed, made inside the TPM, fixedTPM), persisted at
    ``handle`` (replacing what is there).  A restricted key signs only what the TPM itself
    produced (quotes), never an outside digest that looks like one.  Returns its public key,
    which the verifier is given."""
    parse_handle(handle)
    pytss = pytss_module()
    types, constants = pytss.types, pytss.constants
    esapi = tpm.esapi
    try:
        existing = esapi.tr_from_tpmpublic(handle)
    except pytss.TSS2_Exception:
        existing = None
    if existing is not None:
        esapi.evict_control(constants.ESYS_TR.OWNER, existing, handle)
    template = types.TPM2B_PUBLIC.parse(
        "ecc256:ecdsa-sha256:null" if algorithm == "ec-p256" else "rsa2048:rsassa-sha256:null",
        objectAttributes=_attributes(
            pytss, "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign"
        ),
    )
    primary, public, _, _, _ = esapi.create_primary(
        types.TPM2B_SENSITIVE_CREATE(), template, primary_handle=constants.ESYS_TR.ENDORSEMENT
    )
    with tpm.transient(primary):
        esapi.evict_control(constants.ESYS_TR.OWNER, primary, handle)
    key = serialization.load_pem_public_key(public.publicArea.to_pem())
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    return key
