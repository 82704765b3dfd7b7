"""``openssl cms -encrypt`` with the options the decryption tests need (OpenSSL 3.0).

Like tests/helpers/openssl_cli.py: openssl runs in a private temporary directory and any
failure raises OpenSSLError with the command and its stderr.  OpenSSL 3.0 behaviour relied on:

* the default content cipher is 3DES (des-ede3-cbc); ``-aes128``, ``-aes256``,
  ``-aes-256-gcm`` (AuthEnvelopedData) choose others;
* RSA recipients get PKCS#1 v1.5 unless ``-keyopt rsa_padding_mode:oaep`` (SHA-1 unless
  ``-keyopt rsa_oaep_md:sha256``; the MGF1 hash follows the OAEP hash);
* EC recipients get dhSinglePass-stdDH-sha1kdf-scheme unless ``-keyopt ecdh_kdf_md:sha256``,
  and a key wrap picked by the content cipher: the CMS Triple-DES key wrap for 3DES, the AES
  key wrap of the content key's size otherwise;
* ``-keyid`` names recipients by subject key identifier instead of issuer and serial.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from tests.helpers.openssl_cli import OpenSSLError, _run, _write_certs

__all__ = ["OpenSSLError", "openssl_cms_encrypt"]


def openssl_cms_encrypt(
    content: bytes,
    recipients: Sequence[x509.Certificate],
    *,
    cipher: str | None = None,
    keyopts: Sequence[str] = (),
    keyid: bool = False,
) -> bytes:
    """DER ContentInfo made by ``openssl cms -encrypt`` (``cipher`` None: openssl's default).

    ``keyopts`` apply to every recipient (each ``-recip`` is followed by them).
    """
    with tempfile.TemporaryDirectory(prefix="sztp-openssl-") as tmp:
        d = Path(tmp)
        (d / "content.bin").write_bytes(content)
        args: list[str | Path] = ["cms", "-encrypt", "-binary", "-outform", "DER"]
        if cipher is not None:
            args.append(f"-{cipher}")
        if keyid:
            args.append("-keyid")
        for n, cert in enumerate(recipients):
            args += ["-recip", _write_certs(d / f"recip{n}.pem", [cert])]
            for option in keyopts:
                args += ["-keyopt", option]
        args += ["-in", d / "content.bin", "-out", d / "out.der"]
        _run(args, d)
        return (d / "out.der").read_bytes()
