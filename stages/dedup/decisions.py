"""The fit's decisions, looked up by document id in every apply worker.

Only members of clusters of two or more documents have a row. Ids are found by a sorted array
of their 64-bit hashes (one vectorised hash per batch, a binary search, then an exact id
comparison on hits), which costs 8 bytes per row next to the Arrow table instead of a Python
dict's ~100.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prep.stages.dedup.hashes import string_hashes
from prep.stages.dedup.keep import DECISION_SCHEMA


def id_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hash of each id, straight from the Arrow string buffers."""
    arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    data = arr.buffers()[2]
    return string_hashes(memoryview(data) if data is not None else b"", offsets)


class Decisions:
    def __init__(self, folder: Path):
        files = sorted(folder.glob("*.parquet"))
        tables = [pq.read_table(f, schema=DECISION_SCHEMA) for f in files]
        table = pa.concat_tables(tables) if tables else DECISION_SCHEMA.empty_table()
        hashes = id_hashes(table.column("id"))
        order = np.argsort(hashes, kind="stable")
        self.table = table.take(pa.array(order))
        self.hashes = hashes[order]

    def __len__(self) -> int:
        return self.table.num_rows

    def lookup(self, ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Row of each id in `self.table`, or -1."""
        h = id_hashes(ids)
        out = np.full(len(h), -1, dtype=np.int64)
        if not len(self.hashes):
            return out
        lo = np.searchsorted(self.hashes, h, side="left")
        hi = np.searchsorted(self.hashes, h, side="right")
        wanted = ids.to_pylist()
        own = self.table.column("id")
        for i in np.flatnonzero(hi > lo).tolist():
            for row in range(int(lo[i]), int(hi[i])):  # more than one only on a hash collision
                if own[row].as_py() == wanted[i]:
                    out[i] = row
                    break
        return out

    def rows(self, ids: pa.ChunkedArray | pa.Array) -> tuple[pa.Table, np.ndarray]:
        """The decision rows of `ids` (nulls where none) and a mask of the ids that have one."""
        pos = self.lookup(ids)
        found = pos >= 0
        taken = self.table.take(pa.array(np.where(found, pos, 0)))
        mask = pa.array(~found)
        cols = [pc.if_else(mask, pa.scalar(None, c.type), c) for c in taken.columns]
        return pa.Table.from_arrays(cols, schema=taken.schema), found
