"""TLS client authentication with the IDevID key inside the TPM, for ``ssl.SSLContext``.

Python's ``ssl`` module loads private keys only from files, and the RESTCONF transport and the
image downloader reach TLS through it (via urllib3).  This module makes an OpenSSL key object
whose private-key operations run in the TPM and installs it, with the certificate chain, in the
``SSL_CTX`` behind a given ``ssl.SSLContext``.  Nothing else about the context changes; the
rest of the client uses it as any other.

Why not the tpm2-openssl provider: Debian's tpm2-openssl 1.1.1 with OpenSSL 3.0 failed the
handshake in every provider order without a TPM resource manager; with tpm2-abrmd TLS 1.3
worked but TLS 1.2 did not, and its ``tcti=`` setting was ignored in favour of an environment
variable.  A key object of our own works for TLS 1.2 and 1.3, ECC and RSA, with or without a
resource manager, and talks to the TPM through the same tpm2-pytss connection as the rest of
the identity code.

How: the public key is taken from the certificate into an OpenSSL ``EC_KEY`` or ``RSA`` whose
method (``EC_KEY_METHOD`` / ``RSA_METHOD``, deprecated in OpenSSL 3.0 but present) replaces the
private-key operations with callbacks into Python.  OpenSSL 3.0 treats such a "foreign" key
through its legacy code path, which calls the method:

* ECDSA (``ecdsa_secp256r1_sha256``): the callback has the TPM sign the digest (TPM2_Sign,
  ECDSA) and returns the DER signature;
* RSASSA-PKCS1-v1_5 (``rsa_pkcs1_sha256``, TLS 1.2): the TPM signs the digest (TPM2_Sign,
  RSASSA);
* RSA-PSS (``rsa_pss_rsae_sha256``, TLS 1.3 and 1.2): OpenSSL pads the message itself (salt
  length = digest length) and asks for the raw private operation, which the TPM performs
  (TPM2_RSA_Decrypt with no padding scheme, hence the key's ``decrypt`` attribute).

The client signature algorithms are limited to those three with SHA-256.  The callbacks
run in the thread doing the handshake and never let an exception into OpenSSL (a failure
fails the handshake and is kept for diagnosis); the TPM takes one command at a time.

What it relies on is checked by :mod:`sztp_client.identity.tls_mechanism` before any key is
attached.  :func:`startup_check` also signs through the OpenSSL key object exactly as TLS does
(``EVP_DigestSign``, with PSS and PKCS#1 v1.5 for RSA) and verifies each signature with the
certificate's public key, so that a key that does not match its certificate, or a TPM that
does not answer, is found before the first connection.
"""

from __future__ import annotations

import ctypes
import hashlib
import ssl
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sztp_client.errors import SZTPError
from sztp_client.identity.errors import TLSKeyMechanismError
from sztp_client.identity.tls_mechanism import (
    EC_SIGN,
    NID_SHA1,
    NID_SHA256,
    NID_SHA384,
    NID_SHA512,
    RSA_NO_PADDING,
    RSA_PKCS1_PADDING,
    RSA_PKCS1_PSS_PADDING,
    RSA_PRIV_ENC,
    RSA_PSS_SALTLEN_DIGEST,
    RSA_SIGN,
    SSL_CTRL_CHAIN,
    SSL_CTRL_CHAIN_CERT,
    SSL_CTRL_SET_CLIENT_SIGALGS_LIST,
    Lib,
    Loaded,
    MechanismReport,
    check_mechanism,
    check_pointer,
    state_lock,
)

if TYPE_CHECKING:
    from sztp_client.identity.tpm_key import TPMKey

CLIENT_SIGALGS = b"ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:rsa_pkcs1_sha256"

_c = ctypes
_NID_HASH = {NID_SHA1: "sha1", NID_SHA256: "sha256", NID_SHA384: "sha384", NID_SHA512: "sha512"}
_DIGEST_SIZE_HASH = {20: "sha1", 32: "sha256", 48: "sha384", 64: "sha512"}

# OpenSSL key pointer -> the OpenSSLKey whose TPM key does its private operations.  Weak: an
# OpenSSLKey lives as long as the context it is attached to; dead entries are dropped when
# the next key is made.
_signers: dict[int, weakref.ref[OpenSSLKey]] = {}

