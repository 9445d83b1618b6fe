"""OUT/documents/: the documents the last stage kept, with every column the stages added."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import ray

from prep.core.records import COUNTS_COLUMN, STATUS_COLUMNS, live_mask


def to_documents(batch: pa.Table) -> pa.Table:
    """Kept documents; their tokens are in the shards, not repeated here."""
    kept = batch.filter(live_mask(batch))
    dropped = (*STATUS_COLUMNS, COUNTS_COLUMN, "tokens")
    return kept.drop_columns([c for c in dropped if c in kept.column_names])


def write_parquet_files(ds: ray.data.Dataset, dest: Path, prefix: str) -> None:
    """Write a dataset as `dest/prefix-NNNNN.parquet` (Ray names files by uuid)."""
    tmp = dest / f".tmp-{prefix}-{uuid.uuid4().hex[:8]}"
    ds.write_parquet(str(tmp))
    for i, f in enumerate(sorted(tmp.glob("*.parquet"))):
        f.rename(dest / f"{prefix}-{i:05d}.parquet")
    shutil.rmtree(tmp, ignore_errors=True)


def write_documents(last_pass: Path, dest: Path) -> None:
    """documents/documents-NNNNN.parquet from the output of the last pass."""
    ds = ray.data.read_parquet(str(last_pass)).map_batches(to_documents, batch_format="pyarrow")
    write_parquet_files(ds, dest, "documents")
