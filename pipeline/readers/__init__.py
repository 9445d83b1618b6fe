"""Readers: one input file in, Arrow tables of BASE_SCHEMA rows out.

The Ray Data runner calls `read_file` once per file inside a task. Every record of the file
becomes exactly one row: a kept document, or a rejection (`_stage="read"`, a `_rule` code and a
`_reason` that names the file and the line, row or record). Bad content never raises; a file
that cannot be read to its end yields the rows before the break and one `unreadable_file` row.

Rules: bad_json, bad_utf8, missing_text, not_text, empty_text, oversized, not_html, http_status,
no_text_extracted, extract_error, unreadable_file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa

from pipeline.config import SourceConfig
from pipeline.readers.jsonl import read_jsonl
from pipeline.readers.parquet import read_parquet
from pipeline.readers.text import read_text
from pipeline.readers.warc import read_warc, read_wet
from pipeline.sources import InputFile

Reader = Callable[..., Iterator[pa.Table]]

#: Source `format` -> reader, each with the signature of `read_file`.
FORMAT_READERS: dict[str, Reader] = {
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "text": read_text,
    "warc": read_warc,
    "wet": read_wet,
}

__all__ = ["FORMAT_READERS", "read_file"]


def read_file(
    file: InputFile, source: SourceConfig, batch_rows: int = 512, batch_bytes: int = 32 << 20
) -> Iterator[pa.Table]:
    """Tables of at most `batch_rows` rows (and about `batch_bytes` of text, at least one row)."""
    try:
        reader = FORMAT_READERS[source.format]
    except KeyError:
        raise ValueError(f"source {source.name!r}: no reader for format {source.format!r}") from None
    return reader(file, source, batch_rows, batch_bytes)
