"""Readers: one input file in, Arrow tables of BASE_SCHEMA rows out.

The Ray Data runner calls `read_file` once per file inside a task. Every record of the file
becomes exactly one row: a kept document, or a rejection (`_stage="read"`, a `_rule` code and a
`_reason` that names the file and the line, row or record). Bad content never raises; a file
that cannot be read to its end yields the rows before the break and one `unreadable_file` row.

Rules: bad_json, bad_utf8, missing_text, not_text, empty_text, oversized, not_html, http_status,
no_text_extracted, extract_error, unreadable_file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pyarrow as pa

from prep.pipeline.config import SourceConfig
from prep.pipeline.readers.jsonl import read_jsonl
from prep.pipeline.readers.parquet import read_parquet
from prep.pipeline.readers.text import read_text
from prep.pipeline.readers.warc import read_warc, read_wet
from prep.pipeline.sources import InputFile, list_input_files

Reader = Callable[..., Iterator[pa.Table]]

#: Source `format` -> reader, each with the signature of `read_file`.
FORMAT_READERS: dict[str, Reader] = {
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "text": read_text,
    "warc": read_warc,
    "wet": read_wet,
}

__all__ = ["FORMAT_READERS", "guess_format", "read_file", "read_source_texts", "read_texts"]

log = logging.getLogger("prep")


def read_file(
    file: InputFile, source: SourceConfig, batch_rows: int = 512, batch_bytes: int = 32 << 20
) -> Iterator[pa.Table]:
    """Tables of at most `batch_rows` rows (and about `batch_bytes` of text, at least one row)."""
    try:
        reader = FORMAT_READERS[source.format]
    except KeyError:
        raise ValueError(f"source {source.name!r}: no reader for format {source.format!r}") from None
    return reader(file, source, batch_rows, batch_bytes)


def guess_format(pattern: str) -> str:
    """A source format from a file name or glob (JSON Lines unless the name says otherwise)."""
    name = pattern.lower()
    for ext, fmt in ((".parquet", "parquet"), (".txt", "text"), (".warc", "warc"), (".wet", "wet")):
        if ext in name:
            return fmt
    return "jsonl"


def read_texts(paths: list[str], fmt: str, text_field: str = "text") -> Iterator[str]:
    """Texts of the documents in `paths` (globs), read by prep's own readers; records the
    readers reject (bad JSON, missing text) are skipped and counted in the log."""
    source = SourceConfig(name="lm", domain="lm", format=fmt, paths=paths, text_field=text_field)
    return read_source_texts(source)


def read_source_texts(source: SourceConfig) -> Iterator[str]:
    """Texts of one source's documents, in file order, read in this process (model training
    reads its bounded sample this way; runs read in Ray workers)."""
    paths = source.paths
    files = list_input_files(paths)
    if not files:
        raise FileNotFoundError(f"no file matches {paths}")
    return _texts(files, source)


def _texts(files: list[InputFile], source: SourceConfig) -> Iterator[str]:
    paths = source.paths
    rejected = 0
    for file in files:
        for table in read_file(file, source):
            columns = table.column("text").to_pylist(), table.column("_stage").to_pylist()
            for text, stage in zip(*columns, strict=True):
                if stage is None and text:
                    yield text
                else:
                    rejected += 1
    if rejected:
        log.warning("%d records of %s could not be read and were skipped", rejected, paths)
