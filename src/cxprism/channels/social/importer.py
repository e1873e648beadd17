"""Bulk imports of social items: an export from a listening tool, as JSONL or CSV.

JSONL holds one item (the format of :mod:`cxprism.channels.social.items`) per line;
blank lines are skipped. CSV has a header row naming the same fields, the author's
flattened: ``type, id, network, author_handle, author_name, author_id, text, url, public,
created_at, in_reply_to, thread_id, rating, language`` (other columns are ignored, empty
cells are missing values). A UTF-8 byte-order mark is tolerated.

Rows are reported by line number (the line a CSV record starts on), each with its reason;
the valid rows are kept. A file that cannot be read at all (not UTF-8, too many rows, a
CSV without the required columns) raises :class:`ImportRefused` and yields nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from cxprism.channels.protocol import InboundMessage
from cxprism.channels.social.items import NETWORK_PATTERN, ItemRejected, parse_item

MAX_ROWS = 100_000
MAX_LINE_BYTES = 32 * 1024
MAX_FILE_BYTES = 64 * 1024 * 1024
CSV_FIELDS = frozenset({
    "type", "id", "network", "author_handle", "author_name", "author_id", "text", "url",
    "public", "created_at", "in_reply_to", "thread_id", "rating", "language"})
CSV_REQUIRED = ("type", "id", "author_handle")


class ImportRefused(ValueError):
    """The whole file is refused; the message says what to fix."""


@dataclass
class ImportResult:
    messages: list[InboundMessage] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def parse_import(data: bytes, fmt: Literal["jsonl", "csv"],
                 network_default: str | None) -> ImportResult:
    """Parse an export; items without a ``network`` take ``network_default``."""
    if network_default is not None and not NETWORK_PATTERN.fullmatch(network_default):
        raise ImportRefused(f"{network_default!r} is not a network name such as twitter")
    if len(data) > MAX_FILE_BYTES:
        raise ImportRefused(f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB; split it")
    text = _decode(data)
    if fmt == "jsonl":
        rows = _jsonl_rows(text)
    elif fmt == "csv":
        rows = _csv_rows(text)
    else:
        raise ImportRefused(f"unknown import format {fmt!r}; use jsonl or csv")
    result = ImportResult()
    for count, (line, raw) in enumerate(rows, start=1):
        if count > MAX_ROWS:
            raise ImportRefused(f"the file has more than {MAX_ROWS:,} rows; split it")
        if isinstance(raw, ItemRejected):
            result.rejected.append((line, str(raw)))
            continue
        try:
            result.messages.append(parse_item(raw, default_network=network_default))
        except ItemRejected as exc:
            result.rejected.append((line, str(exc)))
    return result


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportRefused(
            f"the file is not UTF-8 text (invalid byte at offset {exc.start}, line {line}); "
            "export it again as UTF-8") from None


# A row is (line number, raw item) or (line number, the reason it could not be read).
Row = tuple[int, dict[str, Any] | ItemRejected]


def _too_long(size: int) -> ItemRejected:
    return ItemRejected(f"the line is {size:,} bytes; at most {MAX_LINE_BYTES:,} are allowed")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _jsonl_rows(text: str) -> Iterator[Row]:
    # Split on newlines only: str.splitlines would also split on U+2028 and other
    # separators that JSON allows inside strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        size = len(line.encode("utf-8", "surrogatepass"))
        if size > MAX_LINE_BYTES:
            yield number, _too_long(size)
            continue
        try:
            raw = json.loads(line, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            yield number, ItemRejected(f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        except (ValueError, RecursionError) as exc:
            yield number, ItemRejected(f"not acceptable JSON: {exc}")
            continue
        if not isinstance(raw, dict):
            yield number, ItemRejected("each line must be one JSON object")
            continue
        yield number, raw


def _csv_rows(text: str) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = _csv_header(reader)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, ItemRejected(f"not valid CSV: {exc}")
            continue
        if not any(cell.strip() for cell in cells):
            continue
        yield start, _csv_item(header, cells)


def _csv_header(reader: Any) -> list[str]:
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise ImportRefused("the CSV file is empty; it needs a header row") from None
    except csv.Error as exc:
        raise ImportRefused(f"the CSV header row cannot be read: {exc}") from None
    missing = [name for name in CSV_REQUIRED if name not in header]
    if missing:
        raise ImportRefused(f"the CSV header row lacks the column(s) {', '.join(missing)}")
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        raise ImportRefused(f"the CSV header row repeats {', '.join(duplicates)}")
    return header


def _csv_item(header: list[str], cells: list[str]) -> dict[str, Any] | ItemRejected:
    size = sum(len(cell.encode("utf-8", "surrogatepass")) + 1 for cell in cells)
    if size > MAX_LINE_BYTES:
        return _too_long(size)
    if len(cells) > len(header):
        return ItemRejected(f"the row has {len(cells)} cells; the header names {len(header)}")
    item: dict[str, Any] = {
        name: cell for name, cell in zip(header, cells, strict=False)
        if name in CSV_FIELDS and cell.strip()}
    author = {key: item.pop(f"author_{key}") for key in ("handle", "name", "id")
              if f"author_{key}" in item}
    item["author"] = author
    return item
