"""The device state's file, ``<state-dir>/state.json`` (D17, D24): its name, its version, its
keys, and a read of it into plain JSON values.

:class:`~sztp_client.state.device.DeviceState` writes and reads the file through these names
and functions; ``status`` reads it with :func:`read_state` alone, which defines no record type
(``status`` starts without msgspec, docs/architecture.md).  The format is fixed: a newer client
reads an older client's file and writes it back byte for byte alike (D24).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from sztp_client.state.store import read_json

STATE_FILE: Final = "state.json"
STATE_VERSION: Final = 1

# the keys of the document
VERSION: Final = "version"
BOOTSTRAPPED: Final = "bootstrapped"
BOOTSTRAPPED_AT: Final = "bootstrapped-at"
REBOOTING: Final = "rebooting"
IMAGES: Final = "images"
# the keys of one entry of ``images``: a boot image installed
SHA256: Final = "sha256"
BOOT_ID: Final = "boot-id"
INSTALLED_AT: Final = "installed-at"
OS_NAME: Final = "os-name"
OS_VERSION: Final = "os-version"


def image_entry(
    sha256: str,
    boot_id: str | None,
    installed_at: str,
    os_name: str | None,
    os_version: str | None,
) -> dict[str, Any]:
    """One entry of ``images``, every key present."""
    return {
        SHA256: sha256,
        BOOT_ID: boot_id,
        INSTALLED_AT: installed_at,
        OS_NAME: os_name,
        OS_VERSION: os_version,
    }


def state_document(
    bootstrapped: bool,
    bootstrapped_at: str | None,
    rebooting: bool,
    images: list[dict[str, Any]],
) -> dict[str, Any]:
    """The whole document, at :data:`STATE_VERSION`, every key present."""
    return {
        VERSION: STATE_VERSION,
        BOOTSTRAPPED: bootstrapped,
        BOOTSTRAPPED_AT: bootstrapped_at,
        REBOOTING: rebooting,
        IMAGES: images,
    }


def normalized_image(data: dict[str, Any]) -> dict[str, Any]:
    """An entry of ``images`` as the client reads it: the digest required, the rest defaulted."""
    return image_entry(
        str(data[SHA256]),
        data.get(BOOT_ID),
        str(data.get(INSTALLED_AT, "")),
        data.get(OS_NAME),
        data.get(OS_VERSION),
    )


def normalized(data: Any) -> dict[str, Any]:
    """The document as the client reads it: every key present, unknown keys dropped; anything
    but a JSON object (or no file: None) is the fresh state of a device never bootstrapped."""
    if not isinstance(data, dict):
        data = {}
    return state_document(
        bool(data.get(BOOTSTRAPPED, False)),
        data.get(BOOTSTRAPPED_AT),
        bool(data.get(REBOOTING, False)),
        [normalized_image(entry) for entry in data.get(IMAGES, [])],
    )


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def read_state(state_dir: Path) -> dict[str, Any]:
    """The normalized document of ``<state_dir>/state.json`` (the fresh state without one)."""
    return normalized(read_json(state_path(state_dir)))
