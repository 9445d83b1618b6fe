"""Tokenized Arrow shards: the format the trainer memory-maps.

One row per document sample: `tokens` (list<uint16> when the vocabulary fits in 16 bits, else
list<uint32>; every document ends with the end-of-text token), provenance (`id`, `domain`,
`lang`, `source`, and `source_id`, the record's id in its own dataset), `bytes` (UTF-8 length of
the text the tokens encode, for bits per byte), and the quality and dedup metadata the run
produced. Files are uncompressed Arrow IPC (the file format, not the stream) so `pa.memory_map`
reads them zero-copy. `OUT/manifest.json` lists every shard with its split, counts and sha256.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from prep.core.files import sha256_file
from prep.core.records import conform

#: Provenance and metadata columns carried into shards when the run has them.
META_FIELDS = (
    pa.field("id", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("lang", pa.string()),
    pa.field("source", pa.string()),
    pa.field("source_id", pa.string()),  # the record's own id in its dataset (null: none given)
    pa.field("bytes", pa.int64()),
    pa.field("ppl", pa.float64()),
    pa.field("ppl_bucket", pa.string()),
    pa.field("dup_cluster_size", pa.int64()),
    pa.field("epoch", pa.int32()),  # 0 for the first copy of a document, 1.. for repeats
)


def token_type(vocab_size: int) -> pa.DataType:
    return pa.uint16() if vocab_size <= 65535 else pa.uint32()


#: The sources' own metadata (JSON), in shards written with `mix.shard_metadata`.
METADATA_FIELD = pa.field("metadata", pa.string())


def shard_schema(vocab_size: int, metadata: bool = False) -> pa.Schema:
    fields = [pa.field("tokens", pa.list_(token_type(vocab_size))), *META_FIELDS]
    return pa.schema([*fields, METADATA_FIELD] if metadata else fields)


@dataclass
class ShardInfo:
    path: str  # relative to OUT
    split: str  # "train" or "val"
    docs: int
    tokens: int
    sha256: str

    def to_dict(self) -> dict:
        return asdict(self)


class ShardWriter:
    """Writes rows of one split into `shards/{prefix}-NNNNN.arrow` (prefix: the split), a new
    file every `shard_tokens` tokens; each file is written under a temporary name and renamed."""

    def __init__(
        self,
        out: Path,
        split: str,
        vocab_size: int,
        shard_tokens: int,
        prefix: str | None = None,
        metadata: bool = False,
    ):
        self.out, self.split, self.shard_tokens = out, split, shard_tokens
        self.prefix = prefix or split
        self.schema = shard_schema(vocab_size, metadata)
        (out / "shards").mkdir(parents=True, exist_ok=True)
        self.shards: list[ShardInfo] = []
        self._pending: list[pa.RecordBatch] = []
        self._tokens = 0

    def write(self, table: pa.Table) -> None:
        """Append rows (any columns of the shard schema; missing ones become null)."""
        table = conform(table, self.schema)
        lengths = pa.compute.list_value_length(table.column("tokens")).to_numpy(zero_copy_only=False)
        start = 0
        for i, n in enumerate(lengths):
            self._tokens += int(n)
            if self._tokens >= self.shard_tokens:
                self._pending.extend(table.slice(start, i + 1 - start).to_batches())
                self._flush()
                start = i + 1
        if start < table.num_rows:
            self._pending.extend(table.slice(start).to_batches())

    def close(self) -> list[ShardInfo]:
        if self._pending or not self.shards:
            self._flush()
        return self.shards

    def _flush(self) -> None:
        table = canonical(pa.Table.from_batches(self._pending, schema=self.schema))
        name = f"shards/{self.prefix}-{len(self.shards):05d}.arrow"
        path = self.out / name
        tmp = path.with_name(path.name + ".tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, self.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
        tokens = int(pa.compute.sum(pa.compute.list_value_length(table.column("tokens"))).as_py() or 0)
        self.shards.append(ShardInfo(name, self.split, table.num_rows, tokens, sha256_file(path)))
        self._pending, self._tokens = [], 0


def canonical(table: pa.Table) -> pa.Table:
    """The same values with buffers cut to exactly what they use (no validity bitmap without
    nulls), so equal tables are equal bytes on disk. Arrow's allocations round up to 64 bytes and
    the IPC writer stores a buffer whole: without this, a shard's bytes depended on which
    operations (and so which block boundaries, i.e. which cluster) produced its rows."""
    return pa.table([_compact(c.combine_chunks()) for c in table.columns], schema=table.schema)


def _validity(arr: pa.Array) -> pa.Buffer | None:
    if arr.null_count == 0 or arr.buffers()[0] is None:
        return None
    return arr.buffers()[0].slice(0, (len(arr) + 7) // 8)


def _compact(arr: pa.Array) -> pa.Array:
    n, t = len(arr), arr.type
    varying = pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t)
    varying = varying or pa.types.is_large_binary(t) or pa.types.is_list(t) or pa.types.is_large_list(t)
    large = pa.types.is_large_string(t) or pa.types.is_large_binary(t) or pa.types.is_large_list(t)
    first = (
        np.frombuffer(arr.buffers()[1], dtype=np.int64 if large else np.int32, count=1)[0] if varying else 0
    )
    if arr.offset or first != 0:
        arr = arr.take(pa.array(range(n), pa.int64()))  # offset 0, offsets from 0
    bufs = arr.buffers()
    if pa.types.is_primitive(t):
        width = (n + 7) // 8 if pa.types.is_boolean(t) else n * t.bit_width // 8
        return pa.Array.from_buffers(t, n, [_validity(arr), bufs[1].slice(0, width)], arr.null_count)
    if (
        pa.types.is_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_string(t)
        or pa.types.is_large_binary(t)
    ):
        wide = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32, count=n + 1)
        data = bufs[2].slice(0, int(offsets[-1])) if bufs[2] is not None else pa.py_buffer(b"")
        off = bufs[1].slice(0, (n + 1) * (8 if wide else 4))
        return pa.Array.from_buffers(t, n, [_validity(arr), off, data], arr.null_count)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        wide = pa.types.is_large_list(t)
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32, count=n + 1)
        child = _compact(arr.values.slice(0, int(offsets[-1])))
        off = bufs[1].slice(0, (n + 1) * (8 if wide else 4))
        return pa.Array.from_buffers(t, n, [_validity(arr), off], arr.null_count, children=[child])
    if pa.types.is_struct(t):
        children = [_compact(arr.field(i)) for i in range(t.num_fields)]
        return pa.Array.from_buffers(t, n, [_validity(arr)], arr.null_count, children=children)
    return arr  # other types (maps, dictionaries) are written as Arrow laid them out


def read_shard(path: Path) -> pa.Table:
    """A shard memory-mapped: the table's buffers point into the file, nothing is copied."""
    source = pa.memory_map(str(path), "r")
    return pa.ipc.open_file(source).read_all()
