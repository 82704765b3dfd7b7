"""Strict JSON (D15) and the RFC 7951 walker :class:`YangJSONObject`.  Pure, no I/O."""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import Final

from sztp_client.encoding.yang_types import decode_base64
from sztp_client.errors import EncodingError, ModelError

# ---------------------------------------------------------------------------------------------
# JSON


class _JSONRefused(ValueError):
    """Raised inside the JSON decoder hooks; turned into EncodingError by load_json."""


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            shown = key if len(key) <= 60 else key[:57] + "..."
            raise _JSONRefused(f"object member {shown!r} appears more than once")
        result[key] = value
    return result


def _refuse_constant(name: str) -> object:
    raise _JSONRefused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JSONRefused("a number is too large to represent")
    return value


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_strings(value: object, what: str) -> None:
    """Refuse strings holding unpaired UTF-16 surrogates (``"\\ud800"``), without recursion."""
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            strings: list[str] = [item]
        elif isinstance(item, dict):
            strings = list(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
            continue
        else:
            continue
        if any(_has_lone_surrogate(s) for s in strings):
            raise EncodingError(f"{what} is not valid JSON: a string holds an unpaired surrogate")


def load_json(data: bytes, what: str) -> object:
    """Parse ``data`` as one strict JSON text (RFC 8259, UTF-8); ``what`` names it in errors.

    Refused with :class:`EncodingError`: a byte-order mark, invalid UTF-8, duplicate object
    members, ``NaN``/``Infinity`` or numbers too large for a float, unpaired surrogates, data
    after the value, and nesting deeper than the interpreter can follow.
    """
    if data.startswith(codecs.BOM_UTF8):
        raise EncodingError(f"{what} is not valid JSON: it starts with a byte-order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(f"{what} is not valid JSON: invalid UTF-8 at byte {exc.start}") from exc
    try:
        value: object = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except RecursionError as exc:
        raise EncodingError(f"{what} is not valid JSON: nested too deeply") from exc
    except ValueError as exc:
        raise EncodingError(f"{what} is not valid JSON: {exc}") from exc
    _check_strings(value, what)
    return value


def json_type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_ABSENT: Final = object()
_DIGITS: Final = re.compile(r"[0-9]{1,20}")


class YangJSONObject:
    """The members of one JSON object of YANG instance data (RFC 7951), taken one at a time.

    ``path`` names the object in errors; members are named ``prefix + name`` (by default
    ``path + "/"``).  A member name qualified with the object's own ``module``
    (``module:name``) is read as the simple name, which RFC 7951 prescribes inside a module;
    giving both forms is an error.  Every accessor raises :class:`ModelError` naming the member
    when the value has the wrong JSON type.  :meth:`finish` refuses members nobody took.
    """

    __slots__ = ("_members", "_module", "_path", "_prefix", "_taken")

    def __init__(self, value: object, path: str, module: str, prefix: str | None = None) -> None:
        self._path = path
        self._module = module
        self._prefix = f"{path}/" if prefix is None else prefix
        if not isinstance(value, dict):
            raise ModelError(path, f"must be a JSON object, not {json_type_name(value)}")
        members: dict[str, object] = {}
        for key, member in value.items():
            name = str(key)
            qualifier, colon, local = name.partition(":")
            if colon and qualifier == module:
                name = local
            if name in members:
                raise ModelError(
                    self.path_of(name), "given twice, with and without the module name"
                )
            members[name] = member
        self._members = members
        self._taken: set[str] = set()

    @property
    def path(self) -> str:
        return self._path

    def path_of(self, name: str) -> str:
        """The error path of member ``name``."""
        return f"{self._prefix}{name}"

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def _take(self, name: str) -> object:
        self._taken.add(name)
        return self._members.get(name, _ABSENT)

    def _wrong_type(self, name: str, expected: str, value: object) -> ModelError:
        return ModelError(self.path_of(name), f"must be {expected}, not {json_type_name(value)}")

    def string(self, name: str) -> str | None:
        """An optional ``string``-like leaf."""
        value = self._take(name)
        if value is _ABSENT:
            return None
        if not isinstance(value, str):
            raise self._wrong_type(name, "a JSON string", value)
        return value

    def required_string(self, name: str) -> str:
        """A mandatory ``string``-like leaf."""
        value = self.string(name)
        if value is None:
            raise ModelError(self.path_of(name), "missing; it is mandatory")
        return value

    def binary(self, name: str) -> bytes | None:
        """An optional ``binary`` leaf (base64, D13)."""
        value = self.string(name)
        return None if value is None else decode_base64(value, self.path_of(name))

    def required_binary(self, name: str) -> bytes:
        """A mandatory ``binary`` leaf."""
        return decode_base64(self.required_string(name), self.path_of(name))

    def uint(self, name: str) -> int | None:
        """An optional unsigned integer leaf: a JSON number or, leniently, a string of digits.

        The range is the caller's to check.
        """
        value = self._take(name)
        if value is _ABSENT:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and _DIGITS.fullmatch(value):
            return int(value)
        raise self._wrong_type(name, "a non-negative integer", value)

    def boolean(self, name: str, *, lenient: bool = False) -> bool | None:
        """An optional ``boolean`` leaf; with ``lenient`` also the strings "true" and "false"."""
        value = self._take(name)
        if value is _ABSENT:
            return None
        if isinstance(value, bool):
            return value
        if lenient and value in ("true", "false"):
            return value == "true"
        raise self._wrong_type(name, "true or false", value)

    def empty(self, name: str) -> bool:
        """A leaf of type ``empty``: present as ``[null]`` (RFC 7951 §6.9) or absent."""
        value = self._take(name)
        if value is _ABSENT:
            return False
        if value != [None]:
            raise ModelError(self.path_of(name), "an empty leaf must be given as [null]")
        return True

    def array(self, name: str) -> list[object]:
        """A list or leaf-list; absent means no entries."""
        value = self._take(name)
        if value is _ABSENT:
            return []
        if not isinstance(value, list):
            raise self._wrong_type(name, "a JSON array", value)
        return value

    def container(self, name: str) -> YangJSONObject | None:
        """An optional container, as another :class:`YangJSONObject`."""
        value = self._take(name)
        if value is _ABSENT:
            return None
        return YangJSONObject(value, self.path_of(name), self._module)

    def finish(self, *, ignore_other_modules: bool = False, ignore_unknown: bool = False) -> None:
        """Refuse members that no accessor took.

        ``ignore_other_modules`` lets members qualified with another module pass (augmentations
        this parser does not read); ``ignore_unknown`` lets every member pass.
        """
        if ignore_unknown:
            return
        unknown = [
            name
            for name in self._members
            if name not in self._taken and not (ignore_other_modules and ":" in name)
        ]
        if unknown:
            shown = ", ".join(repr(n if len(n) <= 60 else n[:57] + "...") for n in unknown[:5])
            raise ModelError(self.path_of(unknown[0]), f"unknown member(s): {shown}")
