"""A source's own metadata (`metadata_fields`), carried beside the text as one JSON object.

Each row's `metadata` column holds a JSON object of the fields the source names (dotted names
for JSON Lines, column names for Parquet, header names for WARC/WET), in the config's order;
a field a record lacks is null there. JSON keeps the types a trainer cares about: numbers stay
numbers, booleans booleans, lists and objects nested. Parquet values JSON has no type for are
written the way Arrow prints them in ISO form: timestamps and dates as ISO 8601 strings,
decimals as strings (exact), bytes as UTF-8 text (invalid bytes replaced).

A field must hold one JSON type in every record of a source (null aside; integers and floats
are both numbers): the read task counts each field's types (`kinds`), the counts add up in the
read pass's stats, and `check` turns two types into a config error naming the source, the field
and a file and line holding each type.

Cost: the values are serialised once in the read task and parsed once more there to count the
types (~2 µs per row for a handful of fields); nothing about them reaches the driver but the
counts (fields x types per source).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from prep.core.settings import ConfigError

#: Headers a WARC/WET source's `metadata_fields: all` keeps (the record id is also source_id).
WARC_ALL = ("WARC-Record-ID", "WARC-Target-URI", "WARC-Date")

#: Stats key of the read step's per-source, per-field type counts.
KINDS_METRIC = "metadata_kinds"


def plain(value: Any) -> Any:
    """`value` as JSON can hold it (see the module docstring for the types JSON lacks)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    return str(value)


def encode(values: dict[str, Any]) -> str:
    """The metadata column's value for one record."""
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)


def json_kind(value: Any) -> str:
    """A parsed value's JSON type (integers and floats alike are numbers), for counts and messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def kinds(table: pa.Table) -> dict:
    """{source: {field: {type: rows}}} over the non-null metadata values of a read batch (its
    size is the number of distinct field names, which `all` takes from the data)."""
    if "metadata" not in table.column_names or table.column("metadata").null_count == table.num_rows:
        return {}
    out: dict[str, dict[str, dict[str, int]]] = {}
    sources = table.column("source").to_pylist()
    for source, value in zip(sources, table.column("metadata").to_pylist(), strict=True):
        if value is None:
            continue
        fields = out.setdefault(source, {})
        for name, v in json.loads(value).items():
            if v is not None:
                counts = fields.setdefault(name, {})
                k = json_kind(v)
                counts[k] = counts.get(k, 0) + 1
    return out


def conflicts(counts: dict) -> list[tuple[str, str, dict[str, int]]]:
    """(source, field, {type: rows}) for every field seen with more than one JSON type."""
    return [
        (source, name, types)
        for source, fields in sorted(counts.items())
        for name, types in sorted(fields.items())
        if len(types) > 1
    ]


def _first_of_kind(data_dir: str, source: str, field: str, wanted: str) -> str | None:
    """The id (`source/file:line`) of one row of `source` whose `field` is of JSON type `wanted`,
    found by a Ray Data scan of the read pass (run only when a conflict is already known)."""
    import ray

    def of_kind(batch: pa.Table) -> pa.Table:
        batch = batch.filter(pc.equal(batch.column("source"), source))
        keep = [
            m is not None and json_kind(json.loads(m).get(field)) == wanted
            for m in batch.column("metadata").to_pylist()
        ]
        return batch.filter(pa.array(keep, pa.bool_())).select(["id"])

    ds = ray.data.read_parquet(data_dir).select_columns(["id", "source", "metadata"])
    rows = ds.map_batches(of_kind, batch_format="pyarrow").take(1)
    return rows[0]["id"] if rows else None


def check(counts: dict, data_dir: str, sources: list) -> None:
    """A config error when a field of some source holds two JSON types."""
    found = conflicts(counts)
    if not found:
        return
    index = {s.name: i for i, s in enumerate(sources)}
    problems = []
    for source, field, types in found:
        unit = {"parquet": "row", "jsonl": "line"}.get(sources[index[source]].format, "record")
        seen = []
        for k in sorted(types):
            where = _first_of_kind(data_dir, source, field, k)  # "source/relpath:n"
            file, _, n = where.split("/", 1)[-1].rpartition(":") if where else ("", "", "")
            at = f" (e.g. {unit} {n} of {file})" if where else ""
            seen.append(f"a {k} in {types[k]:,} record{'s' if types[k] != 1 else ''}{at}")
        problems.append(
            f"sources[{index[source]}].metadata_fields: field {field!r} of source {source!r} is "
            + "; ".join(seen)
            + ". A metadata field must hold one type in every record: fix the data or leave the "
            "field out of metadata_fields"
        )
    raise ConfigError(problems)
