"""The document row every reader emits and every stage receives.

Rows travel through a pass as Arrow tables. A row that some step rejected keeps
flowing to the end of its pass with `_stage`/`_rule`/`_reason` set, so that the
pass output holds every input row exactly once (kept rows have `_stage` null).
The runner splits kept from rejected when it writes `OUT/`.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

#: Columns every reader produces, in this order.
BASE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # "{source}/{relpath}:{n}", unique in a run
        pa.field("text", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("url", pa.string()),  # web records only
        # the record's own id in its dataset (a source's `id_field`; WARC-Record-ID for WARC/WET),
        # so that whatever prep kept or removed traces back to the input; null when it has none
        pa.field("source_id", pa.string()),
        # the source's `metadata_fields` as one JSON object (types kept); null when it names none
        pa.field("metadata", pa.string()),
        pa.field("_stage", pa.string()),  # stage that rejected the row; null = kept
        pa.field("_rule", pa.string()),  # short machine code of the rejection, e.g. "bad_json"
        pa.field("_reason", pa.string()),  # human message; read rejections name file and line
    ]
)

#: The stage name of rejections made while reading (bad JSON, invalid UTF-8, ...).
READ_STAGE = "read"

#: Internal bookkeeping columns (never written to shards).
STATUS_COLUMNS = ("_stage", "_rule", "_reason")

#: The pass output file a row was read from (its name without `.parquet`), for a global stage
#: whose fit decides per file (`Stage.apply_reads_file`): added by the runner to what that fit
#: and apply read.
FILE_COLUMN = "_file"

#: The column whose first row in each written batch holds that batch's counts (JSON; see
#: pipeline/accounting.py). Never written to OUT/.
COUNTS_COLUMN = "_counts"


def live_mask(table: pa.Table) -> pa.ChunkedArray:
    """Rows no step has rejected (`_stage` is null)."""
    return pc.is_null(table.column("_stage"))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly the columns of `schema`, in its order and types; columns the table
    lacks are nulls (a row that never reached a stage has none of its columns)."""
    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    return table.select(schema.names).cast(schema)


def group_key(lang: str | None, domain: str | None, by: list[str]) -> str:
    """A document's group for per-group cutoffs (`by` of "lang", "domain"): `en|web`; a
    missing value is `?`."""
    parts = {"lang": lang or "?", "domain": domain or "?"}
    return "|".join(parts[b] for b in by)


def group_keys(table: pa.Table, by: list[str]) -> list[str]:
    """`group_key` of every row (no `lang` column: every language is `?`)."""
    langs = table.column("lang").to_pylist() if "lang" in table.column_names else [None] * table.num_rows
    domains = table.column("domain").to_pylist()
    return [group_key(la, do, by) for la, do in zip(langs, domains, strict=True)]
