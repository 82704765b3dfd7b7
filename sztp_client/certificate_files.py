"""Reading the files the configuration names (identity, trust anchors, pinned certificates):
each read bounded, and every failure a :class:`~sztp_client.errors.ConfigurationError` that
names the configuration key, so that ``run``, ``discover`` and ``identity`` refuse a bad file
alike, before any traffic."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sztp_client.errors import ConfigurationError, DataError, FileTooLargeError
from sztp_client.files import read_bounded
from sztp_client.units import MIB

if TYPE_CHECKING:
    from cryptography import x509

#: the largest certificate or key file read (a chain of a few certificates is a few KiB)
MAX_CONFIGURED_FILE: Final = MIB


def read_configured(path: Path, what: str, key: str) -> bytes:
    """The bytes of ``path`` (``what`` names it in messages), at most
    :data:`MAX_CONFIGURED_FILE`; a missing, unreadable or oversized file names ``key``."""
    try:
        return read_bounded(path, MAX_CONFIGURED_FILE, what)
    except FileTooLargeError as exc:
        raise ConfigurationError(exc.message, key) from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}", key) from exc


def load_certificates(paths: Sequence[Path], key: str) -> tuple[x509.Certificate, ...]:
    """The certificates of PEM files ``paths``, in order; a file holding none, or anything
    that is not a certificate, is a configuration error naming ``key``."""
    from sztp_client.trust import armor  # noqa: PLC0415 - cryptography, for the callers that read

    found: list[x509.Certificate] = []
    for path in paths:
        data = read_configured(path, "the certificate file", key)
        try:
            certs = armor.load_certificates(data, str(path))
        except DataError as exc:
            raise ConfigurationError(exc.message, key) from exc
        if not certs:
            raise ConfigurationError(f"{path} holds no certificate", key)
        found.extend(certs)
    return tuple(found)


__all__ = ["MAX_CONFIGURED_FILE", "load_certificates", "read_configured"]
