"""ISC dhclient lease files: the SZTP redirect option and the DNS domains of each lease
(RFC 8572 §8; R-097, R-098, R-101, R-105, D5).

dhclient (and NetworkManager with its dhclient backend) appends every lease it obtains to a
lease file as a ``lease { ... }`` block (DHCPv4) or a ``lease6 { ... }`` block (DHCPv6); the
last block for an interface is the one in force.  A block holds statements such as
``interface "eth0";`` and ``option NAME VALUE;`` and nested blocks (``ia-na``, ``iaaddr``).
The SZTP option appears under the name the operator declared in dhclient.conf, by default
``sztp-redirect-urls`` (v4, code 143) and ``dhcp6.sztp-redirect-urls`` (v6, code 136), in
dhclient's notation (colon-hex or an escaped string, see
:func:`~sztp_client.discovery.dhcp_option.from_dhclient_value`).  A split v4 option arrives in
the lease already joined (RFC 3396 is done by dhclient).  The DNS domains D5 takes from a
lease are options 15 and 119 (``domain-name``, ``domain-search``) and DHCPv6 option 24
(``dhcp6.domain-search``).

The parser never fails on content: a lease file may be cut short by a crash while dhclient
writes it, or hold anything at all, so an incomplete or malformed block is dropped with a
warning and the rest is read; option values that cannot be read are recorded on their lease.
Only an input over its size bound raises (:class:`~sztp_client.errors.SizeLimitError`).

Hand-written: no Python library reads dhclient's lease format (it is ISC's own configuration
grammar), and only a few statements matter here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from sztp_client.discovery.dhcp_option import (
    MAX_ENTRIES,
    MAX_LIST_BYTES,
    BootstrapServerList,
    decode_v4,
    decode_v6,
    from_dhclient_hex,
    unescape_dhclient_string,
)
from sztp_client.discovery.dns_records import normalise_domain
from sztp_client.discovery.errors import LeaseFileError
from sztp_client.errors import DataError, SizeLimitError
from sztp_client.limits import MIB

MAX_LEASE_FILE_BYTES: Final = MIB
"""Default bound of one lease file (dhclient rewrites its file regularly; they stay small)."""
MAX_DEPTH: Final = 8
"""Blocks nested deeper than this are garbage: the enclosing lease is dropped."""

_PUNCTUATION: Final = "{};,"
_WORD_END: Final = frozenset(' \t\r\n\f\v{};,"#')
_SHOWN: Final = 60


class DhcpFamily(enum.StrEnum):
    V4 = "dhcpv4"
    V6 = "dhcpv6"


class LeaseOptionNames(msgspec.Struct, frozen=True):
    """The option names looked up in a lease; the first name present wins.

    ``unknown-143`` and ``dhcp6.unknown-136`` are how dhclient names the options when they were
    not declared in dhclient.conf.
    """

    sztp_v4: tuple[str, ...] = ("sztp-redirect-urls", "unknown-143")
    sztp_v6: tuple[str, ...] = ("dhcp6.sztp-redirect-urls", "dhcp6.unknown-136")
    domains_v4: tuple[str, ...] = ("domain-name", "domain-search")
    domains_v6: tuple[str, ...] = ("dhcp6.domain-search",)


DEFAULT_OPTION_NAMES: Final = LeaseOptionNames()
"""dhclient's own names for the options (and those of undeclared options)."""


class Lease(msgspec.Struct, frozen=True):
    """One complete lease block.

    ``block`` is its position among the file's lease blocks (from 0); ``sztp_redirect`` the
    octets of the SZTP option (``None`` when the lease has none); ``domains`` the DNS domains in
    D5's order without duplicates; ``problems`` the option values that could not be read.
    """

    family: DhcpFamily
    interface: str | None
    block: int
    sztp_redirect: bytes | None = None
    domains: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def bootstrap_servers(self, *, max_entries: int = MAX_ENTRIES) -> BootstrapServerList | None:
        """The decoded bootstrap-server-list, or ``None`` when the lease carries no option."""
        if self.sztp_redirect is None:
            return None
        if self.family is DhcpFamily.V4:
            return decode_v4(self.sztp_redirect, max_entries=max_entries)
        return decode_v6(self.sztp_redirect, max_entries=max_entries)


