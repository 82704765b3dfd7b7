"""What TLS with a TPM key relies on in this process, checked before any key is attached.

:mod:`sztp_client.identity.tls_key` installs an OpenSSL key object whose private operations
run in the TPM into the ``SSL_CTX`` behind an ``ssl.SSLContext``, through ctypes.  This module
finds the OpenSSL functions (:class:`Lib`), reads the ``SSL_CTX`` pointer out of a context
(:func:`check_pointer`) and checks, once per process (:func:`check_mechanism`), every fact
that relies on.

What it relies on, all checked by :func:`check_mechanism` before any key is attached, each
failure a :class:`~sztp_client.identity.errors.TLSKeyMechanismError` with what did not hold:

* CPython of a version whose ``_ssl._SSLContext`` object is known to keep ``SSL_CTX *ctx``
  right after ``PyObject_HEAD`` (3.8 to 3.14): the pointer read there must give back, through
  ``SSL_CTX_get_verify_mode``, the ``verify_mode`` of the context for two different settings,
  and through ``SSL_CTX_get_options`` its ``options`` (checked on a fresh context once, and
  again on every context a key is attached to);
* the libssl and libcrypto loaded with ctypes are the ones the ``ssl`` module is linked
  against: the functions are looked up through the ``_ssl`` extension itself (its own
  dependencies), each library's functions must come from one file (``dladdr``), and
  ``OpenSSL_version_num()`` / ``OpenSSL_version()`` must equal ``ssl.OPENSSL_VERSION_NUMBER``
  and ``ssl.OPENSSL_VERSION``; OpenSSL must be 3.x;
* every OpenSSL function used must be present (a build without the deprecated APIs lacks the
  key methods).
"""

from __future__ import annotations

import _ssl
import ctypes
import platform
import ssl
import sys
import threading
from typing import Any

import msgspec

from sztp_client.identity.errors import TLSKeyMechanismError

SSL_CTRL_CHAIN = 88
SSL_CTRL_CHAIN_CERT = 89
SSL_CTRL_SET_CLIENT_SIGALGS_LIST = 102
RSA_PKCS1_PADDING = 1
RSA_NO_PADDING = 3
RSA_PKCS1_PSS_PADDING = 6
RSA_PSS_SALTLEN_DIGEST = -1
NID_SHA256 = 672
NID_SHA384 = 673
NID_SHA512 = 674
NID_SHA1 = 64
# CPython versions whose _ssl._SSLContext is known to keep SSL_CTX *ctx after PyObject_HEAD.
CPYTHON_KNOWN = ((3, 8), (3, 14))

_c = ctypes
_vp = _c.c_void_p

# int sign(int type, const uchar *dgst, int dlen, uchar *sig, uint *siglen,
#          const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)
EC_SIGN = _c.CFUNCTYPE(_c.c_int, _c.c_int, _vp, _c.c_int, _vp, _c.POINTER(_c.c_uint), _vp, _vp, _vp)
# int priv_enc(int flen, const uchar *from, uchar *to, RSA *rsa, int padding)
RSA_PRIV_ENC = _c.CFUNCTYPE(_c.c_int, _c.c_int, _vp, _vp, _vp, _c.c_int)
# int sign(int type, const uchar *m, uint m_length, uchar *sigret, uint *siglen, const RSA *rsa)
RSA_SIGN = _c.CFUNCTYPE(_c.c_int, _c.c_int, _vp, _c.c_uint, _vp, _c.POINTER(_c.c_uint), _vp)

