"""End-to-end fixtures: a lab on disk, bootstrap and file servers on loopback, devices under
scratch roots, and the real ``sztp-client`` run as a process (D26: loopback only)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import (
    SignedSet,
    make_signed_set,
    onboarding_json,
    redirect_json,
    trust_anchor_bag,
)
from sztp_lab.lab import LabLayout, create_lab
from sztp_lab.scenario import Device, make_device, script
from sztp_lab.server import LabBootstrapServer, LabFileServer, Response, ServerConfig

SERIAL = "SZTP-E2E-0001"
IMAGE_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabLayout:
    return create_lab(tmp_path_factory.mktemp("lab") / "lab", serial_number=SERIAL)


@dataclass
class Image:
    directory: Path
    name: str
    sha256: bytes

    @property
    def path(self) -> Path:
        return self.directory / self.name


@dataclass
class Env:
    """One test's world: servers it started (stopped at teardown) and its device."""

    lab: LabLayout
    root: Path
    servers: list[LabBootstrapServer | LabFileServer] = field(default_factory=list)

    # -- servers ---------------------------------------------------------------------------

    def server(self, default: Response | None = None, **config: Any) -> LabBootstrapServer:
        config.setdefault("client_ca", [self.lab.pki.manufacturer_root.cert])
        # D29: every scenario runs against a server that behaves as deployed ones do
        config.setdefault("strict", True)
        identity = config.pop("identity", self.lab.server_identity)
        server = LabBootstrapServer(ServerConfig(identity=identity, default=default, **config))
        server.start()
        self.servers.append(server)
        return server

    def files(self, image: Image, **options: Any) -> LabFileServer:
        server = LabFileServer(image.directory, identity=self.lab.server_identity, **options)
        server.start()
        self.servers.append(server)
        return server

    def image(self, name: str = "os.img", size: int = IMAGE_BYTES) -> Image:
        directory = self.root / "images"
        directory.mkdir(exist_ok=True)
        data = b"LabOS image " + os.urandom(size)
        (directory / name).write_bytes(data)
        return Image(directory, name, hashlib.sha256(data).digest())

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    # -- artifacts -------------------------------------------------------------------------

    @property
    def log(self) -> Path:
        return self.root / "device" / "scripts.log"

    def onboarding(
        self,
        *,
        image: Image | None = None,
        uris: Sequence[str] = (),
        os_version: str = "2.0",
        pre: str | None = "exit 0",
        post: str | None = "exit 0",
        configuration: dict[str, Any] | None = None,
        handling: str = "merge",
    ) -> bytes:
        config = {"hostname": "device"} if configuration is None else configuration
        return onboarding_json(
            os_name="LabOS" if image else None,
            os_version=os_version if image else None,
            download_uris=tuple(uris),
            sha256=image.sha256 if image else None,
            configuration_handling=handling,
            configuration=json.dumps(config).encode(),
            pre_script=script(pre, self.log) if pre is not None else None,
            post_script=script(post, self.log) if post is not None else None,
        )

    def signed(self, conveyed: bytes, **options: Any) -> SignedSet:
        return make_signed_set(self.lab.pki, SERIAL, conveyed, **options)

    @staticmethod
    def unsigned(conveyed: bytes) -> bytes:
        return lab_cms.content_info("json", conveyed)

    def redirect_to(
        self, server: LabBootstrapServer, *, anchor: bool = True, host: str = "127.0.0.1"
    ) -> bytes:
        bag = trust_anchor_bag(self.lab.server_ca) if anchor else None
        return redirect_json([(host, server.port, bag)])

    # -- the device ------------------------------------------------------------------------

    def device(
        self,
        servers: Sequence[LabBootstrapServer | str],
        *,
        trusted: bool = True,
        **options: Any,
    ) -> Device:
        urls = [s if isinstance(s, str) else s.url for s in servers]
        anchors = [self.lab.server_root.cert] if trusted else []
        return make_device(
            self.root / "device",
            self.lab.pki,
            SERIAL,
            idevid=self.lab.idevid,
            servers=urls,
            server_trust_anchors=anchors,
            **options,
        )

    def scripts_ran(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []


@pytest.fixture
def env(lab: LabLayout, tmp_path: Path) -> Iterator[Env]:
    world = Env(lab, tmp_path)
    try:
        yield world
    finally:
        world.stop()
