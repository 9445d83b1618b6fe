"""WARC (HTML responses, extracted to text) and WET (Common Crawl's already-extracted text).

A document is a `response` record (WARC) or a `conversion` record (WET); other records
(warcinfo, request, metadata, revisit) are not documents and get no row. `.gz` files are
decompressed here rather than by warcio: it handles whole-file gzip as well as per-record gzip,
and a truncated file raises instead of ending quietly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
from warcio.archiveiterator import WARCIterator
from warcio.recordloader import ArcWarcRecord

from prep.core.streams import TruncatedInput, open_binary
from prep.pipeline.config import SourceConfig
from prep.pipeline.readers.html import decode_html, extract_text, is_html, may_be_html, parse_content_type
from prep.pipeline.readers.logs import quiet
from prep.pipeline.readers.rows import Cursor, Row, document, read_limit, reject, tables
from prep.pipeline.source_metadata import WARC_ALL, encode
from prep.pipeline.sources import InputFile


def read_warc(
    file: InputFile, source: SourceConfig, batch_rows: int = 512, batch_bytes: int = 32 << 20
) -> Iterator[pa.Table]:
    """Rows of a WARC file, one per response record, HTML extracted to text."""
    return tables(_warc_rows, file, source, batch_rows, batch_bytes)


def read_wet(
    file: InputFile, source: SourceConfig, batch_rows: int = 512, batch_bytes: int = 32 << 20
) -> Iterator[pa.Table]:
    """Rows of a WET file, one per conversion record."""
    return tables(_wet_rows, file, source, batch_rows, batch_bytes)


def _check_complete(record: ArcWarcRecord) -> None:
    """Read the rest of a record and fail if the file ends before its Content-Length does.

    warcio itself hands out a cut-short last record as if it were whole.
    """
    stream = record.raw_stream
    while stream.read(1 << 16):
        pass
    missing = getattr(stream, "limit", 0)
    if missing > 0:
        raise TruncatedInput(f"the file ends inside a {record.rec_type} record, {missing:,} bytes short")


def _records(file: InputFile, kind: str, cursor: Cursor) -> Iterator[tuple[int, ArcWarcRecord]]:
    """(ordinal, record) for each record of type `kind`; every record is checked to be whole."""
    cursor.unit = f"{kind} record"
    quiet("warcio")
    with open_binary(file.url) as stream:
        n = 0
        for record in WARCIterator(stream, check_digests=False):
            if record.rec_type == kind:
                n += 1
                yield n, record
                cursor.n = n
            _check_complete(record)


def _payload(record: ArcWarcRecord, limit: int) -> bytes:
    """At most limit + 1 bytes of the record's payload (HTTP chunking and gzip undone)."""
    return record.content_stream().read(limit + 1)


def _rows_of(
    kind: str, row_of: Callable[..., Row], file: InputFile, source: SourceConfig, cursor: Cursor
) -> Iterator[Row]:
    """One row per record of `kind`, each with the record's WARC-Record-ID as its source_id."""
    prefix = f"{source.name}/{file.relpath}:"
    limit = read_limit(source)
    fields = WARC_ALL if source.metadata_fields == "all" else source.metadata_fields
    for n, record in _records(file, kind, cursor):
        row = row_of(n, record, prefix, limit, file, source)
        headers = record.rec_headers
        meta = None
        if fields is not None:
            meta = encode({name: headers.get_header(name) for name in fields})
        yield row._replace(source_id=headers.get_header("WARC-Record-ID"), metadata=meta)


def _warc_rows(file: InputFile, source: SourceConfig, cursor: Cursor) -> Iterator[Row]:
    return _rows_of("response", _warc_record, file, source, cursor)


def _warc_record(
    n: int, record: ArcWarcRecord, prefix: str, limit: int, file: InputFile, source: SourceConfig
) -> Row:
    """The row of one response record."""
    row_id = prefix + str(n)
    url = record.rec_headers.get_header("WARC-Target-URI")
    where = f"{file.url} response record {n}"
    http = record.http_headers
    status = http.get_statuscode() if http is not None else None
    if status is not None and not str(status).startswith("2"):
        _check_complete(record)
        return reject(row_id, "http_status", f"HTTP status {status} at {where}", None, url)
    mime, charset = parse_content_type(http.get_header("Content-Type") if http is not None else None)
    data = _payload(record, limit) if may_be_html(mime) else b""  # images etc. are not read
    _check_complete(record)
    if not is_html(mime, data):
        shown = mime or "without a Content-Type"
        return reject(row_id, "not_html", f"not HTML at {where}: {shown}", None, url)
    if len(data) > limit:
        reason = f"HTML payload larger than {limit:,} bytes (6 × max_doc_bytes) at {where}"
        return reject(row_id, "oversized", reason, None, url)
    html = decode_html(data, charset)
    try:
        text = extract_text(html)
    except Exception as exc:  # a parser failure on one hostile page must not end the file
        reason = f"text extraction failed at {where}: {type(exc).__name__}"  # a message may quote the page
        return reject(row_id, "extract_error", reason, html, url)
    if not text or text.isspace():
        reason = f"no text extracted from the HTML at {where}"
        return reject(row_id, "no_text_extracted", reason, html, url)
    return document(row_id, text, where, source, url)


def _wet_rows(file: InputFile, source: SourceConfig, cursor: Cursor) -> Iterator[Row]:
    return _rows_of("conversion", _wet_record, file, source, cursor)


def _wet_record(
    n: int, record: ArcWarcRecord, prefix: str, limit: int, file: InputFile, source: SourceConfig
) -> Row:
    """The row of one conversion record."""
    row_id = prefix + str(n)
    url = record.rec_headers.get_header("WARC-Target-URI")
    where = f"{file.url} conversion record {n}"
    data = _payload(record, limit)
    _check_complete(record)
    if len(data) > limit:
        reason = f"payload larger than {limit:,} bytes (6 × max_doc_bytes) at {where}"
        return reject(row_id, "oversized", reason, data[:limit].decode("utf-8", "replace"), url)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"invalid UTF-8 at {where}: {exc.reason} (byte {exc.start + 1})"
        return reject(row_id, "bad_utf8", reason, data.decode("utf-8", "replace"), url)
    return document(row_id, text, where, source, url)
