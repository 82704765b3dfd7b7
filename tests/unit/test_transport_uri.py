"""Bootstrap-server URIs (R-099, D9) and address resolution."""

from __future__ import annotations

import pytest

from sztp_client.errors import ConnectError, ModelError
from sztp_client.model.server_uri import ServerEndpoint, parse_server_uri
from sztp_client.transport.http import resolve

GBD = "operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://bootstrap.example", ServerEndpoint("bootstrap.example", 443, None)),
        ("https://bootstrap.example/", ServerEndpoint("bootstrap.example", 443, None)),
        ("https://Bootstrap.EXAMPLE:8443", ServerEndpoint("bootstrap.example", 8443, None)),
        ("HTTPS://bootstrap.example.", ServerEndpoint("bootstrap.example", 443, None)),
        ("https://192.0.2.10", ServerEndpoint("192.0.2.10", 443, None)),
        ("https://192.0.2.10:1", ServerEndpoint("192.0.2.10", 1, None)),
        ("https://[2001:db8::1]", ServerEndpoint("2001:db8::1", 443, None)),
        ("https://[2001:DB8:0::1]:65535", ServerEndpoint("2001:db8::1", 65535, None)),
        ("https://sztp.example/restconf", ServerEndpoint("sztp.example", 443, "/restconf")),
        ("https://sztp.example/restconf/", ServerEndpoint("sztp.example", 443, "/restconf")),
        ("https://sztp.example:9/top/restconf", ServerEndpoint("sztp.example", 9, "/top/restconf")),
        (f"https://sztp.example/restconf/{GBD}", ServerEndpoint("sztp.example", 443, "/restconf")),
        (f"https://sztp.example/a/b/{GBD}/", ServerEndpoint("sztp.example", 443, "/a/b")),
        (f"https://[::1]:8443/{GBD}", ServerEndpoint("::1", 8443, "")),
        ("https://sztp.example/rest%20conf", ServerEndpoint("sztp.example", 443, "/rest%20conf")),
    ],
)
def test_accepted(uri: str, expected: ServerEndpoint) -> None:
    """R-099, D9: the accepted bootstrap-server URI forms."""
    assert parse_server_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "http://bootstrap.example",
        "ftp://bootstrap.example",
        "bootstrap.example",
        "https:bootstrap.example",
        "https://",
        "https://:443",
        "https:///restconf",
        "https://user@bootstrap.example",
        "https://user:pw@bootstrap.example",
        "https://bootstrap.example?x=1",
        "https://bootstrap.example/restconf?",
        "https://bootstrap.example#frag",
        "https://bootstrap.example:",
        "https://bootstrap.example:0",
        "https://bootstrap.example:65536",
        "https://bootstrap.example:-1",
        "https://bootstrap.example:44a",
        "https://2001:db8::1",
        "https://[2001:db8::1",
        "https://[2001:db8::1]x",
        "https://[not-v6]",
        "https://[fe80::1%25eth0]",
        "https://256.1.1.1",
        "https://1.2.3",
        "https://bad_host.example",
        "https://-bad.example",
        "https://bad..example",
        "https://b%61d.example",
        "https://bootstrap.example/rest conf",
        "https://bootstrap.example/\x00",
        " https://bootstrap.example",
        "https://bootstrap.example//restconf",
        "https://bootstrap.example/a/../restconf",
        "https://bootstrap.example/restconf/operations",
        "https://bootstrap.example/restconf/operations/ietf-sztp-bootstrap-server:report-progress",
        "https://bootstrap.example/re[st]conf",
    ],
)
def test_refused(uri: str) -> None:
    """R-099, D9: http, userinfo, query, fragment and other forms are refused."""
    with pytest.raises(ModelError) as info:
        parse_server_uri(uri)
    assert info.value.field == "bootstrap-server-uri"


def test_refusal_names_the_reason() -> None:
    with pytest.raises(ModelError, match="scheme must be https"):
        parse_server_uri("http://bootstrap.example")
    with pytest.raises(ModelError, match="user information"):
        parse_server_uri("https://u@bootstrap.example")


def test_endpoint_text() -> None:
    assert parse_server_uri("https://[2001:db8::1]:8443").authority == "[2001:db8::1]:8443"
    assert parse_server_uri("https://h.example:443").authority == "h.example"
    assert str(parse_server_uri("https://h.example/restconf")) == "https://h.example/restconf"
    assert parse_server_uri("https://[::1]").is_ip_literal
    assert not parse_server_uri("https://h.example").is_ip_literal


@pytest.mark.parametrize("literal", ["127.0.0.1", "192.0.2.7", "::1", "2001:db8::5"])
def test_resolve_ip_literal_is_itself(literal: str) -> None:
    assert resolve(literal, 443) == [literal]


def test_resolve_localhost() -> None:
    addresses = resolve("localhost", 443)
    assert addresses
    assert len(addresses) == len(set(addresses))
    assert set(addresses) <= {"127.0.0.1", "::1"}


def test_resolve_failure_names_the_host() -> None:
    with pytest.raises(ConnectError, match=r"no-such-host\.invalid"):
        resolve("no-such-host.invalid", 443)
