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
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from sztp_client.encoding.json import YangJSONObject, json_type_name, load_json
from sztp_client.encoding.xml import (
    XMLIdentity,
    XMLKind,
    XMLSchemaNode,
    load_xml_with_namespaces,
    split_tag,
    xml_to_json_tree,
)
from sztp_client.encoding.yang_types import decode_hex_string, encode_base64
from sztp_client.errors import EncodingError, ModelError
from sztp_client.limits import Limits

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
    "parse_conveyed_information",
]

MODULE: Final = "ietf-sztp-conveyed-info"
NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info"
SHA_256: Final = f"{MODULE}:sha-256"
"""The only hash-algorithm identity the module defines, module-qualified."""

DEFAULT_PORT: Final = 443

_TOP: Final = "conveyed-information"
_REDIRECT: Final = "redirect-information"
_ONBOARDING: Final = "onboarding-information"
_SERVER: Final = f"{_REDIRECT}/bootstrap-server"
_IMAGE: Final = f"{_ONBOARDING}/boot-image"
_VERIFICATION: Final = f"{_IMAGE}/image-verification"

_HOST_FORBIDDEN: Final = re.compile(r"[\s/\x00-\x1f\x7f]")
_DOTTED_NUMBERS: Final = re.compile(r"[0-9.]+")
_DNS_LABEL: Final = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_\-]{0,61})?[A-Za-z0-9]")
_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]*")
_IDENTIFIER: Final = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_JSON_IDENTITY: Final = re.compile(rf"(?:{_IDENTIFIER}:)?{_IDENTIFIER}")
_QUALIFIED_IDENTITY: Final = re.compile(rf"(?:{_IDENTIFIER}:|\{{[^{{}}]+\}}){_IDENTIFIER}")
_HASH_LENGTHS: Final = {SHA_256: 32}


def _host_key(address: str, field: str) -> str:
    """Validate an ``inet:host`` and return its canonical form (the list-key comparison)."""
    if not address:
        raise ModelError(field, "empty; an IP address or a DNS name is required")
    if len(address) > 253:
        raise ModelError(field, "longer than 253 characters")
    if _HOST_FORBIDDEN.search(address):
        raise ModelError(field, "contains whitespace, '/' or a control character")
    if ":" in address:
        try:
            return str(ipaddress.IPv6Address(address))
        except ValueError as exc:
            raise ModelError(
                field, f"not an IPv6 address (write IPv6 literals without brackets): {exc}"
            ) from exc
    if _DOTTED_NUMBERS.fullmatch(address):
        try:
            return str(ipaddress.IPv4Address(address))
        except ValueError as exc:
            raise ModelError(field, f"not an IPv4 address: {exc}") from exc
    name = address.removesuffix(".")
    if not all(_DNS_LABEL.fullmatch(label) for label in name.split(".")):
        raise ModelError(
            field,
            "not a DNS name: labels of 1..63 letters, digits, '-' or '_' separated by '.'",
        )
    return name.lower()


def _normalise_identity(value: str, field: str) -> str:
    if _JSON_IDENTITY.fullmatch(value) and ":" not in value:
        return f"{MODULE}:{value}"
    if _QUALIFIED_IDENTITY.fullmatch(value):
        return str(value)
    raise ModelError(field, "not an identity name")


@dataclass(frozen=True, slots=True)
class BootstrapServer:
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
        _host_key(self.address, f"{_SERVER}/address")
        if isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise ModelError(f"{_SERVER}/port", "not a port number (0..65535)")

    @property
    def key(self) -> str:
        """The canonical address, as the list key is compared."""
        return _host_key(self.address, f"{_SERVER}/address")


@dataclass(frozen=True, slots=True)
class RedirectInformation:
    """``redirect-information``: at least one bootstrap server, addresses unique (R-052)."""

    bootstrap_servers: tuple[BootstrapServer, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "bootstrap_servers", tuple(self.bootstrap_servers))
        if not self.bootstrap_servers:
            raise ModelError(_SERVER, "at least one bootstrap server is required")
        seen: set[str] = set()
        for server in self.bootstrap_servers:
            key = server.key
            if key in seen:
                raise ModelError(f"{_SERVER}/address", f"{server.address!r} is listed twice")
            seen.add(key)


@dataclass(frozen=True, slots=True)
class ImageVerification:
    """One ``image-verification`` entry.

    ``hash_algorithm`` is normalised to a module-qualified identity (``"sha-256"`` becomes
    ``"ietf-sztp-conveyed-info:sha-256"``).  Identities this client does not know are kept: the
    image step decides whether any listed algorithm is supported (D13, R-056).  An identity read
    from XML whose namespace names no module is kept as ``{namespace}identity``.
    """

    hash_algorithm: str
    hash_value: bytes

    def __post_init__(self) -> None:
        algorithm = _normalise_identity(self.hash_algorithm, f"{_VERIFICATION}/hash-algorithm")
        object.__setattr__(self, "hash_algorithm", algorithm)
        if not self.hash_value:
            raise ModelError(f"{_VERIFICATION}/hash-value", "empty")
        expected = _HASH_LENGTHS.get(algorithm)
        if expected is not None and len(self.hash_value) != expected:
            raise ModelError(
                f"{_VERIFICATION}/hash-value",
                f"{len(self.hash_value)} octets; {algorithm} values have {expected}",
            )


