"""The fit's decisions, looked up by document id in the apply workers.

Only members of clusters of two or more documents have a row, and the fit stores them per
pass output file (`decisions/file=NAME/`), the file each member was read from: an apply
worker loads the decisions of the file it is reading (the runner adds `_file` to its
batches), never the whole table, so its memory is bounded by one file's duplicates however
large the corpus (datatrove's dedup filter reads one removal list per input file the same way).
Within a file, ids are found by a sorted array of their 64-bit hashes (one vectorised hash per
batch, a binary search, then an exact id comparison on hits), 8 bytes per row next to the
Arrow table instead of a Python dict's ~100.
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
    if arr.type != pa.string():  # large_string (past 2 GiB of ids) and others
        arr = arr.cast(pa.large_string()).cast(pa.string())
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    data = arr.buffers()[2]
    return string_hashes(memoryview(data) if data is not None else b"", offsets)


#: The decision columns stored in a file's folder (its name is the partition key).
_STORED = pa.schema([f for f in DECISION_SCHEMA if f.name != "file"])


class Decisions:
    """The decisions of the documents of one pass output file."""

    def __init__(self, folder: Path):
        files = sorted(folder.glob("*.parquet"))
        tables = [pq.read_table(f, columns=_STORED.names).cast(_STORED) for f in files]
        table = pa.concat_tables(tables) if tables else _STORED.empty_table()
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


class DecisionsByFile:
    """Decisions per pass output file, loaded when a batch of that file first needs them; the
    last few files' stay loaded (a worker reads a file's batches one after the other)."""

    def __init__(self, root: Path, keep: int = 4):
        self.root, self.keep = root, keep
        self._loaded: dict[str, Decisions] = {}

    def _of(self, name: str) -> Decisions:
        if name not in self._loaded:
            if len(self._loaded) >= self.keep:
                self._loaded.pop(next(iter(self._loaded)))
            self._loaded[name] = Decisions(self.root / f"file={name}")
        return self._loaded[name]

    def rows(self, files: pa.ChunkedArray, ids: pa.ChunkedArray) -> tuple[pa.Table, np.ndarray]:
        """The decision rows of `ids` (read from `files`), nulls where none, and which had one."""
        names = files.to_numpy(zero_copy_only=False)
        unique = np.unique(names).tolist()
        if len(unique) == 1:
            return self._of(unique[0]).rows(ids)
        parts, found = [], np.zeros(len(names), dtype=bool)
        order = np.concatenate([np.flatnonzero(names == n) for n in unique])
        for name in unique:
            rows = np.flatnonzero(names == name)
            table, hit = self._of(name).rows(ids.take(pa.array(rows)))
            parts.append(table)
            found[rows] = hit
        table = pa.concat_tables(parts).take(pa.array(np.argsort(order, kind="stable")))
        return table, found
