"""The unit layer: no sockets and no processes unless a test is marked ``network`` or
``subprocess`` (tests/helpers/unit_guard.py)."""

from __future__ import annotations

from tests.helpers.unit_guard import unit_guard

__all__ = ["unit_guard"]
