"""Leftovers of an earlier run that ended abruptly (SIGKILL, power loss), removed at the start
of every pass while the run lock is held.

What the client writes only for the time of one step, and what each leaves behind when that
step never finished:

* ``<cache-dir>/images/boot-image-*.download``: a partial or unverified image download;
* ``<cache-dir>/scripts/sztp-*-script-*/``: a script's private working directory;
* ``<cache-dir>/configuration/configuration-*``: a configuration handed to the commit command;
* ``.<name>.*`` beside a file written atomically (state, status, slot images and records): the
  temporary file of a write that never reached its rename.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

#: (directory below the cache directory, glob of what it holds only temporarily)
CACHE_LEFTOVERS = (
    ("images", "boot-image-*.download"),
    ("scripts", "sztp-*-script-*"),
    ("configuration", "configuration-*"),
)


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        return False
    return True


def _temporaries(target: Path) -> list[Path]:
    """The temporary files of atomic writes of ``target`` (``.<name>.<8 random characters>``
    from the atomic writer, ``.<name>.<pid>.link`` from the slot installer's hard link)."""
    shape = re.compile(rf"\.{re.escape(target.name)}\.(?:[a-z0-9_]{{8}}|[0-9]+\.link)")
    with contextlib.suppress(OSError):
        return [
            p
            for p in sorted(target.parent.glob(f".{target.name}.*"))
            if shape.fullmatch(p.name) and p.is_file() and not p.is_symlink()
        ]
    return []


def sweep(cache_dir: Path, atomic_targets: Iterable[Path]) -> list[Path]:
    """Remove the leftovers under ``cache_dir`` and the temporaries of atomic writes of the
    files ``atomic_targets``; return what was removed.  Missing directories are fine."""
    removed: list[Path] = []
    candidates: list[Path] = []
    for sub, pattern in CACHE_LEFTOVERS:
        with contextlib.suppress(OSError):
            candidates.extend(sorted((cache_dir / sub).glob(pattern)))
    for target in atomic_targets:
        candidates.extend(_temporaries(target))
    for path in candidates:
        if _remove(path):
            removed.append(path)
    return removed


__all__ = ["CACHE_LEFTOVERS", "sweep"]
