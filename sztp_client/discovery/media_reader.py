"""Reading a mounted medium: its layout and its artifact files, each size-bounded (R-113).

:func:`read_medium` reads the layout of :mod:`.media_layout` through a
:class:`DirectoryReader` (which never follows a symbolic link) and the artifact files it
names, each within its bound of :class:`~sztp_client.limits.Limits` and resolved so that none
leads out of the medium.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Final

import msgspec

from sztp_client.discovery import media_layout
from sztp_client.discovery.sources import SourceArtifacts
from sztp_client.files import read_bounded
from sztp_client.limits import Limits

DEFAULT_LIMITS: Final = Limits()


class DirectoryReader(msgspec.Struct, frozen=True):
    """:class:`~sztp_client.discovery.media_layout.MediumReader` over a mounted directory;
    symbolic links are left out (nothing on a medium is followed out of it)."""

    root: Path

    def list_directory(self, path: PurePosixPath, limit: int) -> Sequence[media_layout.DirEntry]:
        entries = []
        with os.scandir(self.root.joinpath(*path.parts)) as listing:
            for entry in listing:
                if entry.is_symlink():
                    continue
                entries.append(media_layout.DirEntry(entry.name, entry.is_dir()))
                if len(entries) > limit:
                    break
        return entries


def read_medium(
    root: Path,
    serial_number: str,
    *,
    directory_name: str = media_layout.DEFAULT_DIRECTORY,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[media_layout.MediumLayout | None, SourceArtifacts | None]:
    """The layout on the medium mounted at ``root`` and its artifacts (``None`` when there is
    no conveyed information), each file read with its bound in ``limits``."""
    layout = media_layout.read_layout(
        DirectoryReader(root), serial_number, directory_name=directory_name
    )
    if layout is None or layout.empty:
        return layout, None

    def read(relative: PurePosixPath | None, limit: int, what: str) -> bytes | None:
        if relative is None:
            return None
        path = media_layout.resolve_in_medium(root, relative)
        return read_bounded(path, limit, f"{what} on the medium")

    conveyed = read(
        layout.conveyed_information, limits.conveyed_information, "the conveyed information"
    )
    assert conveyed is not None  # layout.empty is False
    return layout, SourceArtifacts(
        conveyed_information=conveyed,
        owner_certificate=read(
            layout.owner_certificate, limits.owner_certificate, "the owner certificate"
        ),
        ownership_voucher=read(
            layout.ownership_voucher, limits.ownership_voucher, "the ownership voucher"
        ),
        medium=root,
    )
