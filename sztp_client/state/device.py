"""What the device remembers across runs and reboots (D17, D24): ``<state-dir>/state.json``.

* whether it is bootstrapped (then ``run`` does nothing more, R-015);
* every boot image it installed: its verified digest, the kernel boot id at install time, and
  the os-name/os-version it announced.  A later run whose boot id differs has booted into it,
  so the image step is skipped for the same digest (D17, D24).

The records a run changes in place; the file's names and format are in
:mod:`sztp_client.state.state_file`, which ``status`` reads without these records.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from sztp_client.state import state_file as f
from sztp_client.state.store import read_json, write_json


class InstalledImage(msgspec.Struct):
    sha256: str
    boot_id: str | None
    installed_at: str
    os_name: str | None = None
    os_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return f.image_entry(
            self.sha256, self.boot_id, self.installed_at, self.os_name, self.os_version
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstalledImage:
        return cls._of_entry(f.normalized_image(data))

    @classmethod
    def _of_entry(cls, entry: dict[str, Any]) -> InstalledImage:
        return cls(
            sha256=entry[f.SHA256],
            boot_id=entry[f.BOOT_ID],
            installed_at=entry[f.INSTALLED_AT],
            os_name=entry[f.OS_NAME],
            os_version=entry[f.OS_VERSION],
        )


class DeviceState(msgspec.Struct):
    bootstrapped: bool = False
    bootstrapped_at: str | None = None
    rebooting: bool = False
    images: list[InstalledImage] = msgspec.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return f.state_document(
            self.bootstrapped,
            self.bootstrapped_at,
            self.rebooting,
            [image.to_json() for image in self.images],
        )

    @classmethod
    def from_json(cls, data: Any) -> DeviceState:
        document = f.normalized(data)
        return cls(
            bootstrapped=document[f.BOOTSTRAPPED],
            bootstrapped_at=document[f.BOOTSTRAPPED_AT],
            rebooting=document[f.REBOOTING],
            images=[InstalledImage._of_entry(entry) for entry in document[f.IMAGES]],
        )


class StateStore:
    def __init__(self, state_dir: Path) -> None:
        self.path = f.state_path(state_dir)

    def load(self) -> DeviceState:
        return DeviceState.from_json(read_json(self.path))

    def save(self, state: DeviceState) -> None:
        write_json(self.path, state.to_json())


def now_text() -> str:
    # the YANG date-time writer is needed by a run only, not by ``status`` (start-up)
    from sztp_client.encoding.yang_types import format_datetime  # noqa: PLC0415

    return format_datetime(dt.datetime.now(dt.UTC), "seconds")
