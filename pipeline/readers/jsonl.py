"""JSON Lines: one object per line, the text in `source.text_field`.

Lines are split and decoded from bytes one at a time, so that one line of bad UTF-8 or bad JSON
is one rejection and the line numbers in ids and messages are the file's own line numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa

from prep.core.fields import MISSING, lookup
from prep.core.streams import open_binary
from prep.pipeline.config import SourceConfig
from prep.pipeline.readers.rows import Cursor, Row, document, read_limit, reject, source_id, tables
from prep.pipeline.source_metadata import encode, json_kind
from prep.pipeline.sources import InputFile


def read_jsonl(
    file: InputFile, source: SourceConfig, batch_rows: int = 512, batch_bytes: int = 32 << 20
) -> Iterator[pa.Table]:
    """Rows of a .jsonl file (plain or .gz/.zst/.bz2/.xz), one per non-blank line."""
    return tables(_rows, file, source, batch_rows, batch_bytes)


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while True:
        chunk = stream.readline(1 << 20)
        if not chunk or chunk.endswith(b"\n"):
            return


def _rows(file: InputFile, source: SourceConfig, cursor: Cursor) -> Iterator[Row]:
    cursor.unit = "line"
    limit = read_limit(source)
    prefix = f"{source.name}/{file.relpath}:"
    with open_binary(file.url) as stream:
        n = 0
        while True:
            raw = stream.readline(limit)
            if not raw:
                return
            n += 1
            if len(raw) >= limit and not raw.endswith(b"\n"):
                _skip_rest_of_line(stream)
                reason = (
                    f"line {file.url}:{n} is longer than {limit:,} bytes, the most a reader holds of "
                    f"one record (6 × max_doc_bytes); the text column holds its first {limit:,} bytes"
                )
                yield reject(prefix + str(n), "oversized", reason, raw.decode("utf-8", "replace"))
            elif not raw.isspace():  # a blank line is no record: it has a line number, no row
                yield _parse(raw, n, prefix + str(n), file, source)
            cursor.n = n


def _parse(raw: bytes, n: int, row_id: str, file: InputFile, source: SourceConfig) -> Row:
    where = f"{file.url}:{n}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"invalid UTF-8 at {where}: {exc.reason} (byte {exc.start + 1} of the line)"
        return reject(row_id, "bad_utf8", reason, raw.decode("utf-8", "replace").rstrip("\r\n"))
    if n == 1 and line.startswith("\ufeff"):  # a byte order mark is no part of the first record
        line = line[1:]
    record = line.rstrip("\r\n")
    try:
        obj = json.loads(record)
    except json.JSONDecodeError as exc:
        return reject(row_id, "bad_json", f"invalid JSON at {where}: {exc.msg} (col {exc.colno})", record)
    except (ValueError, RecursionError) as exc:  # integers too long to convert, nesting too deep
        return reject(row_id, "bad_json", f"invalid JSON at {where}: {exc}", record)
    if not isinstance(obj, dict):
        reason = f"not a JSON object at {where}: the line holds a JSON {json_kind(obj)}"
        return reject(row_id, "bad_json", reason, record)

    meta = _metadata(obj, source)
    url = None
    if source.url_field is not None:
        value = lookup(obj, source.url_field)
        if value is not MISSING and value is not None:
            url = value if isinstance(value, str) else json.dumps(value)

    sid = None
    if source.id_field is not None:
        value = lookup(obj, source.id_field)
        if value is not MISSING and value is not None:  # a record without one keeps a null
            sid = source_id(value)
            if sid is None:
                kind = json_kind(value)
                reason = f"field {source.id_field!r} is a JSON {kind}, not a string or an integer, at {where}"
                return reject(row_id, "bad_id", reason, record, url)._replace(metadata=meta)
    return _text_row(obj, row_id, where, source, record, url)._replace(source_id=sid, metadata=meta)


def _metadata(obj: dict, source: SourceConfig) -> str | None:
    """The record's `metadata_fields` as JSON; a field it lacks is null."""
    fields = source.metadata_fields
    if fields is None:
        return None
    if fields == "all":
        return encode({k: v for k, v in obj.items() if k != source.text_field})
    values = {}
    for name in fields:
        value = lookup(obj, name)
        values[name] = None if value is MISSING else value
    return encode(values)


def _text_row(obj: dict, row_id: str, where: str, source: SourceConfig, record: str, url: str | None) -> Row:
    field = source.text_field
    text = lookup(obj, field)
    if text is MISSING:
        keys = ", ".join(list(obj)[:20]) + (", ..." if len(obj) > 20 else "")
        reason = f"no field {field!r} at {where} (the record has: {keys or 'no fields'})"
        return reject(row_id, "missing_text", reason, record, url)
    if text is None:
        return reject(row_id, "missing_text", f"field {field!r} is null at {where}", record, url)
    if not isinstance(text, str):
        reason = f"field {field!r} is a JSON {json_kind(text)}, not a string, at {where}"
        return reject(row_id, "not_text", reason, record, url)
    return document(row_id, text, where, source, url)
