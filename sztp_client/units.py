"""The units of sizes, in bytes: a leaf module, so that reading a size bound costs no import."""

from __future__ import annotations

from typing import Final

KIB: Final = 1024
MIB: Final = 1024 * KIB

__all__ = ["KIB", "MIB"]
