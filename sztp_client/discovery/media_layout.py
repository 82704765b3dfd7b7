"""The layout of a removable medium, and ``file:`` URIs inside it (RFC 8572 §4.1; R-111..R-114,
D7).

D7: a folder at the root of the medium, named by the device maker's configuration so that it
can be manufacturer-unique (default ``sztp``), holds either a folder named after one device's
serial number or the files for any device directly; a folder for this device's serial number,
when present, is used instead of the device-independent files (the two are never mixed).  The
files are ``conveyed-information.cms``, ``owner-certificate.cms`` and
``ownership-voucher.cms`` or ``ownership-voucher.vcj`` (R-112).  Names, the serial number's
included, match without regard to case, because FAT shows them in upper case.  A medium
without the folder carries another layout and is ignored (R-113).

:func:`read_layout` walks the medium through a small :class:`MediumReader` (directory
listings only; reading the files, with their size bounds, is the caller's), so that the rules
are tested without a filesystem.

R-114, D7: a ``file:`` boot-image URI in data from a medium names a file on that medium,
relative to its root.  :func:`medium_path` is the pure half: it reads the URI and normalises
its path, refusing one that climbs out with ``..``, names another host, or is malformed.  The
filesystem half, :func:`resolve_in_medium`, is separate on purpose: only the mounted medium can
say whether a symbolic link on it leads outside, so it resolves the real path with
:func:`os.path.realpath` and refuses anything that does not stay below the real mount root.

Hand-written: the layout is this project's decision (D7) and the containment check is a few
lines that must be exactly right; no library offers either.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Final, Protocol
from urllib.parse import unquote_to_bytes

import msgspec

from sztp_client.discovery.errors import MediaLayoutError, MediaPathError

DEFAULT_DIRECTORY: Final = "sztp"
CONVEYED_INFORMATION: Final = "conveyed-information.cms"
OWNER_CERTIFICATE: Final = "owner-certificate.cms"
OWNERSHIP_VOUCHER_CMS: Final = "ownership-voucher.cms"
OWNERSHIP_VOUCHER_VCJ: Final = "ownership-voucher.vcj"
ARTIFACT_FILES: Final = (
    CONVEYED_INFORMATION,
    OWNER_CERTIFICATE,
    OWNERSHIP_VOUCHER_CMS,
    OWNERSHIP_VOUCHER_VCJ,
)
MAX_DIRECTORY_ENTRIES: Final = 4096
"""Default bound of the entries of one directory read from a medium."""
MAX_URI_LENGTH: Final = 4096

_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SHOWN: Final = 120


class DirEntry(msgspec.Struct, frozen=True):
    """A name in a directory of the medium, and whether it is a directory (symbolic links are
    the reader's to report as what they point to, or to leave out)."""

    name: str
    is_dir: bool


class MediumReader(Protocol):
    """Lists directories of a mounted medium; ``path`` is relative to the medium's root
    (``PurePosixPath()`` is the root).  A reader returns at most ``limit + 1`` entries, so that
    an over-full directory is noticed without reading all of it."""

    def list_directory(self, path: PurePosixPath, limit: int) -> Sequence[DirEntry]: ...


class MediumLayout(msgspec.Struct, frozen=True):
    """The SZTP files found on a medium, as paths relative to its root spelled as the medium
    spells them.  ``folder`` is the folder they were taken from; ``per_device`` tells whether
    it is the folder named after this device's serial number."""

    folder: PurePosixPath
    per_device: bool
    conveyed_information: PurePosixPath | None = None
    owner_certificate: PurePosixPath | None = None
    ownership_voucher: PurePosixPath | None = None

    @property
    def artifacts(self) -> tuple[str, ...]:
        """The names of the artifacts present (for the discovery report)."""
        found = (self.conveyed_information, self.owner_certificate, self.ownership_voucher)
        return tuple(path.name for path in found if path is not None)

    @property
    def empty(self) -> bool:
        """True when there is no conveyed information: the medium gives nothing to process."""
        return self.conveyed_information is None


def find_entry(entries: Sequence[DirEntry], name: str, *, directory: bool) -> DirEntry | None:
    """The entry called ``name`` without regard to case, of the kind asked for.  Two entries
    that match (possible outside FAT) raise :class:`MediaLayoutError`: which one was meant
    cannot be told."""
    wanted = name.lower()
    matches = [e for e in entries if e.is_dir == directory and e.name.lower() == wanted]
    if len(matches) > 1:
        names = ", ".join(repr(entry.name) for entry in matches)
        raise MediaLayoutError(f"the medium holds {names}: which one is meant is ambiguous")
    return matches[0] if matches else None


def select_artifacts(
    folder: PurePosixPath, entries: Sequence[DirEntry], *, per_device: bool
) -> MediumLayout:
    """The artifact files among ``entries`` of ``folder`` (D7).  Both voucher forms at once
    raise :class:`MediaLayoutError`."""
    conveyed = find_entry(entries, CONVEYED_INFORMATION, directory=False)
    owner = find_entry(entries, OWNER_CERTIFICATE, directory=False)
    voucher_cms = find_entry(entries, OWNERSHIP_VOUCHER_CMS, directory=False)
    voucher_vcj = find_entry(entries, OWNERSHIP_VOUCHER_VCJ, directory=False)
    if voucher_cms and voucher_vcj:
        raise MediaLayoutError(
            f"{folder} holds both {voucher_cms.name} and {voucher_vcj.name}: "
            "which voucher is meant is ambiguous"
        )
    voucher = voucher_cms or voucher_vcj

    def path(entry: DirEntry | None) -> PurePosixPath | None:
        return folder / entry.name if entry else None

    return MediumLayout(folder, per_device, path(conveyed), path(owner), path(voucher))


def read_layout(
    reader: MediumReader,
    serial_number: str,
    *,
    directory_name: str = DEFAULT_DIRECTORY,
    max_entries: int = MAX_DIRECTORY_ENTRIES,
) -> MediumLayout | None:
    """The layout of the medium behind ``reader`` for the device ``serial_number`` (D7).

    ``None`` when the medium has no folder ``directory_name`` at its root (another layout,
    R-113).  Otherwise the files of ``<directory_name>/<serial-number>/`` when that folder
    exists, else the files directly in ``<directory_name>/``.  A directory with more than
    ``max_entries`` entries, or an ambiguous name, raises :class:`MediaLayoutError`.
    """
    top = find_entry(_listing(reader, PurePosixPath(), max_entries), directory_name, directory=True)
    if top is None:
        return None
    folder = PurePosixPath(top.name)
    entries = _listing(reader, folder, max_entries)
    device = find_entry(entries, serial_number, directory=True) if serial_number else None
    if device is not None:
        folder = folder / device.name
        entries = _listing(reader, folder, max_entries)
    return select_artifacts(folder, entries, per_device=device is not None)


def _listing(reader: MediumReader, path: PurePosixPath, limit: int) -> Sequence[DirEntry]:
    entries = reader.list_directory(path, limit)
    if len(entries) > limit:
        raise MediaLayoutError(
            f"the directory {path if path.parts else '/'} of the medium has more than "
            f"{limit} entries"
        )
    # a name with a separator or NUL cannot come from a real directory: never follow it
    return [e for e in entries if e.name not in ("", ".", "..") and not set(e.name) & {"/", "\0"}]


# ---------------------------------------------------------------------------------------------
# file: URIs


def is_file_uri(uri: str) -> bool:
    """True for a ``file:`` URI (scheme compared without regard to case)."""
    return uri[:5].lower() == "file:"


def medium_path(uri: str) -> PurePosixPath:
    """The path on the medium that the ``file:`` URI ``uri`` names, relative to its root
    (R-114, D7).  Pure: symbolic links are :func:`resolve_in_medium`'s to check.

    Accepted: ``file:path``, ``file:/path``, ``file:///path`` and ``file://localhost/path``, all
    read relative to the medium's root; percent-encoded octets are decoded (UTF-8); ``.``
    segments and empty segments are dropped, and ``..`` goes up one level.  Refused with
    :class:`MediaPathError`: another scheme, another host, a query or fragment, ``..`` that
    would leave the medium, a path naming the medium itself, NUL, control characters,
    backslashes, malformed percent-encoding, non-UTF-8 octets.
    """
    if len(uri) > MAX_URI_LENGTH:
        raise MediaPathError(f"a file: URI of {len(uri)} characters is longer than allowed")
    if not is_file_uri(uri):
        raise MediaPathError(f"{_show(uri)} is not a file: URI")
    rest = uri[5:]
    if "?" in rest or "#" in rest:
        raise _refused(uri, "a query or fragment is not allowed")
    if rest.startswith("//"):
        authority, _slash, path = rest[2:].partition("/")
        if authority.lower() not in ("", "localhost"):
            raise _refused(uri, f"it names the host {authority!r}, not the medium")
    else:
        path = rest
    if _PERCENT.search(path):
        raise _refused(uri, "a '%' is not followed by two hex digits")
    try:
        text = unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise _refused(uri, "the path is not UTF-8") from None
    if "\\" in text or not text.isprintable():
        raise _refused(uri, "backslashes and control characters are not allowed in the path")
    parts: list[str] = []
    for segment in text.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise _refused(uri, "'..' leads outside the medium")
            parts.pop()
        else:
            parts.append(segment)
    if not parts:
        raise _refused(uri, "it names the medium itself, not a file")
    return PurePosixPath(*parts)


# ---------------------------------------------------------------------------------------------
# the filesystem half


def resolve_in_medium(mount_root: Path, relative: PurePosixPath) -> Path:
    """The real path of ``relative`` (from :func:`medium_path`) below ``mount_root``.

    Looks at the filesystem: every symbolic link is resolved (:func:`os.path.realpath`), and
    the result must be a regular file strictly below the real mount root.  Refused with
    :class:`MediaPathError`: a path that is absolute or climbs with ``..`` (not what
    :func:`medium_path` returns), one that a symbolic link leads outside the medium, one that
    is not an existing regular file.
    """
    if (
        relative.is_absolute()
        or ".." in relative.parts
        or not relative.parts
        or "\0" in str(relative)
    ):
        raise MediaPathError(f"{_show(str(relative))} is not a path relative to the medium")
    root = os.path.realpath(mount_root)
    target = os.path.realpath(os.path.join(root, *relative.parts))
    if target == root or os.path.commonpath([root, target]) != root:
        raise MediaPathError(
            f"{_show(str(relative))} leads outside the medium through a symbolic link"
        )
    if not os.path.isfile(target):
        raise MediaPathError(f"{_show(str(relative))} is not a file on the medium")
    return Path(target)


def resolve_file_uri(mount_root: Path, uri: str) -> Path:
    """:func:`medium_path` then :func:`resolve_in_medium`: where on the mounted medium the
    ``file:`` URI leads, or :class:`MediaPathError`."""
    return resolve_in_medium(mount_root, medium_path(uri))


def _refused(uri: str, reason: str) -> MediaPathError:
    return MediaPathError(f"the file: URI {_show(uri)} is refused: {reason}")


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")
