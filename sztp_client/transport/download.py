"""Streaming download of a boot image (RFC 8572 §5.6, R-068..R-072 via the image action).

:func:`download` copies an ``https``, ``http`` or ``file:`` URI into an open binary file chunk by
chunk, computing the SHA-256 in the same pass, so that an image never sits in memory.  The
caller bounds it: ``max_bytes`` and a ``check_space`` callback that raises when the disk would
fill (D19), called before the first byte with the announced size and again after every chunk.

The file server's certificate is accepted blindly by default, as RFC 8572 allows: the image is
verified by its hash afterwards.  With ``verify_tls`` the server is authenticated to the given
trust anchors (:func:`~sztp_client.transport.tls.trusted_context`).  Up to ``max_redirects``
HTTP redirects are followed (image servers and CDNs use them); nothing is retried.

HTTP is done with urllib3 directly, as in :mod:`sztp_client.transport.restconf`: it takes the
:class:`ssl.SSLContext` built here and streams the body.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import ssl
import stat
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO, Final
from urllib.parse import SplitResult, unquote, urlsplit

import msgspec
import urllib3
from cryptography import x509
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from sztp_client.errors import (
    BootImageError,
    ModelError,
    ServerError,
    SizeLimitError,
    TransportError,
)
from sztp_client.identity.base import Identity
from sztp_client.interrupt import deferred
from sztp_client.limits import MIB
from sztp_client.transport.http import (
    Timeouts,
    content_length,
    refuse_content_encoding,
    transport_error,
    unverified_is_intended,
)
from sztp_client.transport.tls import provisional_context, trusted_context
from sztp_client.trust.clock import Clock

__all__ = ["DownloadResult", "download"]

URI_FIELD: Final = "download-uri"
WHAT: Final = "boot image"
_USER_AGENT: Final = "sztp-client"
#: chunks in flight between the reader and the writer thread (bounds the memory used)
_QUEUE_CHUNKS: Final = 4


class DownloadResult(msgspec.Struct, frozen=True):
    """What was written: the number of bytes and their SHA-256 digest."""

    size: int
    sha256: bytes


def _shown_uri(parts: SplitResult) -> str:
    """The URI for messages, without query and fragment (they may carry access tokens)."""
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.geturl()


def _write_all(destination: BinaryIO, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        written = destination.write(view)
        view = view[written:]


class _Writer(threading.Thread):
    """Writes and hashes chunks on its own thread, so disk writes and SHA-256 (both release
    the interpreter lock) overlap with reading and decrypting the next chunk."""

    def __init__(self, destination: BinaryIO) -> None:
        super().__init__(name="sztp-image-writer", daemon=True)
        self.destination = destination
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self.digest = hashlib.sha256()
        self.written = 0
        self.error: OSError | None = None

    def run(self) -> None:
        while (chunk := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain, so the reader never blocks on a full queue
            try:
                _write_all(self.destination, chunk)
            except (OSError, ValueError) as exc:  # ValueError: the file was closed
                self.error = exc if isinstance(exc, OSError) else OSError(str(exc))
                continue
            self.digest.update(chunk)
            self.written += len(chunk)

    def failure(self) -> BootImageError | None:
        if self.error is None:
            return None
        return BootImageError(
            f"cannot write the boot image after {self.written} bytes: "
            f"{self.error.strerror or self.error}"
        )


def _copy(
    read: Callable[[int], bytes],
    destination: BinaryIO,
    *,
    total: int | None,
    max_bytes: int | None,
    check_space: Callable[[int], None] | None,
    on_progress: Callable[[int, int | None], None] | None,
    chunk_size: int,
) -> DownloadResult:
    if max_bytes is not None and total is not None and total > max_bytes:
        raise SizeLimitError(WHAT, total, max_bytes)
    if check_space is not None and total is not None:
        check_space(total)
    _preallocate(destination, total)
    writer = _Writer(destination)
    writer.start()
    received = 0
    try:
        while chunk := read(chunk_size):
            received += len(chunk)
            if max_bytes is not None and received > max_bytes:
                raise SizeLimitError(WHAT, received, max_bytes)
            failure = writer.failure()
            if failure is not None:
                raise failure
            writer.queue.put(chunk)
            if check_space is not None:
                check_space(received)
            if on_progress is not None:
                on_progress(received, total)
    finally:
        # the writer must have stopped before the caller closes or removes the file, even
        # when an interruption (SIGTERM) arrives now: hold it back until then
        with deferred():
            writer.queue.put(None)
            writer.join()
    failure = writer.failure()
    if failure is not None:
        raise failure
    if total is not None and writer.written != total:
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            destination.truncate(writer.written)  # give back the unused preallocation
    return DownloadResult(size=writer.written, sha256=writer.digest.digest())


def _preallocate(destination: BinaryIO, total: int | None) -> None:
    """Reserve the announced size at once: the file system allocates one extent instead of
    growing the file chunk by chunk (a large image writes noticeably faster)."""
    if not total:
        return
    try:
        os.posix_fallocate(destination.fileno(), destination.tell(), total)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return  # not a real file, or the file system cannot: write as it comes


def _copy_file(
    parts: SplitResult,
    destination: BinaryIO,
    *,
    max_bytes: int | None,
    check_space: Callable[[int], None] | None,
    on_progress: Callable[[int, int | None], None] | None,
    chunk_size: int,
) -> DownloadResult:
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise ModelError(URI_FIELD, "a file: URI names a local path, nothing else")
    path = unquote(parts.path)
    if not os.path.isabs(path):
        raise ModelError(URI_FIELD, f"{path!r:.200} is not an absolute path")
    try:
        source = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise TransportError(f"cannot read {path!r:.200}: {exc.strerror or exc}") from exc
    with source:

        def read(size: int) -> bytes:
            try:
                return source.read(size)
            except OSError as exc:
                raise TransportError(f"cannot read {path!r:.200}: {exc.strerror or exc}") from exc

        try:
            info = os.fstat(source.fileno())
        except OSError as exc:
            raise TransportError(f"cannot read {path!r:.200}: {exc.strerror or exc}") from exc
        total = info.st_size if stat.S_ISREG(info.st_mode) else None
        return _copy(
            read,
            destination,
            total=total,
            max_bytes=max_bytes,
            check_space=check_space,
            on_progress=on_progress,
            chunk_size=chunk_size,
        )


def _pool_manager(
    *,
    timeouts: Timeouts,
    verify_tls: bool,
    anchors: Sequence[x509.Certificate],
    clock: Clock | None,
    max_redirects: int,
    identity: Identity | None,
) -> urllib3.PoolManager:
    retries = urllib3.Retry(
        total=max_redirects,
        connect=0,
        read=0,
        redirect=max_redirects,
        status=0,
        other=0,
        raise_on_redirect=False,
        raise_on_status=False,
    )
    if verify_tls:
        context = trusted_context(
            anchors, clock if clock is not None else Clock.untrusted(), identity
        )
        return urllib3.PoolManager(
            num_pools=2,
            timeout=timeouts.as_urllib3(),
            retries=retries,
            ssl_context=context,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    return urllib3.PoolManager(
        num_pools=2,
        timeout=timeouts.as_urllib3(),
        retries=retries,
        ssl_context=provisional_context(identity),
        cert_reqs=ssl.CERT_NONE,
        assert_hostname=False,
    )


def download(
    uri: str,
    destination: BinaryIO,
    *,
    timeouts: Timeouts,
    max_bytes: int | None = None,
    check_space: Callable[[int], None] | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    verify_tls: bool = False,
    anchors: Sequence[x509.Certificate] = (),
    clock: Clock | None = None,
    chunk_size: int = MIB,
    max_redirects: int = 5,
    identity: Identity | None = None,
) -> DownloadResult:
    """Copy ``uri`` into ``destination``; return the size and SHA-256 of what was written.

    ``uri``: ``https``, ``http``, or ``file:`` with an absolute local path.  ``check_space`` is
    called with the announced size (Content-Length, or the file's size) before the first byte
    when it is known, then with the number of bytes written after every chunk; whatever it
    raises stops the download and propagates.  ``on_progress(written, total_or_None)`` follows
    every chunk.  ``verify_tls`` authenticates an https server to ``anchors`` under ``clock``
    (default untrusted, D10); otherwise its certificate is not checked.  ``identity`` (the
    device's, file or TPM) authenticates the device when the server asks for a certificate.

    Raises :class:`ModelError` (unusable URI), :class:`SizeLimitError` (over ``max_bytes``),
    :class:`ServerError` (a reply other than 200), :class:`ConnectError` and :class:`TLSError`
    (connection), :class:`TransportError` (a ``file:`` URI that cannot be read),
    :class:`EncodingError` (a compressed body) and :class:`BootImageError` (``destination``
    cannot be written).  What was written before an error stays in ``destination``: the caller
    discards it.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise ModelError(URI_FIELD, f"{uri!r:.200} is not a URI") from exc
    scheme = parts.scheme.lower()
    if scheme == "file":
        return _copy_file(
            parts,
            destination,
            max_bytes=max_bytes,
            check_space=check_space,
            on_progress=on_progress,
            chunk_size=chunk_size,
        )
    shown = _shown_uri(parts)
    if scheme not in ("http", "https"):
        raise ModelError(URI_FIELD, f"{shown!r:.200}: the scheme must be https, http or file")
    try:
        hostname = parts.hostname
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ModelError(URI_FIELD, f"{shown!r:.200}: {exc}") from exc
    if not hostname:
        raise ModelError(URI_FIELD, f"{shown!r:.200}: the host is empty")
    if "@" in parts.netloc:
        raise ModelError(URI_FIELD, f"{shown!r:.200}: user information is not supported")

    manager = _pool_manager(
        timeouts=timeouts,
        verify_tls=verify_tls,
        anchors=anchors,
        clock=clock,
        max_redirects=max_redirects,
        identity=identity,
    )
    try:
        try:
            with unverified_is_intended(not verify_tls):
                response = manager.request(
                    "GET",
                    uri,
                    headers={"Accept-Encoding": "identity", "User-Agent": _USER_AGENT},
                    preload_content=False,
                    decode_content=False,
                )
        except (Urllib3HTTPError, OSError) as exc:
            raise transport_error(exc, shown) from exc
        try:
            if response.status != 200:
                raise ServerError(
                    f"download of {shown}: HTTP {response.status} {response.reason or ''}".rstrip(),
                    status=response.status,
                )
            refuse_content_encoding(response, WHAT)

            def read(size: int) -> bytes:
                try:
                    return response.read(size, decode_content=False)
                except (Urllib3HTTPError, OSError) as exc:
                    raise transport_error(exc, shown) from exc

            return _copy(
                read,
                destination,
                total=content_length(response),
                max_bytes=max_bytes,
                check_space=check_space,
                on_progress=on_progress,
                chunk_size=chunk_size,
            )
        finally:
            response.close()
            response.release_conn()
    finally:
        manager.clear()