# Functions used, with (restype, argtypes).
FUNCTIONS: dict[str, tuple[Any, list[Any]]] = {
    "OpenSSL_version_num": (_c.c_ulong, []),
    "OpenSSL_version": (_c.c_char_p, [_c.c_int]),
    "ERR_get_error": (_c.c_ulong, []),
    "ERR_error_string_n": (None, [_c.c_ulong, _c.c_char_p, _c.c_size_t]),
    "ERR_clear_error": (None, []),
    "d2i_X509": (_vp, [_vp, _c.POINTER(_c.c_char_p), _c.c_long]),
    "X509_free": (None, [_vp]),
    "X509_get_pubkey": (_vp, [_vp]),
    "EVP_PKEY_new": (_vp, []),
    "EVP_PKEY_free": (None, [_vp]),
    "EVP_PKEY_get1_EC_KEY": (_vp, [_vp]),
    "EVP_PKEY_get1_RSA": (_vp, [_vp]),
    "EVP_PKEY_set1_EC_KEY": (_c.c_int, [_vp, _vp]),
    "EVP_PKEY_set1_RSA": (_c.c_int, [_vp, _vp]),
    "EC_KEY_free": (None, [_vp]),
    "EC_KEY_OpenSSL": (_vp, []),
    "EC_KEY_METHOD_new": (_vp, [_vp]),
    "EC_KEY_METHOD_get_sign": (None, [_vp, _vp, _vp, _vp]),
    "EC_KEY_METHOD_set_sign": (None, [_vp, EC_SIGN, _vp, _vp]),
    "EC_KEY_set_method": (_c.c_int, [_vp, _vp]),
    "RSA_free": (None, [_vp]),
    "RSA_PKCS1_OpenSSL": (_vp, []),
    "RSA_meth_dup": (_vp, [_vp]),
    "RSA_meth_set1_name": (_c.c_int, [_vp, _c.c_char_p]),
    "RSA_meth_set_priv_enc": (_c.c_int, [_vp, RSA_PRIV_ENC]),
    "RSA_meth_set_sign": (_c.c_int, [_vp, RSA_SIGN]),
    "RSA_set_method": (_c.c_int, [_vp, _vp]),
    "EVP_MD_CTX_new": (_vp, []),
    "EVP_MD_CTX_free": (None, [_vp]),
    "EVP_sha256": (_vp, []),
    "EVP_DigestSignInit": (_c.c_int, [_vp, _c.POINTER(_vp), _vp, _vp, _vp]),
    "EVP_DigestSign": (
        _c.c_int,
        [_vp, _c.c_char_p, _c.POINTER(_c.c_size_t), _c.c_char_p, _c.c_size_t],
    ),
    "EVP_PKEY_CTX_set_rsa_padding": (_c.c_int, [_vp, _c.c_int]),
    "EVP_PKEY_CTX_set_rsa_pss_saltlen": (_c.c_int, [_vp, _c.c_int]),
    # libssl
    "SSL_CTX_get_verify_mode": (_c.c_int, [_vp]),
    "SSL_CTX_get_options": (_c.c_uint64, [_vp]),
    "SSL_CTX_use_certificate": (_c.c_int, [_vp, _vp]),
    "SSL_CTX_use_PrivateKey": (_c.c_int, [_vp, _vp]),
    "SSL_CTX_check_private_key": (_c.c_int, [_vp]),
    "SSL_CTX_ctrl": (_c.c_long, [_vp, _c.c_int, _c.c_long, _vp]),
}


class MechanismReport(msgspec.Struct, frozen=True):
    """What :func:`check_mechanism` established."""

    python: str
    openssl: str
    library: str  # the file the OpenSSL functions were resolved through (the _ssl extension)
    libssl: str  # the files the functions were found in
    libcrypto: str
    ctx_offset: int


class _DlInfo(_c.Structure):
    _fields_ = [  # noqa: RUF012 - ctypes' declaration style
        ("dli_fname", _c.c_char_p),
        ("dli_fbase", _vp),
        ("dli_sname", _c.c_char_p),
        ("dli_saddr", _vp),
    ]


_LIBSSL_FUNCTIONS = ("SSL_CTX_get_verify_mode", "SSL_CTX_use_PrivateKey", "SSL_CTX_ctrl")
_LIBCRYPTO_FUNCTIONS = ("OpenSSL_version_num", "EVP_PKEY_new", "EC_KEY_METHOD_new", "RSA_meth_dup")


class Lib:
    """The OpenSSL functions, resolved through the ``_ssl`` extension module's own links."""

    def __init__(self) -> None:
        self.path = str(getattr(_ssl, "__file__", "") or "")
        if not self.path:
            raise TLSKeyMechanismError(
                "the ssl module is built into the interpreter; its OpenSSL cannot be reached "
                "through ctypes"
            )
        try:
            handle = _c.CDLL(self.path)
        except OSError as exc:
            raise TLSKeyMechanismError(f"cannot load {self.path} with ctypes: {exc}") from None
        self.handle = handle
        missing = []
        for name, (restype, argtypes) in FUNCTIONS.items():
            try:
                function = getattr(handle, name)
            except AttributeError:
                missing.append(name)
                continue
            function.restype = restype
            function.argtypes = argtypes
            setattr(self, name, function)
        if missing:
            raise TLSKeyMechanismError(
                "the OpenSSL the ssl module uses lacks functions TLS with a TPM key needs "
                f"(built without the deprecated APIs?): {', '.join(missing)}"
            )

    def origin(self, name: str) -> str:
        """The file the function ``name`` was found in (dladdr), or "" when unknown."""
        info = _DlInfo()
        try:
            dladdr = _c.CDLL(None).dladdr
        except (OSError, AttributeError):
            return ""
        dladdr.argtypes = [_vp, _c.POINTER(_DlInfo)]
        dladdr.restype = _c.c_int
        address = _c.cast(getattr(self.handle, name), _vp).value
        if not address or not dladdr(address, _c.byref(info)) or not info.dli_fname:
            return ""
        return str(info.dli_fname.decode("utf-8", "replace"))

    def __getattr__(self, name: str) -> Any:  # for mypy: the functions set in __init__
        raise AttributeError(name)

    def error(self) -> str:
        messages = []
        while code := self.ERR_get_error():
            buffer = _c.create_string_buffer(256)
            self.ERR_error_string_n(code, buffer, len(buffer))
            messages.append(buffer.value.decode("ascii", "replace"))
        return "; ".join(messages) or "no OpenSSL error recorded"


