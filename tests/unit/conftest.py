"""The unit layer: no sockets and no processes unless a test is marked ``network`` or
``subprocess`` (tests/helpers/unit_guard.py)."""

from __future__ import annotations

import urllib3  # noqa: F401 - see below

from tests.helpers.unit_guard import unit_guard

# urllib3 binds a socket when first imported (its IPv6 probe): it is imported here, before any
# test runs, so that the guard judges what a test does, not which test happened to import the
# library first in its worker.

__all__ = ["unit_guard"]
