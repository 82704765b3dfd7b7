"""Mounting a removable medium read-only, and unmounting it on every path out (R-112, D7).

:class:`MountedMedium` mounts one device into a private directory with the configured mount
command: an argv list in which ``{device}`` and ``{directory}`` are replaced, appended in that
order when absent (:func:`command_line`; ``mount -o ro,nosuid,nodev,noexec`` by default,
``fusefat -o ro`` where the kernel lacks FAT), and unmounts it with the unmount command
(``umount`` by default; the directory is appended when ``{directory}`` is absent), lazily when
that fails.  A mount command that runs when SIGTERM arrives is let finish, then undone.  Whether
something is mounted is read from ``/proc/self/mountinfo``, not from the command's status.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

from sztp_client.discovery.errors import MediaMountError
from sztp_client.interrupt import deferred

DEFAULT_MOUNT_COMMAND: Final = ("mount", "-o", "ro,nosuid,nodev,noexec")
DEFAULT_UNMOUNT_COMMAND: Final = ("umount",)
FUSEFAT_MOUNT_COMMAND: Final = ("fusefat", "-o", "ro")
COMMAND_TIMEOUT: Final = 30.0
_SHOWN_OUTPUT: Final = 400


def command_line(template: Sequence[str], device: str | None, directory: str) -> list[str]:
    """``template`` with ``{device}`` and ``{directory}`` replaced; the missing ones appended
    in that order (``device`` ``None``: an unmount command, which takes no device)."""
    argv = [
        word.replace("{device}", device or "").replace("{directory}", directory)
        for word in template
    ]
    if device is not None and not any("{device}" in word for word in template):
        argv.append(device)
    if not any("{directory}" in word for word in template):
        argv.append(directory)
    return argv


def _run(argv: list[str], what: str) -> None:
    if not argv or not argv[0]:
        raise MediaMountError(f"the {what} command is empty")
    try:
        done = subprocess.run(  # noqa: S603  # the configured command, argv only
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise MediaMountError(f"the {what} command {argv[0]!r} is not installed") from None
    except subprocess.TimeoutExpired:
        raise MediaMountError(
            f"the {what} command {' '.join(argv)} did not end in {COMMAND_TIMEOUT:.0f} s"
        ) from None
    except OSError as exc:
        raise MediaMountError(f"the {what} command {argv[0]!r} cannot run: {exc}") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
        raise MediaMountError(
            f"{' '.join(argv)} failed (exit status {done.returncode}): "
            f"{output[:_SHOWN_OUTPUT] or 'no output'}"
        )


def _mount_point(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as three octal digits
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _is_mount_point(directory: Path) -> bool:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            mounted = {_mount_point(line.split()[4]) for line in handle if len(line.split()) > 4}
    except OSError:
        return os.path.ismount(directory)
    return str(directory) in mounted


class MountedMedium:
    """One device mounted read-only on a private directory; :meth:`close` unmounts it and
    removes the directory (idempotent).  A context manager."""

    def __init__(
        self,
        device: str,
        *,
        base: Path,
        mount_command: Sequence[str] = DEFAULT_MOUNT_COMMAND,
        unmount_command: Sequence[str] = DEFAULT_UNMOUNT_COMMAND,
    ) -> None:
        self.device = device
        self._unmount_command = tuple(unmount_command)
        self.root = Path(tempfile.mkdtemp(prefix="medium-", dir=base))
        self._mounted = False
        try:
            # an interruption (SIGTERM) waits until the mount command has ended and its result
            # is known, then unwinds through close() below
            with deferred():
                try:
                    _run(command_line(mount_command, device, str(self.root)), "mount")
                finally:
                    # a mount command that failed may still have mounted
                    self._mounted = _is_mount_point(self.root)
            if not self._mounted:
                raise MediaMountError(
                    f"{' '.join(command_line(mount_command, device, str(self.root)))} "
                    f"ended, but nothing is mounted on {self.root}"
                )
        except BaseException:
            self.close()
            raise

    @property
    def mounted(self) -> bool:
        return self._mounted

    def close(self) -> None:
        """Unmount (when mounted) and remove the private directory.  An unmount that fails is
        retried lazily (``umount -l``) before :class:`MediaMountError` is raised."""
        if self._mounted:
            try:
                _run(command_line(self._unmount_command, None, str(self.root)), "unmount")
            except MediaMountError:
                if _is_mount_point(self.root):
                    with contextlib.suppress(MediaMountError):
                        _run(["umount", "-l", str(self.root)], "unmount")
                if _is_mount_point(self.root):
                    raise
            self._mounted = _is_mount_point(self.root)
        if not self._mounted:
            with contextlib.suppress(OSError):
                self.root.rmdir()

    def __enter__(self) -> MountedMedium:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