# -- callbacks (called by OpenSSL during the handshake, in whatever thread runs it) ----------


def _signer(pointer: int | None) -> OpenSSLKey | None:
    ref = _signers.get(pointer or 0)
    return ref() if ref is not None else None


def _record(owner: OpenSSLKey, exc: BaseException) -> None:
    owner.failure = exc


def _ec_sign(  # noqa: PLR0917 - OpenSSL's callback signature
    type_: int,
    dgst: int | None,
    dlen: int,
    sig: int | None,
    siglen: Any,
    kinv: int | None,
    r: int | None,
    eckey: int | None,
) -> int:
    owner = _signer(eckey)
    if owner is None or not dgst or not sig:
        return 0
    key = owner.key
    try:
        digest = _c.string_at(dgst, dlen)
        hash_name = _DIGEST_SIZE_HASH.get(dlen)
        if hash_name is None:
            return 0
        der = key.sign_digest(digest, hash_name)  # type: ignore[arg-type]
        _c.memmove(sig, der, len(der))
        siglen[0] = len(der)
        return 1
    except BaseException as exc:  # never let an exception cross into OpenSSL
        _record(owner, exc)
        return 0


def _rsa_sign(  # noqa: PLR0917 - OpenSSL's callback signature
    type_: int, m: int | None, m_length: int, sigret: int | None, siglen: Any, rsa_: int | None
) -> int:
    owner = _signer(rsa_)
    hash_name = _NID_HASH.get(type_)
    if owner is None or hash_name is None or not m or not sigret:
        return 0
    key = owner.key
    try:
        signature = key.sign_digest(_c.string_at(m, m_length), hash_name, "pkcs1")  # type: ignore[arg-type]
        _c.memmove(sigret, signature, len(signature))
        siglen[0] = len(signature)
        return 1
    except BaseException as exc:
        _record(owner, exc)
        return 0


def _rsa_priv_enc(flen: int, from_: int | None, to: int | None, rsa_: int | None, pad: int) -> int:
    owner = _signer(rsa_)
    if owner is None or not from_ or not to:
        return -1
    key = owner.key
    try:
        data = _c.string_at(from_, flen)
        if pad == RSA_NO_PADDING and flen == 256:
            block = data
        elif pad == RSA_PKCS1_PADDING and flen <= 256 - 11:
            block = b"\x00\x01" + b"\xff" * (256 - 3 - flen) + b"\x00" + data
        else:
            return -1
        out = key.rsa_private(block)
        _c.memmove(to, out, len(out))
        return len(out)
    except BaseException as exc:
        _record(owner, exc)
        return -1


_ec_sign_c = EC_SIGN(_ec_sign)
_rsa_sign_c = RSA_SIGN(_rsa_sign)
_rsa_priv_enc_c = RSA_PRIV_ENC(_rsa_priv_enc)
_methods: dict[str, int] = {}


def _ec_method(lib: Lib) -> int:
    if "ec" not in _methods:
        default = lib.EC_KEY_OpenSSL()
        method = lib.EC_KEY_METHOD_new(default)
        if not method:
            raise TLSKeyMechanismError(f"EC_KEY_METHOD_new failed: {lib.error()}")
        setup = _c.c_void_p()
        lib.EC_KEY_METHOD_get_sign(default, None, _c.byref(setup), None)
        lib.EC_KEY_METHOD_set_sign(method, _ec_sign_c, setup, None)
        _methods["ec"] = int(method)
    return _methods["ec"]


def _rsa_method(lib: Lib) -> int:
    if "rsa" not in _methods:
        method = lib.RSA_meth_dup(lib.RSA_PKCS1_OpenSSL())
        if not method:
            raise TLSKeyMechanismError(f"RSA_meth_dup failed: {lib.error()}")
        lib.RSA_meth_set1_name(method, b"sztp-client TPM key")
        lib.RSA_meth_set_priv_enc(method, _rsa_priv_enc_c)
        lib.RSA_meth_set_sign(method, _rsa_sign_c)
        _methods["rsa"] = int(method)
    return _methods["rsa"]


