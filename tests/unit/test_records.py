"""Record types are msgspec structs, not dataclasses: defining a frozen dataclass costs about
0.4 ms at import on Python 3.11, a struct a few microseconds, and the client defines well over
a hundred records before its first pass (start-up, docs/architecture.md).  The records that
``status`` reads (the configuration's tables, the limits) are ``typing.NamedTuple``: ``status``
starts without msgspec."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec

from sztp_client import config
from sztp_client.limits import Limits
from sztp_client.state.device import DeviceState, InstalledImage
from sztp_client.transport.limits import TransportLimits

PACKAGE = Path(__file__).resolve().parents[2] / "sztp_client"


def _imports_dataclasses(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "dataclasses" for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "dataclasses":
            return True
    return False


def test_the_check_finds_every_spelling() -> None:
    assert _imports_dataclasses("from dataclasses import dataclass\n")
    assert _imports_dataclasses("def f():\n    import dataclasses\n")
    assert not _imports_dataclasses("import msgspec\nx = 'from dataclasses import field'\n")


def test_no_module_of_the_client_imports_dataclasses() -> None:
    offenders = sorted(
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if _imports_dataclasses(path.read_text(encoding="utf-8"))
    )
    assert offenders == [], f"records still defined as dataclasses: {offenders}"


def test_records_are_structs() -> None:
    for record in (TransportLimits, DeviceState, InstalledImage):
        assert issubclass(record, msgspec.Struct), record


def test_the_records_status_reads_are_named_tuples() -> None:
    tables = [getattr(config, name) for name in config.__all__ if name.endswith("Config")]
    assert len(tables) == 17
    for record in (*tables, Limits):
        assert issubclass(record, tuple) and hasattr(record, "_fields"), record
        assert not issubclass(record, msgspec.Struct), record
