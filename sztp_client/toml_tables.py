"""Reading the client's TOML files: each file read with a bound, drop-ins merged key by key,
and :class:`Table`, which reads one table with typed accessors, remembers the keys it read and
refuses any other (naming the file it is in and the nearest valid key).  The tables' meaning and
their defaults are in :mod:`sztp_client.config`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sztp_client.errors import ConfigurationError, FileTooLargeError
from sztp_client.files import read_bounded
from sztp_client.units import MIB

MAX_CONFIG_FILE = MIB


def parse_toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"not valid TOML: {exc}") from exc


def read_toml(path: Path) -> dict[str, Any]:
    try:
        data = read_bounded(path, MAX_CONFIG_FILE, "the configuration file")
    except FileTooLargeError as exc:
        raise ConfigurationError(exc.message) from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc


def merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def note_origins(origins: dict[str, Path], document: Mapping[str, Any], source: Path) -> None:
    """Remember, for every dotted key, the file that set it last."""

    def walk(table: Mapping[str, Any], prefix: str) -> None:
        for key, value in table.items():
            dotted = f"{prefix}.{key}" if prefix else key
            origins[dotted] = source
            if isinstance(value, dict):
                walk(value, dotted)

    walk(document, "")


class Table:
    """Reads one TOML table, converting values and remembering which keys were used."""

    def __init__(
        self,
        data: Mapping[str, Any],
        name: str,
        base: Path,
        origins: Mapping[str, Path] | None = None,
    ) -> None:
        self.data = data
        self.name = name
        self.base = base
        self.origins = origins or {}
        self.used: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ConfigurationError("must be a string", self.key(key))
        return value if value != "" else default

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.string(key, default) or default
        if value not in allowed:
            raise ConfigurationError(f"must be one of {', '.join(allowed)}", self.key(key))
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigurationError("must be true or false", self.key(key))
        return value

    def integer(self, key: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError("must be an integer", self.key(key))
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise ConfigurationError(f"must be at least {minimum}{upper}", self.key(key))
        return value

    def number(self, key: str, default: float, minimum: float = 0.0) -> float:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError("must be a number", self.key(key))
        if value <= minimum:
            raise ConfigurationError(f"must be greater than {minimum}", self.key(key))
        return float(value)

    def path(self, key: str, default: Path | None = None) -> Path | None:
        value = self.string(key)
        if value is None:
            return default
        return self.base / value

    def paths(self, key: str) -> tuple[Path, ...]:
        return tuple(self.base / item for item in self.strings(key))

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigurationError("must be a list of strings", self.key(key))
        return tuple(value)

    def integers(self, key: str, default: frozenset[int]) -> frozenset[int]:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value
        ):
            raise ConfigurationError("must be a list of exit statuses (0..255)", self.key(key))
        return frozenset(value)

    def table(self, key: str) -> Table:
        value = self.get(key)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigurationError("must be a table", self.key(key))
        return Table(value, self.key(key), self.base, self.origins)

    def finish(self) -> None:
        """Refuse a key nothing read: name its file and suggest the nearest valid key."""
        unknown = sorted(set(self.data) - self.used)
        if not unknown:
            return
        key = unknown[0]
        where = self.origins.get(self.key(key))
        message = "unknown key" + (f" in {where}" if where is not None else "")
        import difflib  # noqa: PLC0415 - only when a key is wrong

        nearest = difflib.get_close_matches(key, sorted(self.used), n=1, cutoff=0.6)
        if nearest:
            message += f"; did you mean {self.key(nearest[0])}?"
        else:
            valid = ", ".join(sorted(self.used))
            message += f"; the valid keys here are: {valid}" if valid else ""
        raise ConfigurationError(message, self.key(key))
