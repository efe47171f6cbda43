"""DIRAC's JSON dialect: exact texts, refusals, safe decoding, and DIRAC itself."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diracsh import jencode


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (
            dt.datetime(2024, 1, 2, 3, 4, 5),
            '{"__dCls": "dt", "obj": "2024-01-02 03:04:05"}',
        ),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 999),
            '{"__dCls": "dt", "obj": "2024-01-02 03:04:05"}',
        ),
        (dt.date(2024, 1, 2), '{"__dCls": "date", "obj": "2024-01-02"}'),
        (b"\x89PNG\r\n\x1a\n\x00\xff", '{"__dCls": "b64", "obj": "iVBORw0KGgoA/w=="}'),
        ((1, "a"), '[1, "a"]'),
        (
            {1234: "Done", 1.5: "x", True: 1, None: 2},
            '{"1234": "Done", "1.5": "x", "true": 1, "null": 2}',
        ),
        ("é€", '"\\u00e9\\u20ac"'),
        (float("nan"), "NaN"),
        (10**30, "1000000000000000000000000000000"),
    ],
    ids=[
        "datetime",
        "datetime-drops-microseconds",
        "date",
        "bytes",
        "tuple",
        "non-string-keys",
        "non-ascii",
        "nan",
        "big-int",
    ],
)
def test_encode_writes_dirac_text(value: Any, text: str) -> None:
    assert jencode.encode(value) == text


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({1: "a", "1": "b"}, "keys 1 and '1', which are both sent as '1'"),
        ({"a", "b"}, "is a set"),
        ([1, {"t": dt.time(1, 2)}], "value[1]['t'] is a time"),
        (complex(1, 2), "is a complex"),
        (decimal.Decimal("1.5"), "is a Decimal"),
        ({(1, 2): "x"}, "has a key (1, 2) of type tuple"),
        (bytearray(b"x"), "is a bytearray"),
        ({"__dCls": "dt", "obj": "x"}, "DIRAC reads as a type marker"),
        ({float("nan"): 1, float("nan"): 2}, "which are both sent as 'NaN'"),
    ],
    ids=[
        "colliding-keys",
        "set",
        "nested-time",
        "complex",
        "decimal",
        "tuple-key",
        "bytearray",
        "marker-key",
        "two-nan-keys",
    ],
)
def test_encode_refuses_what_dirac_cannot_carry(value: Any, fragment: str) -> None:
    with pytest.raises(jencode.EncodeError) as refused:
        jencode.encode(value)
    assert fragment in str(refused.value)


def test_decode_turns_markers_into_values_and_keys_stay_strings() -> None:
    text = (
        '{"12": {"when": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}, '
        '"day": {"__dCls": "date", "obj": "2024-01-02"}, '
        '"raw": {"__dCls": "b64", "obj": "AP8="}}}'
    )
    value, length = jencode.decode(text)
    assert length == len(text)
    assert value == {
        "12": {
            "when": dt.datetime(2024, 1, 2, 3, 4, 5),
            "day": dt.date(2024, 1, 2),
            "raw": b"\x00\xff",
        }
    }


def test_decode_never_imports_what_the_peer_names() -> None:
    # DIRAC's exploit test: a class marker naming sys.exit must stay plain data.
    text = '{"__dCls": "exit", "__dMod": "sys", "code": 3}'
    assert jencode.loads(text) == {"__dCls": "exit", "__dMod": "sys", "code": 3}


@pytest.mark.parametrize(
    "text",
    [
        '{"__dCls": "foo"}',
        '{"__dCls": "set", "obj": [1, 2]}',
        '{"__dCls": 7, "obj": "x"}',
        '{"__dCls": ["dt"], "obj": "x"}',
    ],
)
def test_unknown_markers_stay_data(text: str) -> None:
    assert jencode.loads(f'{{"Value": {text}}}') == {"Value": json.loads(text)}


@pytest.mark.parametrize(
    "text",
    ['{"__dCls": "dt"}', '{"__dCls": "b64", "obj": 3}', '{"__dCls": "dt", "obj": "x"}'],
)
def test_malformed_value_markers_are_decode_errors(text: str) -> None:
    with pytest.raises(jencode.DecodeError, match="marker"):
        jencode.loads(text)


def test_deep_nesting_is_a_codec_error_not_a_recursion_error() -> None:
    with pytest.raises(jencode.DecodeError, match="nested too deeply"):
        jencode.loads("[" * 100_000 + "]" * 100_000)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(jencode.EncodeError, match="nested too deeply"):
        jencode.encode(deep)


def test_ints_python_cannot_write_or_read_are_codec_errors() -> None:
    # Python 3.11+ refuses int <-> str conversions beyond 4300 digits.
    with pytest.raises(jencode.EncodeError, match="4300 digits"):
        jencode.encode([10**5000])
    with pytest.raises(jencode.DecodeError, match="4300 digits"):
        jencode.loads('{"OK": true, "Value": ' + "9" * 5000 + "}")
    with pytest.raises(jencode.DecodeError, match="bad 'dt' marker"):
        jencode.loads('[{"__dCls": "dt", "obj": "2024-13-01 00:00:00"}]')


def test_class_markers_pass_through_unchanged() -> None:
    job = {
        "__dCls": "FTS3Job",
        "__dMod": "DIRAC.DataManagementSystem.Client.FTS3Job",
        "jobID": 3,
    }
    assert jencode.loads(jencode.encode(job)) == job


@pytest.mark.parametrize(
    "text",
    ['{"__dCls": "dt", "obj": "2024-01-02T03:04:05"}', '{"__dCls": "dt"}', "{nope"],
    ids=["iso-datetime", "marker-without-obj", "not-json"],
)
def test_decode_rejects_malformed_input(text: str) -> None:
    with pytest.raises(jencode.DecodeError):
        jencode.loads(text)


# Values DIRAC can carry and get back unchanged (keys are strings, no tuples,
# datetimes in whole seconds with four-digit years).
_KEYS = st.text(max_size=8).filter(lambda k: k != "__dCls")
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.floats(allow_nan=False)
    | st.binary(max_size=20)
    | st.datetimes(min_value=dt.datetime(1000, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    )
    | st.dates(min_value=dt.date(1000, 1, 1))
)
VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(_KEYS, inner, max_size=5)
    ),
    max_leaves=20,
)


@given(VALUES)
def test_round_trip_gives_the_same_value(value: Any) -> None:
    assert jencode.loads(jencode.encode(value)) == value


# Values as they come from Python code, before DIRAC's conversions: tuples,
# non-string keys, NaN, microseconds.
_ANY_KEYS = (
    _KEYS
    | st.integers()
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=()), max_size=4)
)
_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=10)
RAW_VALUES = st.recursive(
    _SCALARS
    | st.floats()
    | st.datetimes(min_value=dt.datetime(1000, 1, 1))
    | _ANY_TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_ANY_KEYS, inner, max_size=4)
    ),
    max_leaves=15,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b) and type(a) is type(b)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RAW_VALUES)
def test_same_text_and_values_as_dirac(dirac_ref: Any, value: Any) -> None:
    try:
        ours = jencode.encode(value)
    except jencode.EncodeError:
        # We refuse only what DIRAC would send wrongly: colliding keys.
        assert _has_colliding_keys(value)
        return
    assert ours == dirac_ref.encode(value)
    assert _same(jencode.loads(ours), dirac_ref.decode(ours))


def _has_colliding_keys(value: Any) -> bool:
    if isinstance(value, dict):
        keys = [jencode.json_key(k) for k in value]
        if len(set(keys)) != len(keys):
            return True
        return any(_has_colliding_keys(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_colliding_keys(v) for v in value)
    return False


@pytest.mark.parametrize(
    "value",
    [
        {"a", "b"},
        frozenset({1}),
        [dt.time(1, 2)],
        complex(1, 2),
        decimal.Decimal("1.5"),
        {(1, 2): "x"},
        bytearray(b"x"),
        [object()],
    ],
    ids=[
        "set",
        "frozenset",
        "time",
        "complex",
        "decimal",
        "tuple-key",
        "bytearray",
        "object",
    ],
)
def test_what_we_refuse_dirac_cannot_encode_either(dirac_ref: Any, value: Any) -> None:
    with pytest.raises(jencode.EncodeError):
        jencode.encode(value)
    with pytest.raises(Exception, match="TypeError"):
        dirac_ref.encode(value)


@pytest.mark.parametrize(
    "value",
    [{1: "a", "1": "b"}, {True: 1, "true": 2}, {"__dCls": "dt", "obj": "x"}],
    ids=["int-and-str", "bool-and-str", "marker-key"],
)
def test_what_we_refuse_dirac_sends_but_cannot_read_back(
    dirac_ref: Any, value: Any
) -> None:
    with pytest.raises(jencode.EncodeError):
        jencode.encode(value)
    text = dirac_ref.encode(value)
    try:
        back = dirac_ref.decode(text)
    except Exception:  # noqa: BLE001 - DIRAC fails to read its own text
        return
    assert back != value  # a key was lost, or the dict became something else
