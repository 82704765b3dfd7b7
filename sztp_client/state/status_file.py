"""The status document's file, ``<run-dir>/status.json``: its name, its version, and a read of
it.  :class:`~sztp_client.state.status.StatusRecorder` writes it during a run; ``status`` reads
it with :func:`read_status` alone, without the recorder and its event records (``status``
starts without msgspec, docs/architecture.md).  The format is described in docs/status.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from sztp_client.state.store import read_json

STATUS_FILE: Final = "status.json"
STATUS_VERSION: Final = 1


def status_path(run_dir: Path) -> Path:
    return run_dir / STATUS_FILE


def read_status(path: Path) -> dict[str, Any] | None:
    """The document at ``path``; None without one (or when it is not a JSON object)."""
    document = read_json(path)
    return document if isinstance(document, dict) else None