@dataclass(frozen=True, slots=True)
class BootImage:
    """``boot-image``: which image the device should run and where to get it (R-053)."""

    os_name: str | None = None
    os_version: str | None = None
    download_uris: tuple[str, ...] = ()
    image_verifications: tuple[ImageVerification, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "download_uris", tuple(self.download_uris))
        object.__setattr__(self, "image_verifications", tuple(self.image_verifications))
        for uri in self.download_uris:
            if not _URI.fullmatch(uri):
                raise ModelError(
                    f"{_IMAGE}/download-uri",
                    "not a URI (scheme ':' then no whitespace or control characters)",
                )
        if self.image_verifications and not self.download_uris:
            raise ModelError(
                f"{_IMAGE}/image-verification",
                "image-verification is only allowed together with download-uri",
            )
        seen: set[str] = set()
        for verification in self.image_verifications:
            if verification.hash_algorithm in seen:
                raise ModelError(
                    f"{_VERIFICATION}/hash-algorithm",
                    f"{verification.hash_algorithm} is listed twice",
                )
            seen.add(verification.hash_algorithm)


class ConfigurationHandling(enum.StrEnum):
    """``configuration-handling``: how the configuration is applied."""

    MERGE = "merge"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class OnboardingInformation:
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
                    f"{_ONBOARDING}/configuration-handling",
                    f"{self.configuration_handling!r} is neither 'merge' nor 'replace'",
                ) from None
            object.__setattr__(self, "configuration_handling", handling)
        if self.configuration is not None and self.configuration_handling is None:
            raise ModelError(
                f"{_ONBOARDING}/configuration",
                "configuration is only allowed together with configuration-handling",
            )
        if self.configuration_handling is not None and self.configuration is None:
            raise ModelError(
                f"{_ONBOARDING}/configuration-handling",
                "configuration-handling is only allowed together with configuration",
            )


ConveyedInformation: TypeAlias = RedirectInformation | OnboardingInformation


# ---------------------------------------------------------------------------------------------
# Parsing (one walker for JSON and for XML turned into the same shape)


def _bootstrap_server(value: object) -> BootstrapServer:
    entry = YangJSONObject(value, _SERVER, MODULE)
    address = entry.required_string("address")
    port = entry.uint("port")
    trust_anchor = entry.binary("trust-anchor")
    entry.finish()
    if port is not None and port > 65535:
        raise ModelError(entry.path_of("port"), "not a port number (0..65535)")
    return BootstrapServer(address, DEFAULT_PORT if port is None else port, trust_anchor)


#: most bootstrap-server entries accepted in one redirect-information (D28,
#: limits.redirect-servers); every entry may cost a name lookup and connections
_DEFAULT_MAX_REDIRECT_SERVERS: Final = Limits().redirect_servers


def _redirect_information(value: object, max_servers: int) -> RedirectInformation:
    redirect = YangJSONObject(value, _REDIRECT, MODULE)
    entries = redirect.array("bootstrap-server")
    redirect.finish()
    if len(entries) > max_servers:
        raise ModelError(
            _SERVER,
            f"{len(entries)} bootstrap servers, over the limit of {max_servers} in one "
            "redirect-information (limits.redirect-servers)",
        )
    return RedirectInformation(tuple(_bootstrap_server(entry) for entry in entries))


def _image_verification(value: object) -> ImageVerification:
    entry = YangJSONObject(value, _VERIFICATION, MODULE)
    algorithm = entry.required_string("hash-algorithm")
    if not isinstance(algorithm, XMLIdentity) and not _JSON_IDENTITY.fullmatch(algorithm):
        raise ModelError(
            entry.path_of("hash-algorithm"), "not an identity name (expected module:name)"
        )
    hash_value = decode_hex_string(entry.required_string("hash-value"), entry.path_of("hash-value"))
    entry.finish()
    return ImageVerification(algorithm, hash_value)


def _boot_image(image: YangJSONObject) -> BootImage:
    os_name = image.string("os-name")
    os_version = image.string("os-version")
    uris: list[str] = []
    for uri in image.array("download-uri"):
        if not isinstance(uri, str):
            raise ModelError(
                image.path_of("download-uri"),
                f"entries must be JSON strings, not {json_type_name(uri)}",
            )
        uris.append(uri)
    verifications = tuple(_image_verification(entry) for entry in image.array("image-verification"))
    image.finish()
    return BootImage(os_name, os_version, tuple(uris), verifications)


