"""The document row every reader emits and every stage receives.

Rows travel through a pass as Arrow tables. A row that some step rejected keeps
flowing to the end of its pass with `_stage`/`_rule`/`_reason` set, so that the
pass output holds every input row exactly once (kept rows have `_stage` null).
The runner splits kept from rejected when it writes `OUT/`.
"""

from __future__ import annotations

import pyarrow as pa

#: Columns every reader produces, in this order.
BASE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # "{source}/{relpath}:{n}", unique in a run
        pa.field("text", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("url", pa.string()),  # web records only
        pa.field("_stage", pa.string()),  # stage that rejected the row; null = kept
        pa.field("_rule", pa.string()),  # short machine code of the rejection, e.g. "bad_json"
        pa.field("_reason", pa.string()),  # human message; read rejections name file and line
    ]
)

#: The stage name of rejections made while reading (bad JSON, invalid UTF-8, ...).
READ_STAGE = "read"

#: Internal bookkeeping columns (never written to shards).
STATUS_COLUMNS = ("_stage", "_rule", "_reason")


def make_table(rows: list[dict]) -> pa.Table:
    """Build a BASE_SCHEMA table from row dicts (missing keys become null)."""
    return pa.Table.from_pylist(
        [{name: row.get(name) for name in BASE_SCHEMA.names} for row in rows], schema=BASE_SCHEMA
    )
