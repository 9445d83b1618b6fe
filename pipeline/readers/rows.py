"""Rows shared by every format: kept documents, read rejections, and batching into Arrow tables.

Each format module only turns a file into `Row`s; `tables` does the rest, so that the rules
every reader must follow (the text checks, one row per record, a file that cannot be read to its
end closing with one `unreadable_file` row) live in one place.

Only the errors of reading are caught: I/O, decompression and container-format errors
(`READ_ERRORS`). Anything else raised by a reader is a bug in prep and fails the run, naming
the file; a file that is merely unreadable never does (the runner counts them against
`run.max_unreadable_files`).
"""

from __future__ import annotations

import lzma
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa
import zstandard
from warcio.recordloader import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParserException

from prep.core.records import BASE_SCHEMA
from prep.core.streams import TruncatedInput
from prep.pipeline.config import SourceConfig
from prep.pipeline.sources import InputFile

#: Value of `_stage` for rows rejected while reading.
STAGE = "read"

#: However small max_doc_bytes is, a reader may hold this much of one record in memory.
MIN_READ_LIMIT = 64 << 20


#: What reading a file may raise on a bad file: I/O (missing, permissions, network; gzip's and
#: bz2's bad-data errors are OSErrors), a stream cut short, corrupt compressed data, a broken
#: Parquet footer or page (Arrow), a WARC container warcio cannot parse, bytes that are not
#: text where the format needs text. Each reader handles bad *records* itself.
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    TruncatedInput,
    zlib.error,
    lzma.LZMAError,
    zstandard.ZstdError,
    pa.ArrowException,
    ArchiveLoadFailed,
    StatusAndHeadersParserException,
    UnicodeError,
)


def read_error_detail(exc: BaseException) -> str:
    """What a read error says, without a message that may quote the file's bytes.

    The messages of our own truncation checks and of an OSError's `strerror` name no content;
    others (warcio quotes the first line it could not parse, gzip the first bytes) are shown
    by type only.
    """
    name = type(exc).__name__
    if isinstance(exc, TruncatedInput | EOFError):
        message = str(exc)
    elif isinstance(exc, OSError):
        message = exc.strerror or ""
    else:
        message = ""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return f"{name}: {first}" if first else name


class Row(NamedTuple):
    """One record of a file; `rule` is None for a kept document."""

    id: str
    text: str | None
    url: str | None = None
    rule: str | None = None
    reason: str | None = None
    nbytes: int = 0  # UTF-8 size of text, for batch sizing (approximate for rejections)
    source_id: str | None = None  # the record's own id (`id_field`, WARC-Record-ID)
    metadata: str | None = None  # the source's `metadata_fields` as JSON (see readers.metadata)


@dataclass
class Cursor:
    """How far a reader got, so that an unreadable file can say where it broke."""

    unit: str = "record"  # "line", "row", "response record", "byte", ...
    n: int = 0  # the last unit fully read

    def describe(self) -> str:
        if self.unit == "byte":
            return f"after {self.n:,} bytes"
        return f"after {self.unit} {self.n}" if self.n else f"before {self.unit} 1"


def read_limit(source: SourceConfig) -> int:
    """Most bytes of one record a reader holds in memory.

    Six times max_doc_bytes leaves room for JSON escapes and markup around a text that is still
    within max_doc_bytes; anything longer is rejected as oversized without being read whole.
    """
    return max(6 * source.max_doc_bytes + 4096, MIN_READ_LIMIT)


def reject(row_id: str, rule: str, reason: str, text: str | None = None, url: str | None = None) -> Row:
    return Row(row_id, text, url, rule, reason, len(text) if text else 0)


