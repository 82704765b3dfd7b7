"""Removable media for the tests: FAT images written with mtools, ext4 images written with
``mkfs.ext4 -d``, attached as loop devices.

Nothing here mounts on the host: the images are built from a directory tree without mounting,
and the loop devices are detached on every path out.  Loop devices are attached under one
file lock (``/tmp/sztp-test-loop.lock``), so that a test that picks a free loop device name
first and attaches it later does not race another test of this suite.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

LOCK = Path("/tmp/sztp-test-loop.lock")  # shared by the suite's workers


def tools_present(*names: str) -> bool:
    return all(shutil.which(name) for name in names)


def build_fat(image: Path, files: Mapping[str, bytes], size_mib: int = 4) -> Path:
    """A FAT image at ``image`` holding ``files`` (paths with ``/``, spelled as given)."""
    with image.open("wb") as handle:
        handle.truncate(size_mib << 20)
    subprocess.run(["mformat", "-i", str(image), "::"], check=True, capture_output=True)
    made: set[str] = set()
    for name, data in sorted(files.items()):
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                subprocess.run(
                    ["mmd", "-i", str(image), f"::/{folder}"], check=True, capture_output=True
                )
                made.add(folder)
        source = image.with_name(image.name + ".part")
        source.write_bytes(data)
        subprocess.run(
            ["mcopy", "-i", str(image), str(source), f"::/{name}"], check=True, capture_output=True
        )
        source.unlink()
    return image


def build_ext4(
    image: Path,
    files: Mapping[str, bytes],
    symlinks: Mapping[str, str] | None = None,
    size_mib: int = 8,
) -> Path:
    """An ext4 image at ``image`` holding ``files`` and ``symlinks`` (name → target)."""
    tree = image.with_name(image.name + ".tree")
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir()
    for name, data in files.items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name, target in (symlinks or {}).items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    with image.open("wb") as handle:
        handle.truncate(size_mib << 20)
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image)], check=True, capture_output=True
    )
    shutil.rmtree(tree)
    return image


@contextlib.contextmanager
def loop_lock() -> Iterator[None]:
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_loop() -> str:
    """A loop device path free now (call under :func:`loop_lock`)."""
    done = subprocess.run(["losetup", "-f"], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def attach(image: Path, device: str | None = None) -> str:
    """Attach ``image`` (on ``device`` when given); the loop device's path."""
    argv = ["losetup", device, str(image)] if device else ["losetup", "-f", "--show", str(image)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return device or done.stdout.strip()


def detach(device: str) -> None:
    with contextlib.suppress(subprocess.CalledProcessError):
        subprocess.run(["losetup", "-d", device], check=True, capture_output=True)


@contextlib.contextmanager
def attached(image: Path) -> Iterator[str]:
    """``image`` attached as a loop device for the ``with`` block."""
    with loop_lock():
        device = attach(image)
    try:
        yield device
    finally:
        detach(device)


def mounts_below(directory: Path) -> list[str]:
    """The mount points at or below ``directory`` in this mount namespace."""
    prefix = str(directory)
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        points = [line.split()[4] for line in handle]
    return [p for p in points if p == prefix or p.startswith(prefix + os.sep)]
