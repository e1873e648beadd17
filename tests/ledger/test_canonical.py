"""RFC 8785 canonical JSON: the RFC's own examples, ECMAScript string escaping, refusals,
and properties against orjson and the standard library's encoder."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxprism.ledger.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalError,
    _write,
    canonical,
    canonical_framed,
)

# ---------------------------------------------------------------------------
# Known answers from RFC 8785.


def test_rfc8785_sorting_example_orders_names_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3, in the RFC's (scrambled) input order.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001F600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        b'{"\\r":"Carriage Return",'
        b'"1":"One",'
        b'"\xc2\x80":"Control",'
        b'"\xc3\xb6":"Latin Small Letter O With Diaeresis",'
        b'"\xe2\x82\xac":"Euro Sign",'
        b'"\xf0\x9f\x98\x80":"Emoji: Grinning Face",'
        b'"\xef\xac\xb3":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical(value) == expected


def test_rfc8785_sample_strings_and_literals() -> None:
    # RFC 8785 section 3.2.2's sample, without its (floating-point) numbers.
    value = {"string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
             "literals": [None, True, False]}
    expected = r'''{"literals":[null,true,false],"string":"€$\u000f\nA'B\"\\\\\"/"}'''
    assert canonical(value) == expected.encode()


def test_no_white_space_and_nesting() -> None:
    value = {"b": [1, {"d": [], "c": {}}], "a": -0, "e": [True, None, "x"]}
    assert canonical(value) == b'{"a":0,"b":[1,{"c":{},"d":[]}],"e":[true,null,"x"]}'


def test_integer_bounds_are_inclusive() -> None:
    assert canonical([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == \
        b"[9007199254740992,-9007199254740992]"
    assert canonical(True) == b"true"  # a bool is never written as 1


# ---------------------------------------------------------------------------
# String escaping (ECMAScript JSON.stringify / RFC 8785 section 3.2.2.2).

SHORT = {'"': b'\\"', "\\": b"\\\\", "\b": b"\\b", "\f": b"\\f", "\n": b"\\n",
         "\r": b"\\r", "\t": b"\\t"}


@pytest.mark.parametrize(("char", "escaped"), SHORT.items())
def test_short_escapes(char: str, escaped: bytes) -> None:
    assert canonical(char) == b'"' + escaped + b'"'


def test_other_control_characters_use_lowercase_u_escapes() -> None:
    for code in range(0x20):
        char = chr(code)
        if char in SHORT:
            continue
        assert canonical(char) == b'"\\u%04x"' % code
    assert canonical("\x1f\x0b\x1a") == b'"\\u001f\\u000b\\u001a"'


@pytest.mark.parametrize("char", ["/", "'", "<", "&", " ", "~", "\x7f", "\u0080", "\u009f",
                                  "\u00e9", "\u2028", "\u2029", "\ufeff", "\uffff",
                                  "\U0001F600", "\U0010FFFF"])
def test_everything_else_is_literal_utf8(char: str) -> None:
    assert canonical(char) == b'"' + char.encode() + b'"'


def test_names_are_escaped_like_values() -> None:
    assert canonical({"a\nb\"/": "\u2028"}) == b'{"a\\nb\\"/":"\xe2\x80\xa8"}'


# ---------------------------------------------------------------------------
# Refusals.


@pytest.mark.parametrize("value", [
    1.0, 0.5, -0.0, float("nan"), float("inf"), [1, 2.5], {"a": {"b": 1e30}},
    MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 2**64, [2**53 + 1],
    {1: "a"}, {None: 1}, {(1, 2): 1}, {b"a": 1}, {"ok": 1, 2: "mixed"},
    b"x", bytearray(b"x"), [b""], {"a": b"x"},
    "\ud800", "\udfff", "a\udc00b", ["\ud83d"], {"\ud800": 1}, {"k": "\ude00"},
    {1, 2}, object(), Decimal("1"),
], ids=repr)
def test_refused(value: Any) -> None:
    with pytest.raises(CanonicalError):
        canonical(value)


def test_refusal_messages_say_what_is_wrong() -> None:
    with pytest.raises(CanonicalError, match="float"):
        canonical(1.5)
    with pytest.raises(CanonicalError, match="precision"):
        canonical(2**53 + 1)
    with pytest.raises(CanonicalError, match="names must be strings"):
        canonical({1: 1})
    with pytest.raises(CanonicalError, match="surrogate"):
        canonical("\ud800")


def test_memoryview_is_refused_like_bytes() -> None:
    with pytest.raises(CanonicalError):
        canonical(memoryview(b"ab"))


# ---------------------------------------------------------------------------
# Properties.

SAFE_INTS = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)


def json_values(text: st.SearchStrategy[str],
                keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | SAFE_INTS | text
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(keys, children, max_size=5),
        max_leaves=20,
    )


ANY_VALUES = json_values(st.text(), st.text())
PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E))
ASCII_VALUES = json_values(PRINTABLE, PRINTABLE)
# Below U+10000 a code point is its own UTF-16 code unit, so code-point order is the RFC's.
BMP_KEYS = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]))
BMP_KEYED_VALUES = json_values(st.text(), BMP_KEYS)
# U+E000..U+FFFF sorts after the surrogates of U+10000.. by code unit, before by code point.
HIGH_TEXT = st.text(st.characters(min_codepoint=0xE000), max_size=3)


def stdlib_form(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


@settings(max_examples=150, deadline=None)
@given(ANY_VALUES)
def test_reading_back_and_rewriting_is_a_fixed_point(value: Any) -> None:
    first = canonical(value)
    decoded = orjson.loads(first)
    assert decoded == value
    assert canonical(decoded) == first


@settings(max_examples=150, deadline=None)
@given(ASCII_VALUES)
def test_printable_ascii_matches_the_standard_library(value: Any) -> None:
    assert canonical(value) == stdlib_form(value)


@settings(max_examples=100, deadline=None)
@given(BMP_KEYED_VALUES)
def test_bmp_names_and_any_strings_match_the_standard_library(value: Any) -> None:
    # json.dumps escapes exactly '"', '\\' and U+0000..U+001F, as ECMAScript does.
    assert canonical(value) == stdlib_form(value)


def reordered(value: Any, rnd: random.Random) -> Any:
    """``value`` with every object's members inserted in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {key: reordered(item, rnd) for key, item in items}
    if isinstance(value, list):
        return [reordered(item, rnd) for item in value]
    return value


