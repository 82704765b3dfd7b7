"""Boot image download against real HTTP(S) servers on loopback and local files (D19)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from sztp_client.errors import (
    BootImageError,
    ConnectError,
    EncodingError,
    ModelError,
    ServerError,
    SizeLimitError,
    TLSError,
    TransportError,
)
from sztp_client.transport.download import _QUEUE_CHUNKS, DownloadResult, download
from sztp_client.transport.http import Timeouts
from tests.helpers.tls_server import Reply, ScriptedServer, ServerPKI, credentials, make_server_pki

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
TIMEOUTS = Timeouts(connect=5.0, read=5.0)
IMAGE_SIZE = 24 * MIB + 12345


class DiskFull(Exception):
    """What a caller's check_space raises in these tests."""


@pytest.fixture(scope="module")
def spki() -> ServerPKI:
    return make_server_pki()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("image") / "labos.img"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        remaining = IMAGE_SIZE
        while remaining:
            chunk = os.urandom(min(MIB, remaining))
            out.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
    return path, digest.digest()


@pytest.fixture
def https(spki: ServerPKI, image: tuple[Path, bytes]) -> Iterator[ScriptedServer]:
    with ScriptedServer(*credentials(spki.server)) as server:
        server.routes["/labos.img"] = Reply(200, {}, body_file=image[0])
        yield server


