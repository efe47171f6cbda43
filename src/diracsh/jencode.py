"""DIRAC's JSON dialect ("JEncode").

DIRAC writes its RPC arguments and results with the standard library's
``json.dumps`` (default separators, ``ensure_ascii=True``) plus three markers:

* ``datetime`` -> ``{"__dCls": "dt", "obj": "YYYY-MM-DD HH:MM:SS"}`` (no
  microseconds, no time zone: DIRAC drops both);
* ``date`` -> ``{"__dCls": "date", "obj": "YYYY-MM-DD"}``;
* ``bytes`` -> ``{"__dCls": "b64", "obj": "<standard base64>"}``.

Tuples travel as lists, dict keys that are ``int``/``float``/``bool``/``None``
travel as the strings ``json`` makes of them. :func:`encode` produces the same
text as DIRAC 9 for every value DIRAC can encode, and refuses, before anything
is sent, what DIRAC cannot carry (sets, ``time``, ``complex``, keys that collide
once they are strings, ...), naming the value and where it sits.

:func:`decode` never imports or calls anything named by the peer: only the
three markers above become Python values. A DIRAC class marker
(``__dCls``/``__dMod``, e.g. an ``FTS3Job``) stays a plain dict, keeping both
keys, so it can be read and sent back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from typing import Any

__all__ = [
    "DecodeError",
    "EncodeError",
    "check",
    "decode",
    "encode",
    "encode_unchecked",
    "loads",
]

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
_MARKER = "__dCls"
_MODULE = "__dMod"
_VALUE_MARKERS = frozenset({"dt", "date", "b64"})

# Types json writes natively; everything else needs a marker or is refused.
_SCALARS = (str, int, float, bool, type(None))
_PLAIN = frozenset(_SCALARS)
_ONE_KEY_TYPE = frozenset({str, int, float})
_LEAVES = frozenset({*_SCALARS, dt.datetime, dt.date, bytes})
_DATETIME_SHAPE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\Z", re.ASCII)
_DATE_SHAPE = re.compile(r"\d{4}-\d\d-\d\d\Z", re.ASCII)


class EncodeError(TypeError):
    """A value DIRAC's JSON dialect cannot carry; the message names it and where."""


class DecodeError(ValueError):
    """Text that is not valid DIRAC JSON (bad JSON or a malformed marker)."""


def encode(value: Any) -> str:
    """Return the DIRAC JSON text of *value*, exactly as DIRAC 9 writes it.

    >>> encode({12: (b"\\x00", dt.date(2024, 1, 2))})[:44]
    '{"12": [{"__dCls": "b64", "obj": "AA=="}, {"'
    """
    check(value, "value")
    return encode_unchecked(value)


def encode_unchecked(value: Any) -> str:
    """:func:`encode` without the walk; for values already given to :func:`check`."""
    try:
        return json.dumps(value, default=_to_marker)
    except RecursionError:
        raise EncodeError("the value is nested too deeply to be sent") from None
    except ValueError as exc:  # an int longer than Python writes (4300 digits)
        raise EncodeError(f"the value cannot be written as JSON: {exc}") from None


def decode(text: str | bytes) -> tuple[Any, int]:
    """Decode DIRAC JSON; like DIRAC's ``decode``, return ``(value, len(text))``."""
    return loads(text), len(text)


def loads(text: str | bytes) -> Any:
    """Decode DIRAC JSON text into Python values (markers become values)."""
    try:
        return json.loads(text, object_hook=_from_marker)
    except DecodeError:
        raise  # a malformed marker, already named
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DecodeError(f"not valid JSON: {exc}") from exc
    except ValueError as exc:  # an int longer than Python reads (4300 digits)
        raise DecodeError(f"JSON Python cannot read: {exc}") from None
    except RecursionError:
        raise DecodeError("JSON nested too deeply for Python to read") from None


def _to_marker(value: Any) -> dict[str, str]:
    # ``datetime`` is a subclass of ``date``: test it first.
    if isinstance(value, dt.datetime):
        return {_MARKER: "dt", "obj": value.strftime(DATETIME_FORMAT)}
    if isinstance(value, dt.date):
        return {_MARKER: "date", "obj": value.strftime(DATE_FORMAT)}
    if isinstance(value, bytes):
        return {_MARKER: "b64", "obj": base64.b64encode(value).decode("ascii")}
    raise EncodeError(_refusal(value, "value"))