@settings(max_examples=100, deadline=None)
@given(ANY_VALUES, st.randoms(use_true_random=False))
def test_member_insertion_order_never_changes_the_output(value: Any,
                                                         rnd: random.Random) -> None:
    assert canonical(reordered(value, rnd)) == canonical(value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text() | HIGH_TEXT, SAFE_INTS, min_size=2, max_size=8))
def test_members_are_sorted_by_utf16_code_units(value: dict[str, int]) -> None:
    names = list(orjson.loads(canonical(value)))
    assert names == sorted(value, key=utf16_units)


def utf16_units(name: str) -> list[int]:
    """The UTF-16 code units of ``name``, computed from the code points by hand."""
    units = []
    for code in map(ord, name):
        if code < 0x10000:
            units.append(code)
        else:
            offset = code - 0x10000
            units += [0xD800 + (offset >> 10), 0xDC00 + (offset & 0x3FF)]
    return units


def test_utf16_units_helper_knows_the_rfc_emoji() -> None:
    assert utf16_units("\U0001F600") == [0xD83D, 0xDE00]


def exact_writer(value: Any) -> bytes:
    """The character-by-character RFC 8785 writer, without the orjson fast path."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode()


@given(ANY_VALUES)
def test_the_fast_path_writes_what_the_exact_writer_writes(value: Any) -> None:
    assert canonical(value) == exact_writer(value)


def test_values_outside_the_fast_path_still_get_the_exact_form() -> None:
    value = {"\ue000": 1, "\U0001f600": [True, None, "x"], "b": {"n": 2**53}}
    assert canonical(value) == exact_writer(value)
    assert canonical(value).index("\U0001f600".encode()) < canonical(value).index(
        "\ue000".encode())


FRAME_STRINGS = st.text()


@settings(max_examples=150, deadline=None)
@given(ANY_VALUES, FRAME_STRINGS, SAFE_INTS)
def test_a_frame_with_one_unknown_part_writes_what_the_exact_writer_writes(
        inner: Any, text: str, number: int) -> None:
    # entries.entry_bytes walks only ``data``: the frame around it must not change the bytes
    frame = {"v": 1, "log": text, "index": number, "event": {"type": text}, "data": inner}
    assert canonical_framed(frame, inner) == exact_writer(frame) == canonical(frame)


@pytest.mark.parametrize("inner", [1.5, {"n": 2**53 + 1}, {1: "x"}, [b"raw"], {"é": 1}])
def test_a_frame_refuses_or_orders_exactly_what_the_inner_part_needs(inner: Any) -> None:
    frame = {"data": inner, "v": 1}
    try:
        expected = canonical(frame)
    except CanonicalError:
        with pytest.raises(CanonicalError):
            canonical_framed(frame, inner)
    else:
        assert canonical_framed(frame, inner) == expected == exact_writer(frame)
