"""Plain text: every file is one document (books, code files, a folder of .txt)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator

import pyarrow as pa

from prep.core.streams import open_binary
from prep.pipeline.config import SourceConfig
from prep.pipeline.readers.rows import Cursor, Row, document, read_limit, reject, tables
from prep.pipeline.sources import InputFile

_CHUNK = 1 << 20


def read_text(
    file: InputFile, source: SourceConfig, batch_rows: int = 512, batch_bytes: int = 32 << 20
) -> Iterator[pa.Table]:
    """The one row of a text file (plain or compressed)."""
    return tables(_rows, file, source, batch_rows, batch_bytes)


def _rows(file: InputFile, source: SourceConfig, cursor: Cursor) -> Iterator[Row]:
    cursor.unit = "byte"
    row_id = f"{source.name}/{file.relpath}"
    limit = read_limit(source)
    chunks: list[bytes] = []
    with open_binary(file.url) as stream:
        while cursor.n <= limit:  # read in chunks, so that a break says how far the file was read
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            cursor.n += len(chunk)
    data = b"".join(chunks)
    if len(data) > limit:
        reason = (
            f"{file.url} is larger than {limit:,} bytes, the most a reader holds of one document "
            f"(6 × max_doc_bytes); the text column holds its first {limit:,} bytes"
        )
        yield reject(row_id, "oversized", reason, data[:limit].decode("utf-8", "replace"))
        return
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = f"invalid UTF-8 in {file.url} at line {line} (byte {exc.start + 1}): {exc.reason}"
        yield reject(row_id, "bad_utf8", reason, data.decode("utf-8", "replace"))
        return
    yield document(row_id, text, file.url, source)
