"""TPM 2.0 back-end primitives: the IDevID key stays inside the TPM, only its results leave.

The TPM is reached through a TCTI string, always explicit: ``device:/dev/tpmrm0`` (the kernel
resource manager, the default), ``device:/dev/tpm0``, ``swtpm:host=127.0.0.1,port=2321`` (a
software TPM in socket mode) or ``tabrmd:``.  With no TCTI the TSS would silently try a
simulator on port 2321; this module never lets it.

tpm2-pytss is imported only when a :class:`TPM` is opened: a client without the ``tpm`` extra
runs as before, and a configuration that asks for the TPM without the package gets a
:class:`~sztp_client.identity.errors.TPMSupportMissingError` (exit 78) that says what to
install.  Unless ``TSS2_LOG`` is set, it is set to ``all+none`` before the TSS loads: the
TSS would otherwise print its own warnings to stderr for every failure this module turns into
a typed error.

The keys (:mod:`sztp_client.identity.tpm_key`) do only private-key operations; the
certificate chain comes from :mod:`sztp_client.identity.tpm_certs`.

The IDevID key lives at a persistent handle (0x81000000..0x81FFFFFF), put there at the
factory (see ``sztp_lab.tpm_factory``); the runtime never creates it.  The one key the runtime
makes is an RFC 9646 LDevID key (:meth:`TPM.create_persistent_key`, used by
:mod:`sztp_client.identity.ldevid_tpm`), persisted at a handle of its own and evicted again
with :meth:`TPM.evict`.  Loading a persistent key takes no transient slot; transient objects
are flushed at once: without a resource manager a TPM holds only about three.  A connection
error (simulator restarted, resource manager gone) closes the ESAPI context; the next
operation opens a new one and retries once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sztp_client.identity.errors import (
    TPMCertificateError,
    TPMConnectionError,
    TPMKeyError,
    TPMOperationError,
    TPMSupportMissingError,
)

if TYPE_CHECKING:
    from sztp_client.identity.tpm_key import KeyAlgorithm, TPMKey

DEFAULT_TCTI = "device:/dev/tpmrm0"
PERSISTENT_FIRST = 0x81000000
PERSISTENT_LAST = 0x81FFFFFF
NV_FIRST = 0x01000000
NV_LAST = 0x01FFFFFF
NV_PREFIX = "nv:"
# An IDevID with its intermediates; a TPM's NV indices are far smaller anyway (2 KiB here).
MAX_NV_CERTIFICATE_BYTES = 16 * 1024
NV_CHUNK = 512  # below every TPM's MAX_NV_BUFFER_SIZE
KNOWN_TCTIS = ("device", "swtpm", "mssim", "tabrmd", "libtpms", "cmd", "spi-helper")

#: the storage primary key the runtime's own keys are made under (the factory uses the same)
SRK_TEMPLATE = "ecc256:aes128cfb"
SRK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda"
#: an IDevID-style key: made inside the TPM and bound to it; signs and decrypts, unrestricted
KEY_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|decrypt"

T = TypeVar("T")


def pytss_module() -> Any:
    """tpm2_pytss, imported on first use (``TSS2_LOG`` quietened unless the caller set it);
    TPMSupportMissingError when it cannot be loaded."""
    os.environ.setdefault("TSS2_LOG", "all+none")
    try:
        import tpm2_pytss  # noqa: PLC0415 - only a configured TPM back-end needs it
    except ImportError as exc:
        raise TPMSupportMissingError(
            "the TPM back-end needs the Python package tpm2-pytss and the TSS libraries "
            "(install the 'tpm' extra: pip install 'sztp-client[tpm]'; Debian: libtss2-dev): "
            f"{exc}",
            key="identity.backend",
        ) from None
    return tpm2_pytss


def parse_handle(value: object, key: str = "identity.tpm.key-handle") -> int:
    """A persistent key handle from ``"0x81020000"`` or an integer; ConfigurationError else."""
    number = _number(value, key)
    if not PERSISTENT_FIRST <= number <= PERSISTENT_LAST:
        raise TPMKeyError(f"{value!r} is not a persistent handle (0x81000000..0x81FFFFFF)", key=key)
    return number


def parse_nv_index(value: object, key: str = "identity.tpm.certificate") -> int:
    """The NV index of ``"nv:0x01C00002"`` (or an integer)."""
    text = (
        value[len(NV_PREFIX) :] if isinstance(value, str) and value.startswith(NV_PREFIX) else value
    )
    number = _number(text, key)
    if not NV_FIRST <= number <= NV_LAST:
        raise TPMCertificateError(f"{value!r} is not an NV index (0x01000000..0x01FFFFFF)", key=key)
    return number


def is_nv_reference(value: object) -> bool:
    """True for a certificate location of the form ``nv:0x...``."""
    return isinstance(value, str) and value.startswith(NV_PREFIX)


def _number(value: object, key: str) -> int:
    if isinstance(value, bool):
        raise TPMKeyError(f"{value!r} is not a handle", key=key)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            pass
    raise TPMKeyError(f'{value!r} is not a number such as "0x81020000"', key=key)


def parse_tcti(value: object, key: str = "identity.tpm.tcti") -> str:
    """A TCTI string, checked for form: ``name`` or ``name:configuration``."""
    if not isinstance(value, str) or not value.strip():
        raise TPMSupportMissingError(
            f"{value!r} is not a TCTI string such as {DEFAULT_TCTI!r}", key=key
        )
    name = value.partition(":")[0]
    if name not in KNOWN_TCTIS:
        raise TPMSupportMissingError(
            f"unknown TCTI {name!r} in {value!r}; use one of {', '.join(KNOWN_TCTIS)}", key=key
        )
    return value.strip()


def _is_connection_error(exc: BaseException) -> bool:
    rc = getattr(exc, "rc", None)
    if not isinstance(rc, int):
        return False
    layer = (rc >> 16) & 0xFF
    base = rc & 0xFFFF
    return layer == 10 or (layer in (6, 7, 8) and base in (8, 9, 10))  # TCTI; ESYS/SYS I/O


class TPM:
    """One TPM reached through ``tcti``; thread-safe (one command at a time).

    The ESAPI context is opened on first use and re-opened after a connection error.
    """

    def __init__(self, tcti: str = DEFAULT_TCTI) -> None:
        self.tcti = parse_tcti(tcti)
        self._lock = threading.RLock()
        self._esapi: Any = None
        self._resources: dict[int, Any] = {}  # TPM handle -> ESYS_TR in the current context

    def _open(self) -> Any:
        pytss = pytss_module()
        name, _, config = self.tcti.partition(":")
        if name == "device":
            path = Path(config or "/dev/tpmrm0")
            if not path.exists():
                raise TPMConnectionError(
                    f"no TPM at {path} (TCTI {self.tcti!r}): check that the device has a TPM "
                    "and its driver is loaded, or set identity.tpm.tcti"
                )
        try:
            return pytss.ESAPI(self.tcti)
        except pytss.TSS2_Exception as exc:
            raise TPMConnectionError(
                f"the TPM does not answer through TCTI {self.tcti!r}: {exc}"
            ) from None

    def close(self) -> None:
        with self._lock:
            esapi, self._esapi = self._esapi, None
            self._resources.clear()
            if esapi is not None:
                with suppress(Exception):  # closing a dead connection may fail too
                    esapi.close()

    def __enter__(self) -> TPM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def esapi(self) -> Any:
        """The open ESAPI context (opened now if needed); for the factory and tests."""
        with self._lock:
            if self._esapi is None:
                self._esapi = self._open()
            return self._esapi

    def run(self, operation: Callable[[Any], T], what: str) -> T:
        """``operation(esapi)`` under the lock; after a connection error the context is
        recreated and the operation tried once more.  TSS failures become typed errors."""
        pytss = pytss_module()
        with self._lock:
            for attempt in (1, 2):
                esapi = self.esapi
                try:
                    return operation(esapi)
                except pytss.TSS2_Exception as exc:
                    if not _is_connection_error(exc):
                        raise TPMOperationError(f"the TPM refused to {what}: {exc}") from None
                    self.close()
                    if attempt == 2:
                        raise TPMConnectionError(
                            f"lost the TPM (TCTI {self.tcti!r}) while trying to {what}: {exc}"
                        ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def resource(self, esapi: Any, handle: int) -> Any:
        """The ESYS_TR of persistent ``handle`` in the current context (made once per
        context: after a reconnection the old ones are void)."""
        with self._lock:
            tr = self._resources.get(handle)
            if tr is None:
                tr = self._resources[handle] = esapi.tr_from_tpmpublic(handle)
            return tr

    @contextmanager
    def transient(self, handle: Any) -> Iterator[Any]:
        """Flush the transient object ``handle`` when the block ends."""
        try:
            yield handle
        finally:
            with suppress(Exception):  # a lost connection frees it anyway
                self.esapi.flush_context(handle)

    def key(self, handle: object) -> TPMKey:
        """The key at persistent ``handle``; TPMKeyError when absent or unusable."""
        number = parse_handle(handle)
        pytss = pytss_module()

        def load(esapi: Any) -> Any:
            public, _, _ = esapi.read_public(self.resource(esapi, number))
            return public

        try:
            public = self.run(load, f"load the key at handle {number:#010x}")
        except TPMOperationError as exc:
            raise TPMKeyError(
                f"no key at persistent handle {number:#010x}: {exc}; provision the IDevID first",
                key="identity.tpm.key-handle",
            ) from None
        from sztp_client.identity.tpm_key import TPMKey  # noqa: PLC0415 - no import cycle

        return TPMKey(self, number, public.publicArea, pytss)

    def persistent_handles(self) -> list[int]:
        """Every persistent handle that holds an object now (TPM2_GetCapability)."""
        pytss = pytss_module()
        constants = pytss.constants

        def read(esapi: Any) -> list[int]:
            found: list[int] = []
            more, first = True, PERSISTENT_FIRST
            while more:
                more, data = esapi.get_capability(constants.TPM2_CAP.HANDLES, first, 64)
                handles = [int(h) for h in data.data.handles]
                found += handles
                if not handles:
                    break
                first = handles[-1] + 1
            return [h for h in found if PERSISTENT_FIRST <= h <= PERSISTENT_LAST]

        return self.run(read, "list the persistent handles")

    def holds(self, handle: int) -> bool:
        """True when persistent ``handle`` holds an object."""
        return parse_handle(handle) in self.persistent_handles()

    def evict(self, handle: object, key: str = "identity.ldevid.tpm-handle") -> bool:
        """Remove the object at persistent ``handle`` (TPM2_EvictControl); False when there
        was none.  The object is gone from the TPM afterwards: nothing can use it again."""
        number = parse_handle(handle, key)
        if not self.holds(number):
            return False
        pytss = pytss_module()

        def evict(esapi: Any) -> None:
            tr = self.resource(esapi, number)
            esapi.evict_control(pytss.constants.ESYS_TR.OWNER, tr, number)

        with self._lock:
            try:
                self.run(evict, f"evict the key at handle {number:#010x}")
            finally:
                self._resources.pop(number, None)
        return True

    def create_persistent_key(
        self, algorithm: KeyAlgorithm, handle: object, key: str = "identity.ldevid.tpm-handle"
    ) -> TPMKey:
        """A new key of ``algorithm`` (``ec-p256`` or ``rsa-2048``) made inside the TPM under
        a storage primary key, non-exportable (fixedTPM, fixedParent, sensitiveDataOrigin),
        unrestricted sign and decrypt, and made persistent at ``handle``, which must be free
        (:meth:`evict` what is there first).  The transient objects are flushed at once."""
        number = parse_handle(handle, key)
        pytss = pytss_module()
        types, constants = pytss.types, pytss.constants
        attributes = constants.TPMA_OBJECT.parse
        if algorithm not in ("ec-p256", "rsa-2048"):
            raise TPMOperationError(f"no TPM key generation for algorithm {algorithm!r}")
        srk = types.TPM2B_PUBLIC.parse(SRK_TEMPLATE, objectAttributes=attributes(SRK_ATTRIBUTES))
        template = types.TPM2B_PUBLIC.parse(
            "ecc256:null:null" if algorithm == "ec-p256" else "rsa2048:null:null",
            objectAttributes=attributes(KEY_ATTRIBUTES),
        )

        def create(esapi: Any) -> None:
            primary, _, _, _, _ = esapi.create_primary(types.TPM2B_SENSITIVE_CREATE(), srk)
            with self.transient(primary):
                private, public, _, _, _ = esapi.create(
                    primary, types.TPM2B_SENSITIVE_CREATE(), template
                )
                loaded = esapi.load(primary, private, public)
                with self.transient(loaded):
                    esapi.evict_control(constants.ESYS_TR.OWNER, loaded, number)

        with self._lock:
            self._resources.pop(number, None)
            self.run(create, f"make a {algorithm} key at handle {number:#010x}")
        return self.key(number)

    def read_nv(self, index: int, limit: int = MAX_NV_CERTIFICATE_BYTES) -> bytes:
        """The whole content of NV ``index`` (at most ``limit`` bytes), read in chunks."""

        def read(esapi: Any) -> bytes:
            tr = esapi.tr_from_tpmpublic(index)
            public, _ = esapi.nv_read_public(tr)
            size = int(public.nvPublic.dataSize)
            if size > limit:
                esapi.tr_close(tr)
                raise TPMCertificateError(
                    f"NV index {index:#010x} holds {size} bytes, over the limit of {limit}",
                    key="identity.tpm.certificate",
                )
            data = bytearray()
            try:
                while len(data) < size:
                    chunk = min(NV_CHUNK, size - len(data))
                    data += bytes(esapi.nv_read(tr, chunk, len(data), auth_handle=tr))
            finally:
                esapi.tr_close(tr)
            return bytes(data)

        try:
            return self.run(read, f"read NV index {index:#010x}")
        except TPMOperationError as exc:
            raise TPMCertificateError(
                f"cannot read NV index {index:#010x}: {exc}", key="identity.tpm.certificate"
            ) from None


__all__ = [
    "DEFAULT_TCTI",
    "KEY_ATTRIBUTES",
    "TPM",
    "is_nv_reference",
    "parse_handle",
    "parse_nv_index",
    "parse_tcti",
    "pytss_module",
]
