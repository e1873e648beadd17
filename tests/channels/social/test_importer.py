"""Imports of exported social items, JSONL and CSV: good rows kept, bad ones reported."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cxprism.channels.protocol import ItemKind
from cxprism.channels.social import ImportRefused, parse_import
from cxprism.channels.social.importer import MAX_LINE_BYTES, MAX_ROWS

HEADER = ("type,id,network,author_handle,author_name,author_id,text,url,public,created_at,"
          "in_reply_to,thread_id,rating,language")


def line(**changes: Any) -> str:
    base: dict[str, Any] = {"type": "review", "id": "r1", "author": {"handle": "@Ann"},
                            "text": "Great service", "rating": 5}
    return json.dumps(base | changes)


def test_jsonl_keeps_good_lines_skips_blank_ones_and_numbers_bad_ones() -> None:
    data = "\n".join([
        line(id="r1"),
        "",
        "   ",
        line(id="r2", rating=9),
        "{not json",
        "[1, 2]",
        line(id="r3", network="google_reviews"),
        line(id="r4", url="javascript:alert(1)"),
    ]) + "\n"
    result = parse_import(data.encode(), "jsonl", "trustpilot")
    assert [m.external_id for m in result.messages] == ["trustpilot:r1", "google_reviews:r3"]
    assert [number for number, _ in result.rejected] == [4, 5, 6, 8]
    reasons = dict(result.rejected)
    assert reasons[4].startswith("rating:")
    assert "not valid JSON" in reasons[5]
    assert "JSON object" in reasons[6]
    assert reasons[8].startswith("url:")
    assert result.messages[0].kind is ItemKind.REVIEW
    assert result.messages[0].sender[0].value == "ann"


def test_jsonl_with_a_bom_and_crlf_line_ends() -> None:
    data = "\ufeff" + line(id="a") + "\r\n" + line(id="b") + "\r\n"
    result = parse_import(data.encode(), "jsonl", "trustpilot")
    assert [m.external_id for m in result.messages] == ["trustpilot:a", "trustpilot:b"]
    assert result.rejected == []


def test_a_line_separator_inside_a_json_string_does_not_split_the_line() -> None:
    result = parse_import(line(text="one\u2028two").encode(), "jsonl", "trustpilot")
    assert result.messages[0].text == "one\u2028two"


def test_items_without_a_network_need_a_default() -> None:
    result = parse_import(line().encode(), "jsonl", None)
    assert result.messages == []
    assert result.rejected == [(1, "network is missing and there is no default network")]


def test_an_invalid_default_network_refuses_the_import() -> None:
    with pytest.raises(ImportRefused, match="network"):
        parse_import(b"", "jsonl", "Not A Network")


def test_an_overlong_jsonl_line_is_rejected_by_number() -> None:
    data = line(id="a") + "\n" + line(id="b", padding="x" * MAX_LINE_BYTES) + "\n"
    result = parse_import(data.encode(), "jsonl", "trustpilot")
    assert [m.external_id for m in result.messages] == ["trustpilot:a"]
    [(number, reason)] = result.rejected
    assert number == 2
    assert "at most 32,768" in reason


def test_text_that_is_not_utf8_is_refused_with_its_line() -> None:
    data = line(id="a").encode() + b"\n" + "caf\u00e9".encode("latin-1") + b"\n"
    with pytest.raises(ImportRefused, match=r"not UTF-8.*line 2"):
        parse_import(data, "jsonl", "trustpilot")


def test_too_many_rows_are_refused() -> None:
    data = ("{}\n" * (MAX_ROWS + 1)).encode()
    with pytest.raises(ImportRefused, match="more than 100,000 rows"):
        parse_import(data, "jsonl", "trustpilot")


def test_csv_rows_are_mapped_with_flattened_author_fields() -> None:
    data = "\n".join([
        HEADER,
        'review,r1,trustpilot,@Ann,Ann Lee,u1,"Quick, friendly",https://tp.example/r1,true,'
        "2024-05-01T09:30:00Z,,,4,en",
        'comment,c1,facebook,bob,,,"Line one\nLine two",,false,,p1,p0,,',
    ]) + "\n"
    result = parse_import(data.encode(), "csv", None)
    assert result.rejected == []
    review, comment = result.messages
    assert review.external_id == "trustpilot:r1"
    assert review.sender_name == "Ann Lee"
    assert review.text == "Quick, friendly"
    assert review.metadata == {"network": "trustpilot", "url": "https://tp.example/r1",
                               "public": True, "rating": 4, "author_id": "u1",
                               "language": "en"}
    assert comment.kind is ItemKind.COMMENT
    assert comment.text == "Line one\nLine two"
    assert comment.metadata["public"] is False
    assert comment.thread_refs == ["facebook:p1"]
    assert comment.thread_key == "facebook:p0"


def test_csv_reports_bad_rows_by_the_line_they_start_on() -> None:
    data = "\ufeff" + "\r\n".join([
        "Type, ID ,Author_Handle,Text,Rating,Extra",
        "review,r1,ann,fine,5,ignored",
        'review,r2,bob,"two\r\nlines",7,',
        "",
        "post,p1,,no author,,",
        "post,p2,carl,fine,,",
        "post,p3,dan,too,many,cells,here",
        "bogus,p4,eve,x,,",
    ]) + "\r\n"
    result = parse_import(data.encode(), "csv", "trustpilot")
    assert [m.external_id for m in result.messages] == ["trustpilot:r1", "trustpilot:p2"]
    reasons = dict(result.rejected)
    assert sorted(reasons) == [3, 6, 8, 9]
    assert reasons[3].startswith("rating:")
    assert reasons[6].startswith("author.handle:")
    assert "cells" in reasons[8]
    assert reasons[9].startswith("type:")


def test_csv_short_rows_leave_the_missing_cells_empty() -> None:
    result = parse_import(b"type,id,author_handle,text\npost,p1,ann\n", "csv", "reddit")
    assert result.messages[0].text == ""


def test_an_overlong_csv_row_is_rejected() -> None:
    data = f"type,id,author_handle,text\npost,p1,ann,{'x' * MAX_LINE_BYTES}\npost,p2,bob,ok\n"
    result = parse_import(data.encode(), "csv", "reddit")
    assert [m.external_id for m in result.messages] == ["reddit:p2"]
    assert result.rejected[0][0] == 2


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"type,id,text\npost,1,x\n", "author_handle"),
    (b"type,id,author_handle,id\n", "repeats id"),
])
def test_csv_without_a_usable_header_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ImportRefused, match=message):
        parse_import(data, "csv", "reddit")


def test_csv_that_is_not_utf8_is_refused() -> None:
    data = "type,id,author_handle,text\npost,1,zoë,x\n".encode("cp1252")
    with pytest.raises(ImportRefused, match=r"not UTF-8.*line 2"):
        parse_import(data, "csv", "reddit")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ImportRefused, match="format"):
        parse_import(b"", "xml", "reddit")  # type: ignore[arg-type]
