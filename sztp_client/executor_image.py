"""The executor's boot-image step: the decision (pure, :mod:`sztp_client.protocol.image_policy`),
then the download (HTTPS, or a ``file:`` URI on the removable medium the data came from), the
verification, the install and the record that makes the next pass recognise the reboot."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from sztp_client.actions import image as image_actions
from sztp_client.discovery import media_layout
from sztp_client.errors import BootImageError, InternalError, SZTPError
from sztp_client.protocol import onboarding as m
from sztp_client.protocol.image_policy import decide_image
from sztp_client.state.device import InstalledImage, now_text
from sztp_client.state.store import ensure_dir
from sztp_client.transport import download as download_transport

if TYPE_CHECKING:
    from sztp_client.executor import Executor


def process_image(executor: Executor, action: m.ProcessImage) -> m.Event:
    """The boot-image step: skipped when the image runs already (D17, D24), otherwise
    downloaded, verified, installed and recorded, and the reboot asked for (R-069..R-072)."""
    boot_image = action.information.boot_image
    if boot_image is None:
        raise InternalError("image step without a boot image")
    try:
        decision = decide_image(
            boot_image, executor.context.running_system(), executor.state.images, executor.boot_id
        )
        if not decision.needed or decision.digest is None:
            return m.ImageUpToDate(decision.reason)
        digest = decision.digest
        work = ensure_dir(executor.config.paths.cache_dir / "images")
        image = image_actions.fetch_verified_image(
            boot_image,
            work,
            partial(downloader, executor),
            min_free_bytes=executor.config.image.min_free,
            on_mirror_failure=lambda why: executor.recorder.info(f"mirror failed: {why}"),
        )
        try:
            executor.recorder.info(f"image verified (sha-256 {digest.hex()[:16]}…), installing")
            executor.context.installer.install(image.path, boot_image, image.sha256)
        finally:
            with contextlib.suppress(OSError):
                image.path.unlink()
    except SZTPError as exc:
        if not isinstance(exc, BootImageError):
            exc = BootImageError(exc.message)
        return m.StepFailed(m.OnboardingStep.BOOT_IMAGE, exc)
    executor.state.images.append(
        InstalledImage(
            sha256=digest.hex(),
            boot_id=executor.boot_id,
            installed_at=now_text(),
            os_name=boot_image.os_name,
            os_version=boot_image.os_version,
        )
    )
    executor.state.rebooting = True
    executor.store.save(executor.state)
    return m.ImageInstalled(digest)


def downloader(
    executor: Executor, uri: str, destination: BinaryIO, check: Callable[[int], None]
) -> bytes:
    """Fetch ``uri`` into ``destination``: over HTTPS, or a ``file:`` URI from the medium."""
    if urlsplit(uri).scheme.lower() == "file":
        return copy_from_medium(executor, uri, destination, check)
    result = download_transport.download(
        uri,
        destination,
        timeouts=executor.context.timeouts,
        check_space=check,
        on_progress=executor.recorder.progress,
        verify_tls=executor.config.image.verify_tls,
        anchors=executor.context.server_anchors,
        clock=executor.context.clock(),  # with verify-tls, validity periods count as for servers
        identity=executor.context.identity,  # a file server asking for a client certificate
    )
    return result.sha256


def copy_from_medium(
    executor: Executor, uri: str, destination: BinaryIO, check: Callable[[int], None]
) -> bytes:
    """A ``file:`` image: allowed only in data from a removable medium, and only a file
    inside that medium (symbolic links and ``..`` that leave it are refused)."""
    medium = executor.media[-1] if executor.media else None
    if medium is None:
        raise BootImageError(
            "file: download-uri refused: allowed only in data from a removable medium, "
            "where it names a file on that medium"
        )
    path = media_layout.resolve_file_uri(medium, uri)
    digest = hashlib.sha256()
    try:
        source = path.open("rb")
    except OSError as exc:
        raise BootImageError(f"cannot read {uri[:200]!r} on the medium: {exc}") from exc
    with source:
        size = os.fstat(source.fileno()).st_size
        check(size)
        copied = 0
        while chunk := source.read(1024 * 1024):
            copied += len(chunk)
            if copied > size:
                raise BootImageError(f"{uri[:200]!r} grew while it was copied")
            destination.write(chunk)
            digest.update(chunk)
            executor.recorder.progress(copied, size)
    return digest.digest()
