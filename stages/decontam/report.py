"""The documents a run found benchmark items in, read back from `OUT/` for the report.

Ids are not additive, so they are not in stats.json (whose metrics are summed across batches):
dropped documents are rows of `rejected/` (stage `decontam`), trimmed ones (`remove_spans`)
rows of `documents/` with `contaminated` true; both carry the `contamination` column.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

AFFECTED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("domain", pa.string()),
        ("action", pa.string()),
        ("benchmark", pa.string()),
        ("item", pa.string()),
    ]
)


def _read(folder: Path, where: pc.Expression) -> pa.Table | None:
    files = sorted(str(f) for f in folder.glob("*.parquet"))
    if not files:
        return None
    dataset = pads.dataset(files, format="parquet")
    if "contamination" not in dataset.schema.names:
        return None
    columns = ["id", "domain", "contamination", *(["rule"] if "rule" in dataset.schema.names else [])]
    return dataset.to_table(columns=columns, filter=where)


def affected_documents(out_dir: str | Path) -> pa.Table:
    """One row per (document, benchmark item): id, domain, action (the drop rule, or `trimmed`
    for a kept document whose matches were cut out), benchmark, item."""
    out = Path(out_dir)
    rows: list[dict] = []
    parts = (
        (_read(out / "rejected", pc.field("stage") == "decontam"), None),
        (_read(out / "documents", pc.field("contaminated")), "trimmed"),
    )
    for table, action in parts:
        for row in table.to_pylist() if table is not None else []:
            for hit in row["contamination"] or []:
                rows.append({**{k: row[k] for k in ("id", "domain")}, "action": action or row["rule"], **hit})
    return pa.Table.from_pylist(rows, schema=AFFECTED_SCHEMA)
