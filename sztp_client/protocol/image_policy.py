"""Whether a boot image is needed, and whether a requested reboot has not happened (pure).

* An image whose ``os-name``/``os-version`` match the running system is not installed (D17);
  one that names neither is installed unless an image with its digest was installed and the
  device has booted since (D24).
* An image is never installed without a supported ``image-verification`` (R-071).
* After an install the device reboots; when the next run finds the boot id unchanged, the
  reboot has not happened and is requested again, without fetching the image again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from sztp_client.errors import BootImageError

if TYPE_CHECKING:
    from sztp_client.model.conveyed import BootImage


class RunningSystem(msgspec.Struct, frozen=True):
    """What the device runs now: ``os-name`` and ``os-version`` as it reports them."""

    os_name: str | None
    os_version: str | None


class Installed(Protocol):
    """A record of an installed image (``state.device.InstalledImage``)."""

    @property
    def sha256(self) -> str: ...

    @property
    def boot_id(self) -> str | None: ...


class ImageDecision(msgspec.Struct, frozen=True):
    needed: bool
    reason: str = ""
    digest: bytes | None = None


def image_matches_running(boot_image: BootImage, running: RunningSystem) -> bool:
    """True when the boot image names os-name and/or os-version and each named one equals the
    running value (D17).

    A boot image that names neither does not match: it is installed, unless the client's state
    records that an image with its digest was already installed and booted.
    """
    named = [
        (wanted, actual)
        for wanted, actual in (
            (boot_image.os_name, running.os_name),
            (boot_image.os_version, running.os_version),
        )
        if wanted is not None
    ]
    return bool(named) and all(wanted == actual for wanted, actual in named)


def supported_digest(boot_image: BootImage) -> bytes:
    """The expected SHA-256 of the image (R-071, D13).

    Raises :class:`BootImageError` when the boot image lists no ``image-verification`` (an image
    that cannot be verified is never installed) or none with a supported hash algorithm.
    """
    from sztp_client.model.conveyed import SHA_256  # noqa: PLC0415 - loaded with the data

    if not boot_image.image_verifications:
        raise BootImageError(
            "the boot image has no image-verification: an image that cannot be verified is "
            "never installed"
        )
    for verification in boot_image.image_verifications:
        if verification.hash_algorithm == SHA_256:
            return verification.hash_value
    listed = ", ".join(v.hash_algorithm for v in boot_image.image_verifications)
    raise BootImageError(
        f"the boot image lists no supported hash algorithm (listed: {listed}; supported: {SHA_256})"
    )


def booted_into(installed: Sequence[Installed], digest: bytes, boot_id: str | None) -> bool:
    """Whether an image with this digest was installed and the device has rebooted since."""
    return any(
        image.sha256 == digest.hex()
        and (boot_id is None or image.boot_id is None or image.boot_id != boot_id)
        for image in installed
    )


def decide_image(
    boot_image: BootImage,
    running: RunningSystem,
    installed: Sequence[Installed],
    boot_id: str | None,
) -> ImageDecision:
    """Whether to download and install ``boot_image`` (D17, D24); raises BootImageError when
    it could never be verified."""
    if image_matches_running(boot_image, running):
        reason = f"running {running.os_name or ''} {running.os_version or ''}".strip()
        return ImageDecision(False, reason)
    digest = supported_digest(boot_image)
    if booted_into(installed, digest, boot_id):
        return ImageDecision(False, f"image {digest.hex()[:16]}… installed and booted", digest)
    return ImageDecision(True, "", digest)


def reboot_pending(rebooting: bool, installed: Sequence[Installed], boot_id: str | None) -> bool:
    """Whether the reboot requested after the last install has not happened: the boot id is
    still the one the image was installed under."""
    if not rebooting or boot_id is None or not installed:
        return False
    return installed[-1].boot_id == boot_id


__all__ = [
    "ImageDecision",
    "RunningSystem",
    "booted_into",
    "decide_image",
    "image_matches_running",
    "reboot_pending",
    "supported_digest",
]
