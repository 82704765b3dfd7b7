"""Reading the configuration files: the main file, then its drop-ins in name order, merged key
by key (D21), then built into one :class:`~sztp_client.config.tables.ClientConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sztp_client.config.build import build
from sztp_client.config.tables import DEFAULT_CONFIG, ClientConfig
from sztp_client.errors import ConfigurationError
from sztp_client.toml_tables import merge, note_origins, parse_toml, read_toml


def load_config(path: Path | None = None, *, required: bool = False) -> ClientConfig:
    """Read ``path`` (default /etc/sztp/client.toml) and its drop-ins.

    A missing file is an error when ``required`` (``run`` always requires one: it never
    bootstraps on built-in defaults); otherwise it gives the built-in defaults (``status``
    reads the default paths then).
    """
    main = path or DEFAULT_CONFIG
    documents: list[tuple[Path, dict[str, Any]]] = []
    if main.exists():
        documents.append((main, read_toml(main)))
    elif required:
        raise ConfigurationError(
            f"the configuration file {main} does not exist: write it (every key is described "
            "in docs/configuration.md; conf/client.toml is an example) or name another file "
            "with --config"
        )
    dropin_dir = main.with_name(main.name + ".d")
    if dropin_dir.is_dir():
        for dropin in sorted(dropin_dir.glob("*.toml")):
            documents.append((dropin, read_toml(dropin)))
    merged: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    for source, document in documents:
        merge(merged, document)
        note_origins(origins, document, source)
    base = main.parent.resolve() if main.exists() else Path("/")
    return build(merged, base, main if main.exists() else None, origins)


def parse_config(text: str, base: Path, source: Path | None = None) -> ClientConfig:
    """Build a configuration from TOML text (tests and embedders)."""
    return build(parse_toml(text), base, source)


__all__ = ["load_config", "parse_config"]