class OpenSSLKey:
    """An OpenSSL ``EVP_PKEY`` for ``key``'s public half whose private operations run in the
    TPM.  Freed when garbage-collected (OpenSSL keeps its own references where it uses it)."""

    def __init__(self, key: TPMKey, certificate: x509.Certificate) -> None:
        self.pkey = 0
        self.x509 = 0
        self._inner = 0
        self.failure: BaseException | None = None
        check_mechanism()
        assert Loaded.lib is not None
        lib = self._lib = Loaded.lib
        if certificate.public_key() != key.public_key:
            raise TLSKeyMechanismError(
                f"the certificate {certificate.subject.rfc4514_string()} is not for the key at "
                f"handle {key.handle:#010x}"
            )
        self.key = key
        self.x509 = _x509(lib, certificate)
        lib.ERR_clear_error()
        with state_lock:
            public = lib.X509_get_pubkey(self.x509)
            if not public:
                raise TLSKeyMechanismError(f"X509_get_pubkey failed: {lib.error()}")
            try:
                self.pkey = int(lib.EVP_PKEY_new() or 0)
                get1 = (
                    lib.EVP_PKEY_get1_EC_KEY
                    if key.algorithm == "ec-p256"
                    else lib.EVP_PKEY_get1_RSA
                )
                self._inner = int(get1(public) or 0)
                if key.algorithm == "ec-p256":
                    ok = self._inner and lib.EC_KEY_set_method(self._inner, _ec_method(lib))
                    ok = ok and lib.EVP_PKEY_set1_EC_KEY(self.pkey, self._inner)
                else:
                    ok = self._inner and lib.RSA_set_method(self._inner, _rsa_method(lib))
                    ok = ok and lib.EVP_PKEY_set1_RSA(self.pkey, self._inner)
                if not (ok and self.pkey):
                    raise TLSKeyMechanismError(
                        f"cannot make the OpenSSL key for the TPM key: {lib.error()}"
                    )
                for pointer in [p for p, ref in _signers.items() if ref() is None]:
                    del _signers[pointer]
                _signers[self._inner] = weakref.ref(self)
            finally:
                lib.EVP_PKEY_free(public)

    def last_failure(self) -> str | None:
        """The last exception a TPM callback swallowed for this key (for diagnostics)."""
        exc = self.failure
        return None if exc is None else f"{type(exc).__name__}: {exc}"

    def __del__(self) -> None:
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        if self._inner:
            # The inner key stays alive while an SSL_CTX holds the EVP_PKEY (which it cannot
            # outlive: the context holds this object); drop our reference only.
            free = lib.EC_KEY_free if self.key.algorithm == "ec-p256" else lib.RSA_free
            free(self._inner)
        if self.pkey:
            lib.EVP_PKEY_free(self.pkey)
        if self.x509:
            lib.X509_free(self.x509)

    def sign(self, data: bytes, pss: bool = False) -> bytes:
        """``EVP_DigestSign`` with SHA-256, as TLS signs (PSS with salt = digest length, or
        PKCS#1 v1.5 / ECDSA)."""
        lib = self._lib
        lib.ERR_clear_error()
        md = lib.EVP_MD_CTX_new()
        try:
            pctx = _c.c_void_p()
            if lib.EVP_DigestSignInit(md, _c.byref(pctx), lib.EVP_sha256(), None, self.pkey) != 1:
                raise TLSKeyMechanismError(f"EVP_DigestSignInit failed: {lib.error()}")
            if self.key.algorithm == "rsa-2048":
                mode = RSA_PKCS1_PSS_PADDING if pss else RSA_PKCS1_PADDING
                if lib.EVP_PKEY_CTX_set_rsa_padding(pctx, mode) != 1 or (
                    pss and lib.EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1
                ):
                    raise TLSKeyMechanismError(f"cannot set RSA padding: {lib.error()}")
            self.failure = None
            size = _c.c_size_t(512)
            buffer = _c.create_string_buffer(512)
            if lib.EVP_DigestSign(md, buffer, _c.byref(size), data, len(data)) != 1:
                if isinstance(self.failure, SZTPError):
                    raise self.failure  # the TPM's own typed error (not answering, refusing)
                why = self.last_failure() or lib.error()
                raise TLSKeyMechanismError(f"signing through the TPM key failed: {why}")
            return buffer.raw[: size.value]
        finally:
            lib.EVP_MD_CTX_free(md)