def _onboarding_information(value: object) -> OnboardingInformation:
    onboarding = YangJSONObject(value, _ONBOARDING, MODULE)
    image = onboarding.container("boot-image")
    boot_image = None if image is None else _boot_image(image)
    handling_text = onboarding.string("configuration-handling")
    handling: ConfigurationHandling | None = None
    if handling_text is not None:
        try:
            handling = ConfigurationHandling(handling_text)
        except ValueError:
            raise ModelError(
                onboarding.path_of("configuration-handling"),
                "must be 'merge' or 'replace'",
            ) from None
    pre_script = onboarding.binary("pre-configuration-script")
    configuration = onboarding.binary("configuration")
    post_script = onboarding.binary("post-configuration-script")
    onboarding.finish()
    return OnboardingInformation(boot_image, handling, pre_script, configuration, post_script)


def _from_json(data: bytes, max_servers: int) -> ConveyedInformation:
    document = load_json(data, "conveyed information")
    if not isinstance(document, dict):
        raise ModelError(_TOP, f"must be a JSON object, not {json_type_name(document)}")
    redirect_key = f"{MODULE}:{_REDIRECT}"
    onboarding_key = f"{MODULE}:{_ONBOARDING}"
    unknown = [key for key in document if key not in (redirect_key, onboarding_key)]
    if unknown:
        raise ModelError(
            _TOP,
            f"unknown member {unknown[0]!r:.80}; expected {redirect_key!r} or {onboarding_key!r}",
        )
    if len(document) != 1:
        raise ModelError(
            _TOP,
            "neither redirect-information nor onboarding-information is given"
            if not document
            else "both redirect-information and onboarding-information are given; "
            "exactly one is allowed",
        )
    if redirect_key in document:
        return _redirect_information(document[redirect_key], max_servers)
    return _onboarding_information(document[onboarding_key])


_LEAF: Final = XMLSchemaNode(XMLKind.LEAF)
_REDIRECT_SCHEMA: Final = {
    "bootstrap-server": XMLSchemaNode(
        XMLKind.LIST, {"address": _LEAF, "port": _LEAF, "trust-anchor": _LEAF}
    )
}
_ONBOARDING_SCHEMA: Final = {
    "boot-image": XMLSchemaNode(
        XMLKind.CONTAINER,
        {
            "os-name": _LEAF,
            "os-version": _LEAF,
            "download-uri": XMLSchemaNode(XMLKind.LEAF_LIST),
            "image-verification": XMLSchemaNode(
                XMLKind.LIST,
                {"hash-algorithm": XMLSchemaNode(XMLKind.IDENTITYREF), "hash-value": _LEAF},
            ),
        },
    ),
    "configuration-handling": _LEAF,
    "pre-configuration-script": _LEAF,
    "configuration": _LEAF,
    "post-configuration-script": _LEAF,
}


def _from_xml(data: bytes, max_servers: int) -> ConveyedInformation:
    root, scopes = load_xml_with_namespaces(data, "conveyed information")
    namespace, local = split_tag(root.tag)
    if namespace != NAMESPACE or local not in (_REDIRECT, _ONBOARDING):
        raise ModelError(
            _TOP,
            f"the root element must be redirect-information or onboarding-information in "
            f"namespace {NAMESPACE}, not {local!r:.80} in {namespace or '(none)'!r:.80}",
        )
    schema = _REDIRECT_SCHEMA if local == _REDIRECT else _ONBOARDING_SCHEMA
    tree = xml_to_json_tree(
        root, schema=schema, namespace=NAMESPACE, module=MODULE, path=local, scopes=scopes
    )
    if local == _REDIRECT:
        return _redirect_information(tree, max_servers)
    return _onboarding_information(tree)


def _sniff(data: bytes) -> Literal["json", "xml"]:
    text = data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if text.startswith(b"{"):
        return "json"
    if text.startswith(b"<"):
        return "xml"
    raise EncodingError(
        "conveyed information is neither JSON nor XML: the first non-blank character must be "
        "'{' or '<'"
    )


def parse_conveyed_information(
    data: bytes,
    encoding: Literal["json", "xml"] | None = None,
    *,
    max_redirect_servers: int = _DEFAULT_MAX_REDIRECT_SERVERS,
) -> ConveyedInformation:
    """Parse conveyed information (R-051..R-055).

    ``encoding`` None sniffs it from the first non-blank byte (D15).  Malformed JSON or XML
    raises :class:`EncodingError`; data that violates the YANG module raises
    :class:`ModelError`, and so does a redirect-information with more than
    ``max_redirect_servers`` entries (D28).
    """
    if encoding is None:
        encoding = _sniff(data)
    if encoding == "json":
        return _from_json(data, max_redirect_servers)
    if encoding == "xml":
        return _from_xml(data, max_redirect_servers)
    raise ValueError(f"unknown encoding {encoding!r}")


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
            f"{MODULE}:{_REDIRECT}": {
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
    return {f"{MODULE}:{_ONBOARDING}": body}