class Loaded:
    """What check_mechanism found, once per process."""

    lib: Lib | None = None
    report: MechanismReport | None = None


state_lock = threading.Lock()


def _context_pointer(context: ssl.SSLContext, lib: Lib, offset: int) -> int:
    pointer = _c.c_void_p.from_address(id(context) + offset).value
    if not pointer:
        raise TLSKeyMechanismError(
            "the ssl.SSLContext holds no SSL_CTX pointer at the expected place"
        )
    return int(pointer)


_VERIFY_BITS = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}


def check_pointer(context: ssl.SSLContext, lib: Lib, offset: int) -> int:
    """The SSL_CTX pointer of ``context``, after checking it against the context's own view
    for two verify modes and its options; TLSKeyMechanismError when it does not match."""
    pointer = _context_pointer(context, lib, offset)
    original = context.verify_mode
    other = ssl.CERT_OPTIONAL if original == ssl.CERT_REQUIRED else ssl.CERT_REQUIRED
    try:
        for mode in (original, other):
            context.verify_mode = mode
            seen = lib.SSL_CTX_get_verify_mode(pointer) & 3
            if seen != _VERIFY_BITS[mode]:
                raise TLSKeyMechanismError(
                    "the SSL_CTX pointer read from the ssl.SSLContext does not match it "
                    f"(verify mode {seen} through OpenSSL, {int(mode)} in Python): this "
                    f"Python {platform.python_version()} lays out SSLContext differently"
                )
    finally:
        context.verify_mode = original
    if lib.SSL_CTX_get_options(pointer) != int(context.options):
        raise TLSKeyMechanismError(
            "the SSL_CTX pointer read from the ssl.SSLContext does not match it (options differ)"
        )
    return pointer


def check_mechanism() -> MechanismReport:
    """Check once per process what attaching a TPM key to an ``ssl.SSLContext`` relies on."""
    with state_lock:
        if Loaded.report is not None:
            return Loaded.report
        if platform.python_implementation() != "CPython":
            raise TLSKeyMechanismError(
                f"TLS with a TPM key needs CPython, not {platform.python_implementation()}"
            )
        if not CPYTHON_KNOWN[0] <= sys.version_info[:2] <= CPYTHON_KNOWN[1]:
            raise TLSKeyMechanismError(
                f"Python {platform.python_version()} is outside the versions whose SSLContext "
                f"layout is known ({CPYTHON_KNOWN[0]}..{CPYTHON_KNOWN[1]})"
            )
        if ssl.OPENSSL_VERSION_INFO[0] != 3:
            raise TLSKeyMechanismError(
                f"the ssl module uses {ssl.OPENSSL_VERSION}; TLS with a TPM key needs OpenSSL 3"
            )
        lib = Lib()
        number = lib.OpenSSL_version_num()
        text = (lib.OpenSSL_version(0) or b"").decode("ascii", "replace")
        if number != ssl.OPENSSL_VERSION_NUMBER or text != ssl.OPENSSL_VERSION:
            raise TLSKeyMechanismError(
                f"the OpenSSL loaded with ctypes ({text}, {number:#x}) is not the one the ssl "
                f"module uses ({ssl.OPENSSL_VERSION}, {ssl.OPENSSL_VERSION_NUMBER:#x})"
            )
        libssl = {lib.origin(name) for name in _LIBSSL_FUNCTIONS}
        libcrypto = {lib.origin(name) for name in _LIBCRYPTO_FUNCTIONS}
        if len(libssl) != 1 or len(libcrypto) != 1:
            raise TLSKeyMechanismError(
                "the OpenSSL functions come from more than one library "
                f"(libssl: {sorted(libssl)}, libcrypto: {sorted(libcrypto)})"
            )
        offset = object.__basicsize__  # sizeof(PyObject): PyObject_HEAD
        base = _ssl._SSLContext
        if base.__basicsize__ < offset + _c.sizeof(_c.c_void_p):
            raise TLSKeyMechanismError("ssl.SSLContext is smaller than PyObject_HEAD + a pointer")
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE
        check_pointer(probe, lib, offset)
        probe.verify_mode = ssl.CERT_REQUIRED
        check_pointer(probe, lib, offset)
        Loaded.lib = lib
        Loaded.report = MechanismReport(
            python=platform.python_version(),
            openssl=text,
            library=lib.path,
            libssl=libssl.pop(),
            libcrypto=libcrypto.pop(),
            ctx_offset=offset,
        )
        return Loaded.report


__all__ = [
    "CPYTHON_KNOWN",
    "FUNCTIONS",
    "Lib",
    "Loaded",
    "MechanismReport",
    "check_mechanism",
    "check_pointer",
    "state_lock",
]