def _x509(lib: Lib, certificate: x509.Certificate) -> int:
    der = certificate.public_bytes(serialization.Encoding.DER)
    cursor = _c.c_char_p(der)
    pointer = lib.d2i_X509(None, _c.byref(cursor), len(der))
    if not pointer:
        raise TLSKeyMechanismError(f"OpenSSL cannot read the certificate: {lib.error()}")
    return int(pointer)


def attach(context: ssl.SSLContext, key: TPMKey, chain: Sequence[x509.Certificate]) -> OpenSSLKey:
    """Make ``context`` authenticate as ``chain[0]`` (sending ``chain[1:]`` as intermediates)
    with the TPM ``key``.  Replaces any certificate and key the context had."""
    if not chain:
        raise TLSKeyMechanismError("no certificate to authenticate with")
    report = check_mechanism()
    assert Loaded.lib is not None
    lib = Loaded.lib
    pointer = check_pointer(context, lib, report.ctx_offset)
    openssl_key = OpenSSLKey(key, chain[0])
    lib.ERR_clear_error()
    if lib.SSL_CTX_use_certificate(pointer, openssl_key.x509) != 1:
        raise TLSKeyMechanismError(f"SSL_CTX_use_certificate failed: {lib.error()}")
    lib.SSL_CTX_ctrl(pointer, SSL_CTRL_CHAIN, 0, None)
    for intermediate in chain[1:]:
        handle = _x509(lib, intermediate)
        try:
            if lib.SSL_CTX_ctrl(pointer, SSL_CTRL_CHAIN_CERT, 1, handle) != 1:
                raise TLSKeyMechanismError(f"cannot add an intermediate: {lib.error()}")
        finally:
            lib.X509_free(handle)
    if lib.SSL_CTX_use_PrivateKey(pointer, openssl_key.pkey) != 1:
        raise TLSKeyMechanismError(f"SSL_CTX_use_PrivateKey failed: {lib.error()}")
    if lib.SSL_CTX_check_private_key(pointer) != 1:
        raise TLSKeyMechanismError(f"the TPM key does not match the certificate: {lib.error()}")
    if lib.SSL_CTX_ctrl(pointer, SSL_CTRL_SET_CLIENT_SIGALGS_LIST, 0, CLIENT_SIGALGS) != 1:
        raise TLSKeyMechanismError(f"cannot set the client signature algorithms: {lib.error()}")
    # The OpenSSL key object (and with it the TPM key) lives as long as the context.
    holders = _holders.setdefault(id(context), [])
    holders.append(openssl_key)
    weakref.finalize(context, _holders.pop, id(context), None)
    return openssl_key


_holders: dict[int, list[OpenSSLKey]] = {}


def startup_check(key: TPMKey, chain: Sequence[x509.Certificate]) -> MechanismReport:
    """Everything TLS with ``key`` relies on, checked now: the mechanism
    (:func:`check_mechanism`), the certificate matching the key, and a signature made
    through the OpenSSL key object for each scheme TLS uses, verified with the certificate."""
    report = check_mechanism()
    if not chain:
        raise TLSKeyMechanismError("no certificate to authenticate with")
    openssl_key = OpenSSLKey(key, chain[0])
    public = chain[0].public_key()
    message = (
        b"sztp-client start-up check "
        + hashlib.sha256(chain[0].public_bytes(serialization.Encoding.DER)).digest()
    )
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(openssl_key.sign(message), message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(
                openssl_key.sign(message, pss=True),
                message,
                padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
                hashes.SHA256(),
            )
            public.verify(openssl_key.sign(message), message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise TLSKeyMechanismError(f"unsupported certificate key {type(public).__name__}")
    except InvalidSignature:
        raise TLSKeyMechanismError(
            "a signature made through the TPM key does not verify with the certificate"
        ) from None
    except SZTPError:
        raise
    return report


__all__ = [
    "CLIENT_SIGALGS",
    "MechanismReport",
    "OpenSSLKey",
    "attach",
    "check_mechanism",
    "startup_check",
]
