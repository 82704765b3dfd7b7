"""The one bounded file read (D19): a file over its bound is refused, naming it, never cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from sztp_client.errors import FileTooLargeError, SizeLimitError
from sztp_client.files import read_bounded


def test_d19_a_file_at_its_bound_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "at-bound"
    path.write_bytes(b"x" * 16)
    assert read_bounded(path, 16) == b"x" * 16


def test_d19_a_file_over_its_bound_is_refused_not_truncated(tmp_path: Path) -> None:
    path = tmp_path / "too-big.pem"
    path.write_bytes(b"x" * 1000)
    with pytest.raises(FileTooLargeError) as info:
        read_bounded(path, 16, "the certificate file")
    error = info.value
    assert isinstance(error, SizeLimitError)
    assert error.path == path and error.size == 1000 and error.limit == 16
    assert str(path) in error.message and "the certificate file" in error.message


def test_d19_a_missing_file_is_the_callers_to_name(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "absent", 16)
