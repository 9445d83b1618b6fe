"""Building document tables for tests."""

from __future__ import annotations

import pyarrow as pa

from prep.core.records import BASE_SCHEMA


def make_table(rows: list[dict]) -> pa.Table:
    """A BASE_SCHEMA table from row dicts (missing keys become null)."""
    return pa.Table.from_pylist(
        [{name: row.get(name) for name in BASE_SCHEMA.names} for row in rows], schema=BASE_SCHEMA
    )
