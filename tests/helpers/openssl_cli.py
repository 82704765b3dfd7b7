"""An independent CMS producer and checker: the ``openssl`` command line (OpenSSL 3.0).

The lab's own signer (sztp_lab.cms) and this module must agree with the client; artifacts made
here share no code with the project.  Every call runs ``openssl`` in a private temporary
directory and raises OpenSSLError, with the command and its stderr, when it fails.

OpenSSL 3.0 behaviour these helpers rely on or work around:

* ``cms -sign -econtent_type OID`` needs ``-nodetach`` (attached content) and writes the OID
  as eContentType with SignedData version 3.  ``-econtent_type`` takes a dotted OID or a known
  long/short name; the name ``id-data`` is not known (use 1.2.840.113549.1.7.1).
* ``cms -sign -noattr`` is accepted for any eContentType (RFC 5652 wants signed attributes
  for types other than id-data); with attributes openssl also adds SMIMECapabilities.
* ``-keyopt rsa_padding_mode:pss`` must follow the ``-signer``/``-inkey`` it applies to; the
  default PSS salt is the maximum length, not the digest length
  (``-keyopt rsa_pss_saltlen:digest`` changes that).
* ``cms -verify -certfile`` only helps find the signer's certificate: it is not used to build
  the chain (OpenSSL 3.0 has no ``-untrusted`` for cms).  Intermediates missing from the
  message must go into ``-CAfile``.
* ``crl2pkcs7`` reads one CRL only (the first in ``-in``); ``-certfile`` may repeat and the
  certificates are written in the order read (not DER-sorted).
* ``cms -encrypt`` always writes encryptedContentInfo.contentType id-data and ignores
  ``-econtent_type``, so it cannot produce RFC 8572's sign-then-encrypt layering
  (contentType id-signedData); its default cipher is 3DES and, for EC recipients, the KDF
  is SHA-1 (dhSinglePass-stdDH-sha1kdf-scheme) unless ``-keyopt ecdh_kdf_md:sha256``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from asn1crypto import cms as acms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"

OPENSSL = "openssl"
TIMEOUT = 60


class OpenSSLError(RuntimeError):
    """An openssl command failed, or produced something other than what was asked for."""


def openssl_available() -> bool:
    """True when an ``openssl`` binary runs and reports version 3."""
    if shutil.which(OPENSSL) is None:
        return False
    try:
        result = subprocess.run(
            [OPENSSL, "version"], capture_output=True, check=True, timeout=TIMEOUT
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.stdout.startswith(b"OpenSSL 3.")


def _run(args: Sequence[str | Path], cwd: Path) -> bytes:
    cmd = [OPENSSL, *(str(a) for a in args)]
    try:
        result = subprocess.run(cmd, capture_output=True, cwd=cwd, timeout=TIMEOUT, check=True)
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace").strip()
        raise OpenSSLError(f"{' '.join(cmd)} exited {exc.returncode}: {stderr}") from exc
    return result.stdout


def _write_certs(path: Path, certs: Sequence[x509.Certificate]) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def _write_key(path: Path, key: PrivateKeyTypes) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def _content_info(der: bytes, expected_type: str) -> acms.ContentInfo:
    info = acms.ContentInfo.load(der, strict=True)
    got = info["content_type"].dotted
    if got != expected_type:
        raise OpenSSLError(f"openssl wrote content type {got}, expected {expected_type}")
    return info


def openssl_sign(
    content: bytes,
    econtent_type: str,
    signer_cert: x509.Certificate,
    signer_key: PrivateKeyTypes,
    certfile_certs: Sequence[x509.Certificate] = (),
    *,
    md: str = "sha256",
    noattr: bool = False,
    rsa_pss: bool = False,
    pss_saltlen: str | None = None,
    nocerts: bool = False,
) -> bytes:
    """DER ContentInfo(SignedData) of ``content`` made by ``openssl cms -sign``.

    The signer certificate is included (unless ``nocerts``), ``certfile_certs`` are added
    through ``-certfile``.  The result is checked to carry ``econtent_type`` (dotted OID).
    """
    with tempfile.TemporaryDirectory(prefix="sztp-openssl-") as tmp:
        d = Path(tmp)
        (d / "content.bin").write_bytes(content)
        args: list[str | Path] = [
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-md",
            md,
            "-econtent_type",
            econtent_type,
            "-signer",
            _write_certs(d / "signer.pem", [signer_cert]),
            "-inkey",
            _write_key(d / "signer.key", signer_key),
        ]
        if rsa_pss:
            args += ["-keyopt", "rsa_padding_mode:pss"]
            if pss_saltlen is not None:
                args += ["-keyopt", f"rsa_pss_saltlen:{pss_saltlen}"]
        if certfile_certs:
            args += ["-certfile", _write_certs(d / "extra.pem", certfile_certs)]
        if noattr:
            args.append("-noattr")
        if nocerts:
            args.append("-nocerts")
        args += ["-in", d / "content.bin", "-out", d / "out.der"]
        _run(args, d)
        der = (d / "out.der").read_bytes()
    info = _content_info(der, OID_SIGNED_DATA)
    got = info["content"]["encap_content_info"]["content_type"].dotted
    if got != econtent_type:
        raise OpenSSLError(f"openssl wrote eContentType {got}, expected {econtent_type}")
    return der


def openssl_degenerate(
    certs: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> bytes:
    """Degenerate SignedData made by ``openssl crl2pkcs7`` (certificates in the order given).

    crl2pkcs7 takes a single CRL, so at most one CRL can be passed here.
    """
    if len(crls) > 1:
        raise ValueError("openssl crl2pkcs7 includes one CRL only; pass at most one")
    with tempfile.TemporaryDirectory(prefix="sztp-openssl-") as tmp:
        d = Path(tmp)
        args: list[str | Path] = ["crl2pkcs7", "-outform", "DER", "-out", d / "out.der"]
        if crls:
            (d / "crl.pem").write_bytes(crls[0].public_bytes(serialization.Encoding.PEM))
            args += ["-in", d / "crl.pem"]
        else:
            args.append("-nocrl")
        if certs:
            args += ["-certfile", _write_certs(d / "certs.pem", certs)]
        _run(args, d)
        der = (d / "out.der").read_bytes()
    info = _content_info(der, OID_SIGNED_DATA)
    signed = info["content"]
    if len(signed["signer_infos"]) != 0:
        raise OpenSSLError("crl2pkcs7 output has signers")
    return der


def openssl_encrypt(
    content: bytes,
    recipient_cert: x509.Certificate,
    *,
    cipher: str = "aes-256-cbc",
    rsa_oaep: bool = False,
    ecdh_kdf_md: str | None = None,
) -> bytes:
    """DER ContentInfo(EnvelopedData) of ``content`` made by ``openssl cms -encrypt``.

    encryptedContentInfo.contentType is always id-data (see the module notes).
    """
    with tempfile.TemporaryDirectory(prefix="sztp-openssl-") as tmp:
        d = Path(tmp)
        (d / "content.bin").write_bytes(content)
        args: list[str | Path] = [
            "cms",
            "-encrypt",
            "-binary",
            "-outform",
            "DER",
            f"-{cipher}",
            "-recip",
            _write_certs(d / "recip.pem", [recipient_cert]),
        ]
        if rsa_oaep:
            args += ["-keyopt", "rsa_padding_mode:oaep"]
        if ecdh_kdf_md is not None:
            args += ["-keyopt", f"ecdh_kdf_md:{ecdh_kdf_md}"]
        args += ["-in", d / "content.bin", "-out", d / "out.der"]
        _run(args, d)
        der = (d / "out.der").read_bytes()
    _content_info(der, OID_ENVELOPED_DATA)
    return der


def openssl_verify(
    der: bytes,
    trusted: Sequence[x509.Certificate],
    *,
    purpose: str = "any",
    extra_args: Sequence[str] = (),
) -> bytes:
    """Verify a DER SignedData with ``openssl cms -verify``; return the verified content.

    ``trusted`` goes to ``-CAfile`` (put intermediates missing from the message there too).
    Raises OpenSSLError when verification fails.
    """
    with tempfile.TemporaryDirectory(prefix="sztp-openssl-") as tmp:
        d = Path(tmp)
        (d / "in.der").write_bytes(der)
        args: list[str | Path] = [
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            d / "in.der",
            "-CAfile",
            _write_certs(d / "ca.pem", trusted),
            "-purpose",
            purpose,
            *extra_args,
            "-out",
            d / "content.bin",
        ]
        _run(args, d)
        return (d / "content.bin").read_bytes()


def openssl_decrypt(der: bytes, recipient_cert: x509.Certificate, key: PrivateKeyTypes) -> bytes:
    """Decrypt a DER EnvelopedData with ``openssl cms -decrypt``; return the plaintext."""
    with tempfile.TemporaryDirectory(prefix="sztp-openssl-") as tmp:
        d = Path(tmp)
        (d / "in.der").write_bytes(der)
        args: list[str | Path] = [
            "cms",
            "-decrypt",
            "-binary",
            "-inform",
            "DER",
            "-in",
            d / "in.der",
            "-recip",
            _write_certs(d / "recip.pem", [recipient_cert]),
            "-inkey",
            _write_key(d / "recip.key", key),
            "-out",
            d / "content.bin",
        ]
        _run(args, d)
        return (d / "content.bin").read_bytes()


def openssl_pkcs7_certs(der: bytes) -> list[x509.Certificate]:
    """The certificates ``openssl pkcs7 -print_certs`` lists in a DER SignedData."""
    with tempfile.TemporaryDirectory(prefix="sztp-openssl-") as tmp:
        d = Path(tmp)
        (d / "in.der").write_bytes(der)
        pem = _run(["pkcs7", "-inform", "DER", "-in", d / "in.der", "-print_certs"], d)
    return x509.load_pem_x509_certificates(pem) if b"BEGIN CERTIFICATE" in pem else []