def document(row_id: str, text: str, where: str, source: SourceConfig, url: str | None = None) -> Row:
    """A kept row, or the rejection that the text checks shared by all formats call for."""
    if not text or text.isspace():
        return reject(row_id, "empty_text", f"empty text at {where}", text, url)
    if text.isascii():  # O(1) in CPython: no need to encode
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:  # lone surrogates, e.g. from a JSON "\ud800" escape
            bad = f"\\u{ord(text[exc.start]):04x}"
            return reject(
                row_id,
                "bad_utf8",
                f"text holds an unpaired surrogate {bad} (not valid Unicode) at {where}",
                scrub(text),
                url,
            )
    if size > source.max_doc_bytes:
        reason = f"text is {size:,} bytes at {where}, more than max_doc_bytes={source.max_doc_bytes:,}"
        return reject(row_id, "oversized", reason, text, url)
    return Row(row_id, text, url, None, None, size)


_SURROGATE = re.compile("[\ud800-\udfff]")


def source_id(value: object) -> str | None:
    """A record's own id as prep keeps it: strings as they are, integers in decimal; None for
    any other type (the caller rejects the record as `bad_id`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def scrub(value: str) -> str:
    """`value` with each lone surrogate replaced by U+FFFD, so that it can be stored as UTF-8."""
    return _SURROGATE.sub("\ufffd", value)


def _strings(values: list[str | None]) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowException, UnicodeEncodeError):  # a lone surrogate in a URL or a JSON key
        return pa.array([v if v is None else scrub(v) for v in values], pa.string())


class _Batcher:
    """Collects rows into tables of at most `max_rows` rows and about `max_bytes` of text."""

    def __init__(self, source: SourceConfig, max_rows: int, max_bytes: int):
        if max_rows < 1 or max_bytes < 1:
            raise ValueError(f"batch_rows and batch_bytes must be positive, got {max_rows}, {max_bytes}")
        self.source = source
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.rows: list[Row] = []
        self.nbytes = 0

    def add(self, row: Row) -> pa.Table | None:
        """Take a row; return the batch it closes, if any (a full batch waits for the next row)."""
        table = None
        if self.rows and (len(self.rows) >= self.max_rows or self.nbytes + row.nbytes > self.max_bytes):
            table = self.flush()
        self.rows.append(row)
        self.nbytes += row.nbytes
        return table

    def flush(self) -> pa.Table | None:
        if not self.rows:
            return None
        rows, self.rows, self.nbytes = self.rows, [], 0
        n = len(rows)
        ids, texts, urls, rules, reasons, _, source_ids, metadata = zip(*rows, strict=True)
        columns = [
            _strings(list(ids)),
            _strings(list(texts)),
            pa.array([self.source.name] * n, pa.string()),
            pa.array([self.source.domain] * n, pa.string()),
            _strings(list(urls)),
            _strings(list(source_ids)),
            _strings(list(metadata)),
            pa.array([STAGE if rule else None for rule in rules], pa.string()),
            pa.array(rules, pa.string()),
            _strings(list(reasons)),
        ]
        return pa.Table.from_arrays(columns, schema=BASE_SCHEMA)


RowReader = Callable[[InputFile, SourceConfig, Cursor], Iterator[Row]]


def tables(
    rows: RowReader, file: InputFile, source: SourceConfig, batch_rows: int, batch_bytes: int
) -> Iterator[pa.Table]:
    """Batch a format's rows into BASE_SCHEMA tables; a read error becomes one final rejection.

    On a read error (`READ_ERRORS`) the rows read before it are kept and one `unreadable_file`
    row stands for the rest of the file. Any other exception propagates: it is a bug, and the
    read task reports it with the file's name.
    """
    batcher = _Batcher(source, batch_rows, batch_bytes)
    cursor = Cursor()
    it = rows(file, source, cursor)
    while True:
        try:
            row = next(it)
        except StopIteration:
            break
        except READ_ERRORS as exc:
            reason = f"cannot read {file.url} {cursor.describe()}: {read_error_detail(exc)}"
            row = reject(f"{source.name}/{file.relpath}:error", "unreadable_file", reason)
            table = batcher.add(row)
            if table is not None:
                yield table
            break
        table = batcher.add(row)
        if table is not None:
            yield table
    table = batcher.flush()
    if table is not None:
        yield table
