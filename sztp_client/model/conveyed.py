"""Conveyed information: the ``ietf-sztp-conveyed-info`` yang-data (RFC 8572 §6).

Either redirect information (a list of bootstrap servers, R-052) or onboarding information (a
boot image, scripts and configuration, R-053), read from JSON (RFC 7951) or XML (D15).

Every constraint of the module is checked when an object is built, so an object of these
classes is always valid; the parsers build them and report violations as :class:`ModelError`
whose ``field`` is the data-node path, e.g. ``onboarding-information/boot-image/download-uri``.
Parsing is strict: this data is usually signed, and an unknown member (a typo) must not be
silently ignored.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from typing import Final, TypeAlias

import msgspec

from sztp_client.encoding.yang_types import encode_base64
from sztp_client.errors import ModelError

__all__ = [
    "MODULE",
    "NAMESPACE",
    "SHA_256",
    "BootImage",
    "BootstrapServer",
    "ConfigurationHandling",
    "ConveyedInformation",
    "ImageVerification",
    "OnboardingInformation",
    "RedirectInformation",
    "conveyed_information_to_json",
]

MODULE: Final = "ietf-sztp-conveyed-info"
NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info"
SHA_256: Final = f"{MODULE}:sha-256"
"""The only hash-algorithm identity the module defines, module-qualified."""

DEFAULT_PORT: Final = 443

NODE_TOP: Final = "conveyed-information"
NODE_REDIRECT: Final = "redirect-information"
NODE_ONBOARDING: Final = "onboarding-information"
NODE_SERVER: Final = f"{NODE_REDIRECT}/bootstrap-server"
NODE_IMAGE: Final = f"{NODE_ONBOARDING}/boot-image"
NODE_VERIFICATION: Final = f"{NODE_IMAGE}/image-verification"

# patterns are kept as text: re compiles each on first use and caches it, not at import
_HOST_FORBIDDEN: Final = r"[\s/\x00-\x1f\x7f]"
_DOTTED_NUMBERS: Final = r"[0-9.]+"
_DNS_LABEL: Final = r"(?:[A-Za-z0-9_][A-Za-z0-9_\-]{0,61})?[A-Za-z0-9]"
_URI: Final = r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]*"
_IDENTIFIER: Final = r"[A-Za-z_][A-Za-z0-9_.\-]*"
JSON_IDENTITY: Final = rf"(?:{_IDENTIFIER}:)?{_IDENTIFIER}"
_QUALIFIED_IDENTITY: Final = rf"(?:{_IDENTIFIER}:|\{{[^{{}}]+\}}){_IDENTIFIER}"
_HASH_LENGTHS: Final = {SHA_256: 32}


def _host_key(address: str, field: str) -> str:
    """Validate an ``inet:host`` and return its canonical form (the list-key comparison)."""
    if not address:
        raise ModelError(field, "empty; an IP address or a DNS name is required")
    if len(address) > 253:
        raise ModelError(field, "longer than 253 characters")
    if re.search(_HOST_FORBIDDEN, address):
        raise ModelError(field, "contains whitespace, '/' or a control character")
    if ":" in address:
        try:
            return str(ipaddress.IPv6Address(address))
        except ValueError as exc:
            raise ModelError(
                field, f"not an IPv6 address (write IPv6 literals without brackets): {exc}"
            ) from exc
    if re.fullmatch(_DOTTED_NUMBERS, address):
        try:
            return str(ipaddress.IPv4Address(address))
        except ValueError as exc:
            raise ModelError(field, f"not an IPv4 address: {exc}") from exc
    name = address.removesuffix(".")
    if not all(re.fullmatch(_DNS_LABEL, label) for label in name.split(".")):
        raise ModelError(
            field,
            "not a DNS name: labels of 1..63 letters, digits, '-' or '_' separated by '.'",
        )
    return name.lower()


def _normalise_identity(value: str, field: str) -> str:
    if re.fullmatch(JSON_IDENTITY, value) and ":" not in value:
        return f"{MODULE}:{value}"
    if re.fullmatch(_QUALIFIED_IDENTITY, value):
        return str(value)
    raise ModelError(field, "not an identity name")


class BootstrapServer(msgspec.Struct, frozen=True):
    """One ``bootstrap-server`` list entry (R-052).

    ``address`` is an ``inet:host``: an IPv4 address, an IPv6 address without brackets, or a
    DNS name.  ``port`` is an ``inet:port-number``, whose YANG range 0..65535 includes 0 (which
    no connection can use; it is accepted here as the module allows it).  ``trust_anchor`` is
    the DER of a CMS degenerate SignedData (checked by the trust layer, not here).
    """

    address: str
    port: int = DEFAULT_PORT
    trust_anchor: bytes | None = None

    def __post_init__(self) -> None:
        _host_key(self.address, f"{NODE_SERVER}/address")
        if isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise ModelError(f"{NODE_SERVER}/port", "not a port number (0..65535)")

    @property
    def key(self) -> str:
        """The canonical address, as the list key is compared."""
        return _host_key(self.address, f"{NODE_SERVER}/address")


class RedirectInformation(msgspec.Struct, frozen=True):
    """``redirect-information``: at least one bootstrap server, addresses unique (R-052)."""

    bootstrap_servers: tuple[BootstrapServer, ...]

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "bootstrap_servers", tuple(self.bootstrap_servers))
        if not self.bootstrap_servers:
            raise ModelError(NODE_SERVER, "at least one bootstrap server is required")
        seen: set[str] = set()
        for server in self.bootstrap_servers:
            key = server.key
            if key in seen:
                raise ModelError(f"{NODE_SERVER}/address", f"{server.address!r} is listed twice")
            seen.add(key)


class ImageVerification(msgspec.Struct, frozen=True):
    """One ``image-verification`` entry.

    ``hash_algorithm`` is normalised to a module-qualified identity (``"sha-256"`` becomes
    ``"ietf-sztp-conveyed-info:sha-256"``).  Identities this client does not know are kept: the
    image step decides whether any listed algorithm is supported (D13, R-056).  An identity read
    from XML whose namespace names no module is kept as ``{namespace}identity``.
    """

    hash_algorithm: str
    hash_value: bytes

    def __post_init__(self) -> None:
        algorithm = _normalise_identity(self.hash_algorithm, f"{NODE_VERIFICATION}/hash-algorithm")
        msgspec.structs.force_setattr(self, "hash_algorithm", algorithm)
        if not self.hash_value:
            raise ModelError(f"{NODE_VERIFICATION}/hash-value", "empty")
        expected = _HASH_LENGTHS.get(algorithm)
        if expected is not None and len(self.hash_value) != expected:
            raise ModelError(
                f"{NODE_VERIFICATION}/hash-value",
                f"{len(self.hash_value)} octets; {algorithm} values have {expected}",
            )


class BootImage(msgspec.Struct, frozen=True):
    """``boot-image``: which image the device should run and where to get it (R-053)."""

    os_name: str | None = None
    os_version: str | None = None
    download_uris: tuple[str, ...] = ()
    image_verifications: tuple[ImageVerification, ...] = ()

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "download_uris", tuple(self.download_uris))
        msgspec.structs.force_setattr(self, "image_verifications", tuple(self.image_verifications))
        for uri in self.download_uris:
            if not re.fullmatch(_URI, uri):
                raise ModelError(
                    f"{NODE_IMAGE}/download-uri",
                    "not a URI (scheme ':' then no whitespace or control characters)",
                )
        if self.image_verifications and not self.download_uris:
            raise ModelError(
                f"{NODE_IMAGE}/image-verification",
                "image-verification is only allowed together with download-uri",
            )
        seen: set[str] = set()
        for verification in self.image_verifications:
            if verification.hash_algorithm in seen:
                raise ModelError(
                    f"{NODE_VERIFICATION}/hash-algorithm",
                    f"{verification.hash_algorithm} is listed twice",
                )
            seen.add(verification.hash_algorithm)


class ConfigurationHandling(enum.StrEnum):
    """``configuration-handling``: how the configuration is applied."""

    MERGE = "merge"
    REPLACE = "replace"


class OnboardingInformation(msgspec.Struct, frozen=True):
    """``onboarding-information`` (R-053).

    ``configuration`` and ``configuration_handling`` are given together or not at all.  Scripts
    and configuration are the decoded octets.
    """

    boot_image: BootImage | None = None
    configuration_handling: ConfigurationHandling | None = None
    pre_configuration_script: bytes | None = None
    configuration: bytes | None = None
    post_configuration_script: bytes | None = None

    def __post_init__(self) -> None:
        if self.configuration_handling is not None:
            try:
                handling = ConfigurationHandling(self.configuration_handling)
            except ValueError:
                raise ModelError(
                    f"{NODE_ONBOARDING}/configuration-handling",
                    f"{self.configuration_handling!r} is neither 'merge' nor 'replace'",
                ) from None
            msgspec.structs.force_setattr(self, "configuration_handling", handling)
        if self.configuration is not None and self.configuration_handling is None:
            raise ModelError(
                f"{NODE_ONBOARDING}/configuration",
                "configuration is only allowed together with configuration-handling",
            )
        if self.configuration_handling is not None and self.configuration is None:
            raise ModelError(
                f"{NODE_ONBOARDING}/configuration-handling",
                "configuration-handling is only allowed together with configuration",
            )


ConveyedInformation: TypeAlias = RedirectInformation | OnboardingInformation


# ---------------------------------------------------------------------------------------------
# Serialising


def _server_to_json(server: BootstrapServer) -> dict[str, object]:
    entry: dict[str, object] = {"address": server.address, "port": server.port}
    if server.trust_anchor is not None:
        entry["trust-anchor"] = encode_base64(server.trust_anchor)
    return entry


def _boot_image_to_json(image: BootImage) -> dict[str, object]:
    result: dict[str, object] = {}
    if image.os_name is not None:
        result["os-name"] = image.os_name
    if image.os_version is not None:
        result["os-version"] = image.os_version
    if image.download_uris:
        result["download-uri"] = list(image.download_uris)
    if image.image_verifications:
        result["image-verification"] = [
            {"hash-algorithm": v.hash_algorithm, "hash-value": v.hash_value.hex(":")}
            for v in image.image_verifications
        ]
    return result


def conveyed_information_to_json(ci: ConveyedInformation) -> dict[str, object]:
    """The RFC 7951 JSON form of ``ci``, ready for :func:`json.dumps`.

    Binary leaves are base64, hash values colon-separated lowercase hex, the port a number,
    absent optional leaves are left out.  ``parse_conveyed_information`` of its JSON text gives
    back an equal object.
    """
    if isinstance(ci, RedirectInformation):
        return {
            f"{MODULE}:{NODE_REDIRECT}": {
                "bootstrap-server": [_server_to_json(s) for s in ci.bootstrap_servers]
            }
        }
    body: dict[str, object] = {}
    if ci.boot_image is not None:
        body["boot-image"] = _boot_image_to_json(ci.boot_image)
    if ci.configuration_handling is not None:
        body["configuration-handling"] = ci.configuration_handling.value
    for name, value in (
        ("pre-configuration-script", ci.pre_configuration_script),
        ("configuration", ci.configuration),
        ("post-configuration-script", ci.post_configuration_script),
    ):
        if value is not None:
            body[name] = encode_base64(value)
    return {f"{MODULE}:{NODE_ONBOARDING}": body}