def test_https_download_is_streamed_with_its_digest(
    https: ScriptedServer, image: tuple[Path, bytes], tmp_path: Path
) -> None:
    progress: list[tuple[int, int | None]] = []
    space: list[int] = []
    target = tmp_path / "out.img"
    tracemalloc.start()
    try:
        with target.open("wb") as out:
            result = download(
                f"{https.url}/labos.img",
                out,
                timeouts=TIMEOUTS,
                check_space=space.append,
                on_progress=lambda done, total: progress.append((done, total)),
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == DownloadResult(size=IMAGE_SIZE, sha256=image[1])
    assert hashlib.sha256(target.read_bytes()).digest() == image[1]
    # never the whole image in memory.  Worst case, when the writer falls behind: the queued
    # chunks, one waiting to be queued, one being written, up to two in urllib3's read buffer,
    # and the server thread's reads
    assert peak < (_QUEUE_CHUNKS + 6) * MIB < IMAGE_SIZE // 2, peak
    assert space[0] == IMAGE_SIZE  # Content-Length first
    assert space[1:] == [done for done, _ in progress]
    assert len(progress) >= IMAGE_SIZE // MIB
    assert all(total == IMAGE_SIZE for _, total in progress)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert progress[-1][0] == IMAGE_SIZE
    assert https.requests[0].headers["accept-encoding"] == "identity"


def test_https_download_verified_against_anchors(
    https: ScriptedServer, spki: ServerPKI, image: tuple[Path, bytes]
) -> None:
    url = f"https://localhost:{https.port}/labos.img"
    result = download(url, io.BytesIO(), timeouts=TIMEOUTS, verify_tls=True, anchors=[spki.anchor])
    assert result.sha256 == image[1]
    with pytest.raises(TLSError):
        download(
            url,
            io.BytesIO(),
            timeouts=TIMEOUTS,
            verify_tls=True,
            anchors=[spki.other_root.cert],
        )


def test_blind_tls_is_the_default(spki: ServerPKI, image: tuple[Path, bytes]) -> None:
    with ScriptedServer(*credentials(spki.other_name)) as server:
        server.routes["/labos.img"] = Reply(200, {}, body_file=image[0])
        result = download(f"{server.url}/labos.img", io.BytesIO(), timeouts=TIMEOUTS)
    assert result.sha256 == image[1]


def test_http_without_content_length(image: tuple[Path, bytes]) -> None:
    progress: list[tuple[int, int | None]] = []
    space: list[int] = []
    with ScriptedServer() as server:
        server.routes["/labos.img"] = Reply(200, {}, body_file=image[0], no_length=True)
        result = download(
            f"{server.url}/labos.img",
            io.BytesIO(),
            timeouts=TIMEOUTS,
            check_space=space.append,
            on_progress=lambda done, total: progress.append((done, total)),
        )
    assert result == DownloadResult(IMAGE_SIZE, image[1])
    assert space == [done for done, _ in progress]  # no announced size: only the running count
    assert {total for _, total in progress} == {None}


def test_redirect_is_followed(https: ScriptedServer, image: tuple[Path, bytes]) -> None:
    https.routes["/old.img"] = Reply(302, {"Location": "/labos.img"})
    result = download(f"{https.url}/old.img", io.BytesIO(), timeouts=TIMEOUTS)
    assert result.sha256 == image[1]
    assert [r.path for r in https.requests] == ["/old.img", "/labos.img"]


def test_redirect_loop_ends(https: ScriptedServer) -> None:
    https.routes["/loop.img"] = Reply(302, {"Location": "/loop.img"})
    with pytest.raises(ServerError) as info:
        download(f"{https.url}/loop.img", io.BytesIO(), timeouts=TIMEOUTS, max_redirects=3)
    assert info.value.status == 302
    assert len(https.requests) == 4


@pytest.mark.parametrize("status", [404, 500, 206])
def test_error_status_is_a_server_error(https: ScriptedServer, status: int) -> None:
    https.routes["/x.img"] = Reply(status, {}, b"nope")
    out = io.BytesIO()
    with pytest.raises(ServerError) as info:
        download(f"{https.url}/x.img?token=secret", out, timeouts=TIMEOUTS)
    assert info.value.status == status
    assert "secret" not in str(info.value)
    assert out.getvalue() == b""


@pytest.mark.parametrize("no_length", [False, True])
def test_max_bytes(image: tuple[Path, bytes], no_length: bool) -> None:
    with ScriptedServer() as server:
        server.routes["/labos.img"] = Reply(200, {}, body_file=image[0], no_length=no_length)
        out = io.BytesIO()
        with pytest.raises(SizeLimitError) as info:
            download(
                f"{server.url}/labos.img",
                out,
                timeouts=TIMEOUTS,
                max_bytes=IMAGE_SIZE - 1,
            )
        assert info.value.limit == IMAGE_SIZE - 1
        if no_length:
            assert IMAGE_SIZE - MIB <= len(out.getvalue()) <= IMAGE_SIZE - 1
        else:
            assert out.getvalue() == b""  # refused on the Content-Length alone
        exact = download(
            f"{server.url}/labos.img", io.BytesIO(), timeouts=TIMEOUTS, max_bytes=IMAGE_SIZE
        )
        assert exact.size == IMAGE_SIZE


def test_check_space_refusing_the_announced_size(https: ScriptedServer) -> None:
    def check(size: int) -> None:
        raise DiskFull(size)

    out = io.BytesIO()
    with pytest.raises(DiskFull) as info:
        download(f"{https.url}/labos.img", out, timeouts=TIMEOUTS, check_space=check)
    assert info.value.args == (IMAGE_SIZE,)
    assert out.getvalue() == b""


def test_check_space_stops_a_running_download(https: ScriptedServer) -> None:
    calls: list[int] = []

    def check(size: int) -> None:
        calls.append(size)
        if len(calls) > 3:
            raise DiskFull(size)

    out = io.BytesIO()
    with pytest.raises(DiskFull):
        download(f"{https.url}/labos.img", out, timeouts=TIMEOUTS, check_space=check)
    assert len(out.getvalue()) == calls[-1] < IMAGE_SIZE
    # the server is still fine for the next client
    assert download(f"{https.url}/labos.img", io.BytesIO(), timeouts=TIMEOUTS).size == IMAGE_SIZE


def test_unwritable_destination_is_a_boot_image_error(https: ScriptedServer) -> None:
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(BootImageError, match="No space left"):
        download(f"{https.url}/labos.img", Full(), timeouts=TIMEOUTS)  # type: ignore[arg-type]


def test_file_uri(image: tuple[Path, bytes], tmp_path: Path) -> None:
    progress: list[tuple[int, int | None]] = []
    space: list[int] = []
    result = download(
        image[0].as_uri(),
        io.BytesIO(),
        timeouts=TIMEOUTS,
        check_space=space.append,
        on_progress=lambda done, total: progress.append((done, total)),
        chunk_size=4 * MIB,
    )
    assert result == DownloadResult(IMAGE_SIZE, image[1])
    assert space[0] == IMAGE_SIZE
    assert progress[-1] == (IMAGE_SIZE, IMAGE_SIZE)
    assert len(progress) == -(-IMAGE_SIZE // (4 * MIB))  # one report per 4 MiB chunk
    # percent-encoding and the localhost form
    odd = tmp_path / "a b.img"
    odd.write_bytes(b"image")
    assert download(f"file://localhost{odd.as_uri()[7:]}", io.BytesIO(), timeouts=TIMEOUTS) == (
        DownloadResult(5, hashlib.sha256(b"image").digest())
    )
    with pytest.raises(SizeLimitError):
        download(image[0].as_uri(), io.BytesIO(), timeouts=TIMEOUTS, max_bytes=10)
    with pytest.raises(TransportError, match="missing"):
        download((tmp_path / "missing.img").as_uri(), io.BytesIO(), timeouts=TIMEOUTS)


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://files.example/labos.img",
        "file:relative/labos.img",
        "file://otherhost/labos.img",
        "https:///labos.img",
        "https://files.example:99999/labos.img",
        "https://user:pw@files.example/labos.img",
        "labos.img",
    ],
)
def test_unusable_uri(uri: str) -> None:
    with pytest.raises(ModelError) as info:
        download(uri, io.BytesIO(), timeouts=TIMEOUTS)
    assert info.value.field == "download-uri"


def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError, match="cannot connect"):
        download(f"http://127.0.0.1:{port}/labos.img", io.BytesIO(), timeouts=TIMEOUTS)


def test_read_timeout_is_a_connect_error() -> None:
    with ScriptedServer() as server:
        server.routes["/slow.img"] = Reply(200, {}, b"x", delay=10)
        with pytest.raises(ConnectError, match="timed out"):
            download(
                f"{server.url}/slow.img",
                io.BytesIO(),
                timeouts=Timeouts(connect=5, read=0.3),
            )


def test_compressed_body_is_refused() -> None:
    with ScriptedServer() as server:
        server.routes["/labos.img"] = Reply(200, {"Content-Encoding": "gzip"}, b"\x1f\x8b")
        with pytest.raises(EncodingError, match="gzip"):
            download(f"{server.url}/labos.img", io.BytesIO(), timeouts=TIMEOUTS)
