"""What a ``bootstrap-complete`` report may carry (R-079): SSH host keys and trust anchors.

* :func:`read_ssh_host_keys` reads OpenSSH public key files (``<algorithm> <base64> [comment]``)
  into ``ssh-host-key`` entries whose ``key-data`` is the RFC 4253 §6.6 public key blob.
* :func:`trust_anchor_bags` turns PEM files, each holding the chain that issued the device's
  end-entity certificate (self-signed root included), into ``trust-anchor-cert`` values: DER
  CMS degenerate SignedData (no signers, eContentType id-data) holding that chain.  As DER
  requires, the certificates are written as a SET OF sorted by encoding, so their order in
  the bag is not the order of the file.

This data is optional.  A file that is missing, unreadable, too large or malformed is left out
with a warning on the ``sztp_client.actions`` logger rather than failing the report.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from sztp_client.errors import EncodingError, FileTooLargeError
from sztp_client.files import read_bounded
from sztp_client.model.rpc import SSHHostKey
from sztp_client.trust.armor import load_certificates
from sztp_client.units import KIB, MIB

__all__ = [
    "MAX_KEY_FILE",
    "MAX_TRUST_ANCHOR_FILE",
    "degenerate_signed_data",
    "read_ssh_host_keys",
    "trust_anchor_bags",
]

_log = logging.getLogger("sztp_client.actions")

MAX_KEY_FILE: Final = 64 * KIB
"""The largest SSH public key file read."""

MAX_TRUST_ANCHOR_FILE: Final = MIB
"""The largest trust-anchor chain file read (D19's bound for trust-anchor artifacts)."""

_UINT32: Final = 4


def _read_bounded(path: Path, limit: int, what: str) -> bytes | None:
    try:
        return read_bounded(path, limit, what)
    except FileTooLargeError as exc:
        _log.warning("%s left out: larger than %d bytes", exc.what, limit)
        return None
    except OSError as exc:
        _log.warning("%s %s left out: %s", what, path, exc.strerror or exc)
        return None


def _first_ssh_string(blob: bytes) -> bytes | None:
    """The first RFC 4251 ``string`` of ``blob`` (the key format identifier)."""
    if len(blob) < _UINT32:
        return None
    length = int.from_bytes(blob[:_UINT32], "big")
    if len(blob) < _UINT32 + length:
        return None
    return blob[_UINT32 : _UINT32 + length]


def _parse_key_line(line: str) -> SSHHostKey | str:
    """The key on one line, or why the line was refused."""
    words = line.split()
    if len(words) < 2:
        return "expected '<algorithm> <base64 key> [comment]'"
    algorithm, encoded = words[0], words[1]
    if not algorithm.isascii() or not algorithm.isprintable():
        return "the algorithm name is not printable ASCII"
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return "the key is not valid base64"
    format_id = _first_ssh_string(blob)
    if format_id is None:
        return "the key blob is truncated"
    if format_id != algorithm.encode("ascii"):
        return (
            f"the key blob is of type {format_id.decode('ascii', 'replace')!r:.60}, "
            f"not {algorithm!r:.60} (RFC 4253 §6.6)"
        )
    return SSHHostKey(algorithm, blob)


def read_ssh_host_keys(paths: Sequence[Path]) -> tuple[SSHHostKey, ...]:
    """The SSH host keys in OpenSSH public key files, in the order of ``paths`` (R-079).

    Every non-blank line that is not a ``#`` comment is one key.  A line whose blob does not
    start with its algorithm name, an unreadable file or one over 64 KiB is left out with a
    warning.
    """
    keys: list[SSHHostKey] = []
    for path in paths:
        data = _read_bounded(path, MAX_KEY_FILE, "SSH host key file")
        if data is None:
            continue
        for number, raw_line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            parsed = _parse_key_line(line)
            if isinstance(parsed, str):
                _log.warning("SSH host key %s line %d left out: %s", path, number, parsed)
            else:
                keys.append(parsed)
    return tuple(keys)


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def degenerate_signed_data(certificates: Sequence[x509.Certificate]) -> bytes:
    """DER ContentInfo of a SignedData with no signers, eContentType id-data and no content,
    holding ``certificates``."""
    choices = [
        asn1_cms.CertificateChoices(
            name="certificate",
            value=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        )
        for cert in certificates
    ]
    signed = asn1_cms.SignedData()
    # the version decides how encap_content_info is read: set it first
    signed["version"] = "v1"
    signed["digest_algorithms"] = []
    signed["encap_content_info"] = {"content_type": "data"}
    signed["certificates"] = choices
    signed["signer_infos"] = []
    info = asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed})
    der: bytes = info.dump(force=True)
    return der


def trust_anchor_bags(paths: Sequence[Path]) -> tuple[bytes, ...]:
    """One DER degenerate SignedData per PEM chain file, in the order of ``paths`` (R-079).

    A file without certificates, malformed, unreadable or over 1 MiB is left out with a
    warning; a chain without a self-signed root is kept but warned about (RFC 8572 requires
    the root).
    """
    bags: list[bytes] = []
    for path in paths:
        data = _read_bounded(path, MAX_TRUST_ANCHOR_FILE, "trust-anchor file")
        if data is None:
            continue
        try:
            certificates = load_certificates(data, str(path))
        except EncodingError as exc:
            _log.warning("trust-anchor file %s left out: %s", path, exc)
            continue
        if not certificates:
            _log.warning("trust-anchor file %s left out: it holds no certificate", path)
            continue
        if not any(_is_self_signed(cert) for cert in certificates):
            _log.warning(
                "trust-anchor file %s holds no self-signed root certificate; RFC 8572 asks "
                "for the whole chain including the root",
                path,
            )
        bags.append(degenerate_signed_data(certificates))
    return tuple(bags)