class LeaseFile(msgspec.Struct, frozen=True):
    """Every complete lease block of a file in file order, and what was dropped and why."""

    leases: tuple[Lease, ...]
    warnings: tuple[str, ...] = ()

    def current(self) -> tuple[Lease, ...]:
        """The lease in force for each (family, interface): the last block, in file order."""
        last: dict[tuple[DhcpFamily, str | None], Lease] = {}
        for lease in self.leases:
            last[(lease.family, lease.interface)] = lease
        return tuple(sorted(last.values(), key=lambda lease: lease.block))

    def current_for(self, interface: str, family: DhcpFamily | None = None) -> tuple[Lease, ...]:
        """The leases in force for ``interface`` (one per family, or only ``family``'s)."""
        return tuple(
            lease
            for lease in self.current()
            if lease.interface == interface and (family is None or lease.family is family)
        )


def parse_lease_file(
    data: bytes,
    *,
    names: LeaseOptionNames = DEFAULT_OPTION_NAMES,
    max_bytes: int = MAX_LEASE_FILE_BYTES,
) -> LeaseFile:
    """Read an ISC dhclient lease file (v4 ``lease`` and v6 ``lease6`` blocks).

    Raises only :class:`~sztp_client.errors.SizeLimitError` (over ``max_bytes``); anything
    malformed is dropped and named in :attr:`LeaseFile.warnings`.
    """
    if len(data) > max_bytes:
        raise SizeLimitError("the lease file", len(data), max_bytes)
    # latin-1 maps every octet to one character: nothing can fail to decode
    tokens, warnings = _tokenize(data.decode("latin-1"))
    statements = _parse(tokens, warnings)
    leases: list[Lease] = []
    for statement in statements:
        if statement.body is None or len(statement.head) != 1:
            continue
        keyword = statement.head[0]
        if keyword == _Token(_WORD, "lease"):
            family = DhcpFamily.V4
        elif keyword == _Token(_WORD, "lease6"):
            family = DhcpFamily.V6
        else:
            continue
        leases.append(_lease(family, len(leases), statement.body, names))
    return LeaseFile(tuple(leases), tuple(warnings))


# ---------------------------------------------------------------------------------------------
# tokens and statements

_WORD: Final = "word"
_STRING: Final = "string"  # text is the body between the quotes, escapes not yet resolved
_PUNCT: Final = "punct"


class _Token(msgspec.Struct, frozen=True):
    kind: str
    text: str


class _Statement(msgspec.Struct, frozen=True):
    head: tuple[_Token, ...]
    body: tuple[_Statement, ...] | None = None


class _Open(msgspec.Struct):
    head: tuple[_Token, ...]
    body: list[_Statement] = msgspec.field(default_factory=list)


def _tokenize(text: str) -> tuple[list[_Token], list[str]]:
    tokens: list[_Token] = []
    warnings: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif char == "#":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline + 1
        elif char in _PUNCTUATION:
            tokens.append(_Token(_PUNCT, char))
            index += 1
        elif char == '"':
            end = index + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                warnings.append(f"an unterminated string at octet {index}: the rest is ignored")
                break
            tokens.append(_Token(_STRING, text[index + 1 : end]))
            index = end + 1
        else:
            end = index
            while end < len(text) and text[end] not in _WORD_END:
                end += 1
            tokens.append(_Token(_WORD, text[index:end]))
            index = end
    return tokens, warnings


