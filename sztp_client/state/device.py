"""What the device remembers across runs and reboots (D17, D24): ``<state-dir>/state.json``.

* whether it is bootstrapped (then ``run`` does nothing more, R-015);
* every boot image it installed: its verified digest, the kernel boot id at install time, and
  the os-name/os-version it announced.  A later run whose boot id differs has booted into it,
  so the image step is skipped for the same digest (D17, D24).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from sztp_client.state.store import read_json, write_json

STATE_VERSION = 1


class InstalledImage(msgspec.Struct):
    sha256: str
    boot_id: str | None
    installed_at: str
    os_name: str | None = None
    os_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "boot-id": self.boot_id,
            "installed-at": self.installed_at,
            "os-name": self.os_name,
            "os-version": self.os_version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstalledImage:
        return cls(
            sha256=str(data["sha256"]),
            boot_id=data.get("boot-id"),
            installed_at=str(data.get("installed-at", "")),
            os_name=data.get("os-name"),
            os_version=data.get("os-version"),
        )


class DeviceState(msgspec.Struct):
    bootstrapped: bool = False
    bootstrapped_at: str | None = None
    rebooting: bool = False
    images: list[InstalledImage] = msgspec.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "bootstrapped": self.bootstrapped,
            "bootstrapped-at": self.bootstrapped_at,
            "rebooting": self.rebooting,
            "images": [image.to_json() for image in self.images],
        }

    @classmethod
    def from_json(cls, data: Any) -> DeviceState:
        if not isinstance(data, dict):
            return cls()
        return cls(
            bootstrapped=bool(data.get("bootstrapped", False)),
            bootstrapped_at=data.get("bootstrapped-at"),
            rebooting=bool(data.get("rebooting", False)),
            images=[InstalledImage.from_json(i) for i in data.get("images", [])],
        )


class StateStore:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "state.json"

    def load(self) -> DeviceState:
        return DeviceState.from_json(read_json(self.path))

    def save(self, state: DeviceState) -> None:
        write_json(self.path, state.to_json())


def now_text() -> str:
    # the YANG date-time writer is needed by a run only, not by ``status`` (start-up)
    from sztp_client.encoding.yang_types import format_datetime  # noqa: PLC0415

    return format_datetime(dt.datetime.now(dt.UTC), "seconds")
