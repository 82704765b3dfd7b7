"""Parsing conveyed information (RFC 8572 §6.1, R-051..R-055): one walker for JSON and for XML
turned into the same shape, into the types of :mod:`sztp_client.model.conveyed`.  Pure."""

from __future__ import annotations

import re
from typing import Final, Literal

from sztp_client.encoding.json import YangJSONObject, json_type_name, load_json
from sztp_client.encoding.xml_schema import XMLIdentity, XMLKind, XMLSchemaNode, split_tag
from sztp_client.encoding.yang_types import decode_hex_string
from sztp_client.errors import EncodingError, ModelError
from sztp_client.limits import Limits
from sztp_client.model.conveyed import (
    DEFAULT_PORT,
    JSON_IDENTITY,
    MODULE,
    NAMESPACE,
    NODE_ONBOARDING,
    NODE_REDIRECT,
    NODE_SERVER,
    NODE_TOP,
    NODE_VERIFICATION,
    BootImage,
    BootstrapServer,
    ConfigurationHandling,
    ConveyedInformation,
    ImageVerification,
    OnboardingInformation,
    RedirectInformation,
)


def _bootstrap_server(value: object) -> BootstrapServer:
    entry = YangJSONObject(value, NODE_SERVER, MODULE)
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
    redirect = YangJSONObject(value, NODE_REDIRECT, MODULE)
    entries = redirect.array("bootstrap-server")
    redirect.finish()
    if len(entries) > max_servers:
        raise ModelError(
            NODE_SERVER,
            f"{len(entries)} bootstrap servers, over the limit of {max_servers} in one "
            "redirect-information (limits.redirect-servers)",
        )
    return RedirectInformation(tuple(_bootstrap_server(entry) for entry in entries))


def _image_verification(value: object) -> ImageVerification:
    entry = YangJSONObject(value, NODE_VERIFICATION, MODULE)
    algorithm = entry.required_string("hash-algorithm")
    if not isinstance(algorithm, XMLIdentity) and not re.fullmatch(JSON_IDENTITY, algorithm):
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
    onboarding = YangJSONObject(value, NODE_ONBOARDING, MODULE)
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
        raise ModelError(NODE_TOP, f"must be a JSON object, not {json_type_name(document)}")
    redirect_key = f"{MODULE}:{NODE_REDIRECT}"
    onboarding_key = f"{MODULE}:{NODE_ONBOARDING}"
    unknown = [key for key in document if key not in (redirect_key, onboarding_key)]
    if unknown:
        raise ModelError(
            NODE_TOP,
            f"unknown member {unknown[0]!r:.80}; expected {redirect_key!r} or {onboarding_key!r}",
        )
    if len(document) != 1:
        raise ModelError(
            NODE_TOP,
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
    # the XML parser is loaded when XML arrives: JSON conveyed information never needs it
    from sztp_client.encoding.xml import load_xml_with_namespaces, xml_to_json_tree  # noqa: PLC0415

    root, scopes = load_xml_with_namespaces(data, "conveyed information")
    namespace, local = split_tag(root.tag)
    if namespace != NAMESPACE or local not in (NODE_REDIRECT, NODE_ONBOARDING):
        raise ModelError(
            NODE_TOP,
            f"the root element must be redirect-information or onboarding-information in "
            f"namespace {NAMESPACE}, not {local!r:.80} in {namespace or '(none)'!r:.80}",
        )
    schema = _REDIRECT_SCHEMA if local == NODE_REDIRECT else _ONBOARDING_SCHEMA
    tree = xml_to_json_tree(
        root, schema=schema, namespace=NAMESPACE, module=MODULE, path=local, scopes=scopes
    )
    if local == NODE_REDIRECT:
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