def _parse(tokens: Sequence[_Token], warnings: list[str]) -> list[_Statement]:
    """Statements of the top level; an unclosed or too deeply nested block is dropped."""
    top: list[_Statement] = []
    stack: list[_Open] = []
    head: list[_Token] = []
    skip_depth = 0  # > 0 while skipping the inside of a block nested too deeply
    for token in tokens:
        if skip_depth:
            if token == _Token(_PUNCT, "{"):
                skip_depth += 1
            elif token == _Token(_PUNCT, "}"):
                skip_depth -= 1
            continue
        current = stack[-1].body if stack else top
        if token == _Token(_PUNCT, ";"):
            if head:
                current.append(_Statement(tuple(head)))
            head = []
        elif token == _Token(_PUNCT, "{"):
            if len(stack) >= MAX_DEPTH:
                warnings.append(f"blocks nested deeper than {MAX_DEPTH}: the lease is dropped")
                stack.clear()
                skip_depth = MAX_DEPTH + 1
            else:
                stack.append(_Open(tuple(head)))
            head = []
        elif token == _Token(_PUNCT, "}"):
            if head:
                warnings.append(f"a statement without ';' before '}}': {_show(head)} ignored")
                head = []
            if not stack:
                warnings.append("a '}' without its '{' is ignored")
                continue
            closed = stack.pop()
            (stack[-1].body if stack else top).append(_Statement(closed.head, tuple(closed.body)))
        else:
            head.append(token)
    if stack:
        warnings.append(
            f"the block {_show(stack[0].head)} is not closed (file cut short?): dropped"
        )
    elif head:
        warnings.append(f"the last statement {_show(head)} has no ';': ignored")
    return top


def _show(tokens: Iterable[_Token]) -> str:
    text = " ".join(token.text for token in tokens) or "(empty)"
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")


# ---------------------------------------------------------------------------------------------
# leases


def _lease(
    family: DhcpFamily, block: int, body: Sequence[_Statement], names: LeaseOptionNames
) -> Lease:
    interface: str | None = None
    options: dict[str, tuple[_Token, ...]] = {}
    for statement in body:
        if statement.body is not None or not statement.head:
            continue
        keyword, *rest = statement.head
        if keyword == _Token(_WORD, "interface") and len(rest) == 1 and rest[0].kind == _STRING:
            interface = _text(rest[0].text)
        elif keyword == _Token(_WORD, "option") and rest and rest[0].kind == _WORD:
            options[rest[0].text.lower()] = tuple(rest[1:])
    sztp_names = names.sztp_v4 if family is DhcpFamily.V4 else names.sztp_v6
    domain_names = names.domains_v4 if family is DhcpFamily.V4 else names.domains_v6
    problems: list[str] = []
    sztp: bytes | None = None
    for name in sztp_names:
        if name.lower() in options:
            try:
                sztp = _octets(options[name.lower()])
                if len(sztp) > MAX_LIST_BYTES:
                    raise SizeLimitError(f"option {name}", len(sztp), MAX_LIST_BYTES)
            except DataError as exc:
                sztp = None
                problems.append(f"option {name}: {exc}")
            break
    domains: list[str] = []
    for name in domain_names:
        for domain in _domains(options.get(name.lower(), ()), name, problems):
            if domain not in domains:
                domains.append(domain)
    return Lease(family, interface, block, sztp, tuple(domains), tuple(problems))


def _octets(value: Sequence[_Token]) -> bytes:
    if len(value) != 1 or value[0].kind == _PUNCT:
        raise LeaseFileError("expected one colon-hex or quoted string value")
    token = value[0]
    if token.kind == _STRING:
        return unescape_dhclient_string(token.text)
    # in a lease file a string is always quoted: a bare value must be colon-hex
    return from_dhclient_hex(token.text)


def _text(body: str) -> str:
    """A string statement's text; escapes resolved, octets read as Latin-1 (never fails)."""
    try:
        return unescape_dhclient_string(body).decode("latin-1")
    except DataError:
        return body


def _domains(value: Sequence[_Token], name: str, problems: list[str]) -> list[str]:
    found: list[str] = []
    for token in value:
        if token.kind == _PUNCT:
            continue
        for candidate in _text(token.text).split():
            try:
                found.append(normalise_domain(candidate))
            except DataError as exc:
                problems.append(f"option {name}: {exc}")
    return found
