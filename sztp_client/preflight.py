"""Start-up checks of ``run``: what can never succeed later is refused before any traffic.

* the identity certificate and key are read, the key must not be encrypted (a service cannot
  answer a passphrase prompt) and must be the certificate's key (exit 78);
* every configured command must name an executable file (exit 78, the key named);
* every directory the client writes must be creatable and usable (exit 77,
  :class:`~sztp_client.errors.PermissionDeniedError`).

Nothing here writes a file; :func:`prepare_directories` only creates missing directories.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

from sztp_client.actions import CLEAN_PATH
from sztp_client.errors import ConfigurationError, FileTooLargeError, PermissionDeniedError
from sztp_client.files import read_bounded
from sztp_client.state.store import ensure_dir
from sztp_client.units import MIB

MAX_KEY_FILE: Final = MIB


def read_file(path: Path, key: str, limit: int = MAX_KEY_FILE) -> bytes:
    """The bytes of ``path`` (at most ``limit``); 77 when not allowed, 78 when missing."""
    try:
        return read_bounded(path, limit, "the file")
    except FileTooLargeError as exc:
        raise ConfigurationError(exc.message, key) from exc
    except PermissionError as exc:
        raise PermissionDeniedError(f"cannot read {path}: permission denied", key) from exc
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{path} does not exist", key) from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}", key) from exc


def load_private_key(path: Path) -> PrivateKeyTypes:
    """The private key in ``path`` (PEM or DER), never prompting for a passphrase."""
    data = read_file(path, "identity.key")
    loader = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    try:
        return loader(data, password=None)
    except TypeError as exc:  # "Password was not given but private key is encrypted"
        raise ConfigurationError(
            f"{path} is encrypted (protected by a passphrase), and the client runs unattended: "
            "store the key unencrypted, readable by root only (mode 0600)",
            "identity.key",
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigurationError(
            f"{path} holds no private key the client can use", "identity.key"
        ) from exc


def _spki(public: CertificatePublicKeyTypes | PublicKeyTypes) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_identity(certificate: x509.Certificate, key_path: Path) -> None:
    """The key in ``key_path`` must be readable without a passphrase and be the key of
    ``certificate`` (the IDevID, first in identity.certificate)."""
    key = load_private_key(key_path)
    if _spki(key.public_key()) != _spki(certificate.public_key()):
        raise ConfigurationError(
            f"{key_path} is not the private key of the certificate in identity.certificate "
            f"(subject {certificate.subject.rfc4514_string()})",
            "identity.key",
        )


def check_command(argv: Sequence[str], key: str, *, required: bool = True) -> None:
    """``argv[0]`` must be an executable file (an absolute path, or a name found on the clean
    PATH commands get)."""
    if not argv:
        if required:
            raise ConfigurationError("no command is configured", key)
        return
    program = argv[0]
    if "/" in program:
        found = program if os.path.isfile(program) and os.access(program, os.X_OK) else None
        if found is None:
            why = "does not exist" if not os.path.exists(program) else "is not an executable file"
            raise ConfigurationError(f"{program!r} {why}", key)
        return
    if shutil.which(program, path=CLEAN_PATH) is None:
        raise ConfigurationError(
            f"{program!r} is not an executable on the commands' PATH ({CLEAN_PATH}); "
            "give an absolute path",
            key,
        )


def prepare_directories(directories: Sequence[tuple[Path, str]]) -> None:
    """Create each directory when missing and check that the client may use it (list it,
    create files in it), without writing anything.  :class:`PermissionDeniedError` (exit 77)
    names the directory and its key."""
    for directory, key in directories:
        ensure_dir(directory, key=key)
        try:
            os.listdir(directory)
        except PermissionError as exc:
            raise PermissionDeniedError(f"cannot read {directory}: permission denied", key) from exc
        except OSError as exc:
            raise ConfigurationError(f"cannot use {directory}: {exc.strerror or exc}", key) from exc
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionDeniedError(
                f"cannot write in {directory}: permission denied (or a read-only file system)",
                key,
            )


__all__ = [
    "check_command",
    "check_identity",
    "load_private_key",
    "prepare_directories",
    "read_file",
]