def _from_marker(obj: dict[str, Any]) -> Any:
    kind = obj.get(_MARKER)
    if type(kind) is not str or kind not in _VALUE_MARKERS or _MODULE in obj:
        return obj  # a plain dict, or another marker: it stays data
    payload = obj.get("obj")
    if not isinstance(payload, str):
        raise DecodeError(f"marker {kind!r} without a string 'obj': {obj!r}")
    try:
        if kind == "dt":
            return _datetime(payload)
        if kind == "date":
            return _date(payload)
        return base64.b64decode(payload)
    except (ValueError, binascii.Error) as exc:
        raise DecodeError(f"bad {kind!r} marker {payload!r}: {exc}") from exc


def _datetime(text: str) -> dt.datetime:
    # fromisoformat is many times faster than strptime; it is used only for
    # the exact shape DIRAC writes, strptime (DIRAC's parser) for the rest.
    if _DATETIME_SHAPE.match(text):
        return dt.datetime.fromisoformat(text)
    return dt.datetime.strptime(text, DATETIME_FORMAT)


def _date(text: str) -> dt.date:
    if _DATE_SHAPE.match(text):
        return dt.date.fromisoformat(text)
    return dt.datetime.strptime(text, DATE_FORMAT).date()


def json_key(key: Any) -> str | None:
    """The string ``json`` writes for a dict key, or None if it cannot be a key."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return json.dumps(key)
    return None


def check(value: Any, where: str = "value") -> None:
    """Refuse, naming where it sits, any part of *value* DIRAC cannot carry."""
    if not _plainly_fine(value):
        _locate(value, where)


def _plainly_fine(value: Any) -> bool:
    """A fast walk over exact built-in types: True means nothing to refuse.

    False means "look closer": :func:`_locate` then finds the problem and its
    path, or accepts what only looked odd (subclasses, non-string keys). The
    walk keeps a list of containers still to look at instead of recursing, and
    lets a comprehension skip the scalars, which are most of any value.
    """
    pending = [value]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            if _MARKER in value and _MODULE not in value:
                return False
            # Keys of one type among str, int and float cannot collide once
            # written as strings; bool, None and mixed keys get the careful look.
            key_types = set(map(type, value))
            if len(key_types) > 1 or not key_types <= _ONE_KEY_TYPE:
                return False
            # NaN is the one float unequal to itself: several can be keys.
            if float in key_types and any(key != key for key in value):
                return False
            items: Any = value.values()
        elif kind is list or kind is tuple:
            items = value
        elif kind in _LEAVES:
            continue
        else:
            return False
        pending += [item for item in items if type(item) not in _PLAIN]
    return True


def _locate(value: Any, where: str) -> None:
    """The slow walk: refuse the first problem with its location."""
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, dict):
        _check_dict(value, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if not isinstance(item, _SCALARS):
                _locate(item, f"{where}[{index}]")
    elif not isinstance(value, dt.date | bytes):
        raise EncodeError(_refusal(value, where))


def _check_dict(value: dict[Any, Any], where: str) -> None:
    seen: dict[str, Any] = {}
    for key, item in value.items():
        text = json_key(key)
        if text is None:
            raise EncodeError(
                f"{where} has a key {key!r} of type {type(key).__name__}: DIRAC "
                "dict keys must be str, int, float, bool or None"
            )
        if text in seen:
            raise EncodeError(
                f"{where} has keys {seen[text]!r} and {key!r}, which are both "
                f"sent as {text!r}: keep only one of them"
            )
        seen[text] = key
        if not isinstance(item, _SCALARS):
            _locate(item, f"{where}[{key!r}]")
    if _MARKER in seen and _MODULE not in seen:
        raise EncodeError(
            f"{where} has a key {_MARKER!r}, which DIRAC reads as a type marker: "
            "rename that key"
        )


def _refusal(value: Any, where: str) -> str:
    kind = type(value).__name__
    hint = {
        "set": "send a list instead",
        "frozenset": "send a list instead",
        "time": "send a string or a datetime instead",
        "bytearray": "send bytes(...) instead",
        "complex": "send the real and imaginary parts as two floats",
        "Decimal": "send a float or a string instead",
    }.get(kind, "DIRAC can send only JSON values, datetime, date and bytes")
    try:
        shown = repr(value)
    except Exception:  # a broken __repr__ must not hide the real message
        shown = f"<{kind} object>"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{where} is {article} {kind} ({shown}), which DIRAC cannot send: {hint}"
