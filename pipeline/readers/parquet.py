"""Parquet: one document per row, the text in column `source.text_field`.

Only the text (and URL) columns are read, batch by batch, so a file of any size streams through
in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from prep.pipeline.config import SourceConfig
from prep.pipeline.readers.rows import Cursor, Row, document, reject, tables
from prep.pipeline.source_metadata import encode, plain
from prep.pipeline.sources import InputFile

#: Rows decoded at a time; small, because a row may hold a document of many megabytes.
_READ_BATCH = 128


def read_parquet(
    file: InputFile, source: SourceConfig, batch_rows: int = 512, batch_bytes: int = 32 << 20
) -> Iterator[pa.Table]:
    """Rows of a Parquet file, one per table row."""
    return tables(_rows, file, source, batch_rows, batch_bytes)


def resolve(schema: pa.Schema, path: str) -> tuple[str, list[str]] | None:
    """(top-level column, struct fields below it) for a column name or dotted path; None if absent."""
    if path in schema.names:
        return path, []
    top, *fields = path.split(".")
    if top not in schema.names:
        return None
    kind = schema.field(top).type
    for name in fields:
        if not pa.types.is_struct(kind) or kind.get_field_index(name) < 0:
            return None
        kind = kind.field(name).type
    return top, fields


def _column(batch: pa.RecordBatch, where: tuple[str, list[str]]) -> pa.Array:
    array = batch.column(where[0])
    for name in where[1]:
        array = pc.struct_field(array, name)
    return array


def _kind(kind: pa.DataType) -> str:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "string"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return "binary"
    return "null" if pa.types.is_null(kind) else "other"


def _open(url: str, stack: ExitStack) -> pq.ParquetFile:
    fs, path = url_to_fs(url)
    if isinstance(fs, LocalFileSystem):  # pyarrow's own reader, without Python in the I/O loop
        return stack.enter_context(pq.ParquetFile(path))
    return stack.enter_context(pq.ParquetFile(stack.enter_context(fs.open(path, "rb"))))


def _rows(file: InputFile, source: SourceConfig, cursor: Cursor) -> Iterator[Row]:
    cursor.unit = "row"
    prefix = f"{source.name}/{file.relpath}:"
    field = source.text_field
    with ExitStack() as stack:
        pf = _open(file.url, stack)
        schema = pf.schema_arrow
        text_at = resolve(schema, field)
        url_at = resolve(schema, source.url_field) if source.url_field else None
        id_at = resolve(schema, source.id_field) if source.id_field else None  # absent: null ids
        meta_at = _metadata_columns(schema, source, text_at)
        wanted = [text_at, url_at, id_at, *(at for _, at in meta_at or [])]
        columns = sorted({at[0] for at in wanted if at is not None})
        missing = None
        if text_at is None:
            names = ", ".join(schema.names[:20]) + (", ..." if len(schema.names) > 20 else "")
            missing = f"no column {field!r} in {file.url} (columns: {names or 'none'})"
        n = 0
        for batch in pf.iter_batches(batch_size=_READ_BATCH, columns=columns, use_threads=False):
            urls = _urls(_column(batch, url_at)) if url_at else None
            ids, bad_type = _ids(_column(batch, id_at)) if id_at else ([None] * batch.num_rows, None)
            metas = _metadata(batch, meta_at)
            if text_at is None:
                for i in range(batch.num_rows):
                    n += 1
                    url = urls[i] if urls else None
                    row = reject(prefix + str(n), "missing_text", f"{missing}, row {n}", None, url)
                    row = row._replace(metadata=metas[i])
                    yield _with_id(row, ids[i], bad_type, source, f"{file.url} row {n}")
                    cursor.n = n
                continue
            array = _column(batch, text_at)
            kind = _kind(array.type)
            for i, value in enumerate(array.to_pylist()):
                n += 1
                url = urls[i] if urls else None
                where = f"{file.url} row {n}"
                if value is None:
                    reason = f"column {field!r} is null at {where}"
                    row = reject(prefix + str(n), "missing_text", reason, None, url)
                else:
                    row = _row(prefix + str(n), value, kind, array.type, where, source, url)
                yield _with_id(row._replace(metadata=metas[i]), ids[i], bad_type, source, where)
                cursor.n = n


def _metadata_columns(
    schema: pa.Schema, source: SourceConfig, text_at: tuple[str, list[str]] | None
) -> list[tuple[str, tuple[str, list[str]] | None]] | None:
    """(field name, where it is in the file or None) for each of the source's metadata fields."""
    fields = source.metadata_fields
    if fields is None:
        return None
    if fields == "all":
        text_column = text_at[0] if text_at else source.text_field
        return [(name, (name, [])) for name in schema.names if name != text_column]
    return [(name, resolve(schema, name)) for name in fields]


def _metadata(batch: pa.RecordBatch, meta_at: list | None) -> list[str | None]:
    """Each row's metadata as JSON (a column the file lacks is null in every row)."""
    n = batch.num_rows
    if meta_at is None:
        return [None] * n
    columns = [(name, _column(batch, at).to_pylist() if at else [None] * n) for name, at in meta_at]
    return [encode({name: plain(values[i]) for name, values in columns}) for i in range(n)]


def _ids(array: pa.Array) -> tuple[list[str | None], str | None]:
    """The id column's values as strings (integers in decimal); with the column's type when it
    is neither a string nor an integer (its non-null values are then `bad_id`)."""
    kind = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
    if _kind(kind) == "string":
        return array.to_pylist(), None
    if pa.types.is_integer(kind):
        return [None if v is None else str(v) for v in array.to_pylist()], None
    return array.to_pylist(), str(kind)


def _with_id(row: Row, value, bad_type: str | None, source: SourceConfig, where: str) -> Row:
    if value is None:
        return row
    if bad_type is not None:
        reason = f"column {source.id_field!r} is of type {bad_type}, not a string or an integer, at {where}"
        return reject(row.id, "bad_id", reason, row.text, row.url)
    return row._replace(source_id=value)


def _urls(array: pa.Array) -> list[str | None]:
    if _kind(array.type) == "string":
        return array.to_pylist()
    return [
        None if v is None else v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        for v in array.to_pylist()
    ]


def _row(
    row_id: str, value, kind: str, arrow_type: pa.DataType, where: str, source: SourceConfig, url: str | None
) -> Row:
    """The row for one non-null value of the text column."""
    field = source.text_field
    if kind == "binary":
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"invalid UTF-8 in column {field!r} at {where}: {exc.reason} (byte {exc.start + 1})"
            return reject(row_id, "bad_utf8", reason, value.decode("utf-8", "replace"), url)
    elif kind != "string":
        reason = f"column {field!r} is of type {arrow_type}, not a string, at {where}"
        return reject(row_id, "not_text", reason, str(value), url)
    return document(row_id, value, where, source, url)
