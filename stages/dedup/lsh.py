"""LSH banding: the fit's table of documents, band rows, and buckets turned into candidate pairs.

One shuffle serves exact and fuzzy dedup: every document gets one row per LSH band (key: a hash
of that band of its signature) and one row in an extra "exact" band (key: its exact hash). Rows
are grouped by key (a sort shuffle on `key % partitions`, then a vectorised pass per partition);
each bucket of two or more documents becomes a star of candidate pairs to its smallest node.
Identical documents (same exact hash) share every band bucket, so inside a band bucket they are
collapsed to one member first: a thousand copies of a page make one exact group, not a thousand
members of every bucket they touch (which would trip the giant-bucket guard).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from prep.stages.dedup.banding import band_hashes
from prep.stages.dedup.hashes import fmix64
from prep.stages.dedup.minhash import MinHasher
from prep.stages.dedup.signing import BYTES, EXACT, SHINGLES, SIGNATURE

#: Statistics rows that the bucket pass emits next to its pairs (`stat` column), by code.
STATS = ("band_buckets", "giant_buckets", "giant_bucket_docs", "exact_groups", "exact_pairs", "fuzzy_pairs")
_EXACT_SALT = np.uint64(0xE8AC7D0C5B1F3A29)
_SPLIT_SALT = np.uint64(0x5B1D0E3A9C7F4B61)

BASE_SCHEMA = pa.schema(
    [
        ("node", pa.int64()),
        ("id", pa.string()),
        ("file", pa.string()),  # the pass output file the document is in (decisions are per file)
        ("domain", pa.string()),
        ("bytes", pa.int64()),
        ("ppl", pa.float64()),
        ("ex1", pa.uint64()),
        ("ex2", pa.uint64()),
        ("shingles", pa.int32()),
        ("bands", pa.binary()),  # bands little-endian uint64 keys, empty without a signature
        ("set", pa.binary()),  # sorted distinct shingle hashes (verification only), else null
    ]
)
BAND_ROW_SCHEMA = pa.schema(
    [
        ("_part", pa.int64()),
        ("key", pa.uint64()),
        ("node", pa.int64()),
        ("ex", pa.uint64()),
        ("exact", pa.bool_()),
    ]
)


def fixed_width(col: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """A binary column whose values are all `width` bytes, as a (rows, width) uint8 array."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    if arr.null_count == 0 and np.all(np.diff(offsets) == width):
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
        return data[offsets[0] : offsets[-1]].reshape(n, width)
    out = np.zeros((n, width), dtype=np.uint8)
    for i, v in enumerate(arr.to_pylist()):
        if v is not None and len(v) == width:
            out[i] = np.frombuffer(v, dtype=np.uint8)
    return out


def to_base(
    batch: pa.Table, bands: int, rows: int, num_perm: int | None, verifier: MinHasher | None
) -> pa.Table:
    """The fit's compact row per document: node, id, keep-policy fields, hashes, band keys."""
    n = batch.num_rows
    ex = fixed_width(batch.column(EXACT), 16).view("<u8").reshape(n, 2)
    shingles = batch.column(SHINGLES).to_numpy(zero_copy_only=False).astype(np.int32)
    if num_perm is not None:
        sig = fixed_width(batch.column(SIGNATURE), num_perm * 8).view("<u8").reshape(n, num_perm)
        keys = band_hashes(sig, bands, rows).astype("<u8")
        offsets = np.arange(0, (n + 1) * bands * 8, bands * 8, dtype=np.int32)
        band_col = pa.BinaryArray.from_buffers(
            pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(keys.tobytes())]
        )
    else:
        band_col = pa.array([b""] * n, pa.binary())
    ppl = batch.column("ppl") if "ppl" in batch.column_names else pa.nulls(n, pa.float64())
    if verifier is not None:
        texts = batch.column("text").to_pylist()
        sets = pa.array([verifier.shingle_set(t or "").astype("<u8").tobytes() for t in texts], pa.binary())
    else:
        sets = pa.nulls(n, pa.binary())
    file = batch.column("_file") if "_file" in batch.column_names else pa.nulls(n, pa.string())
    columns = [
        batch.column("_node"),
        batch.column("id"),
        file,
        batch.column("domain"),
        batch.column(BYTES),
        ppl.cast(pa.float64()),
        pa.array(ex[:, 0].astype(np.uint64)),
        pa.array(ex[:, 1].astype(np.uint64)),
        pa.array(shingles),
        band_col,
        sets,
    ]
    return pa.Table.from_arrays(columns, schema=BASE_SCHEMA)


def band_rows(batch: pa.Table, bands: int, partitions: int, exact: bool, fuzzy: bool) -> pa.Table:
    """One row per (document, band) with a signature, plus one per document in the exact band."""
    node = batch.column("node").to_numpy()
    ex = batch.column("ex1").to_numpy()
    parts_key, parts_node, parts_ex, parts_exact = [], [], [], []
    if fuzzy:
        signed = np.flatnonzero(batch.column("shingles").to_numpy() > 0)
        if signed.size:
            keys = fixed_width(batch.column("bands").take(pa.array(signed)), bands * 8).view("<u8")
            parts_key.append(keys.reshape(-1).astype(np.uint64))
            parts_node.append(np.repeat(node[signed], bands))
            parts_ex.append(np.repeat(ex[signed], bands))
            parts_exact.append(np.zeros(signed.size * bands, dtype=bool))
    if exact:
        # The exact band's key: the exact hash mixed with a salt, so it never meets a band key.
        parts_key.append(fmix64(ex ^ _EXACT_SALT))
        parts_node.append(node)
        parts_ex.append(ex)
        parts_exact.append(np.ones(len(node), dtype=bool))
    if not parts_key:
        return BAND_ROW_SCHEMA.empty_table()
    key = np.concatenate(parts_key)
    columns = [
        (key % np.uint64(partitions)).astype(np.int64),
        key,
        np.concatenate(parts_node),
        np.concatenate(parts_ex),
        np.concatenate(parts_exact),
    ]
    return pa.Table.from_arrays([pa.array(c) for c in columns], schema=BAND_ROW_SCHEMA)


def _starts(*cols: np.ndarray) -> np.ndarray:
    """Indices where a run of equal values (over all `cols`, already sorted) begins."""
    change = np.zeros(len(cols[0]), dtype=bool)
    if len(change):
        change[0] = True
    for c in cols:
        change[1:] |= c[1:] != c[:-1]
    return np.flatnonzero(change)


def bucket_pairs(batch: dict, max_bucket: int, giant: str, collapse: bool) -> pa.Table:
    """Candidate pairs of the buckets of one partition (a `map_groups` UDF), plus stats rows."""
    key, node, ex, exact = batch["key"], batch["node"], batch["ex"], batch["exact"]
    order = np.lexsort((node, ex, key))
    key, node, ex, exact = key[order], node[order], ex[order], exact[order]
    stats = dict.fromkeys(STATS, 0)
    if collapse:  # identical documents inside a band bucket: keep the smallest node
        first = np.ones(len(key), dtype=bool)
        first[1:] = (key[1:] != key[:-1]) | (ex[1:] != ex[:-1]) | exact[1:]
        key, node, ex, exact = key[first], node[first], ex[first], exact[first]
    starts = _starts(key)
    sizes = np.diff(np.append(starts, len(key)))
    bucket = np.repeat(np.arange(len(starts)), sizes)
    size = sizes[bucket]
    is_exact = exact[starts][bucket]
    stats["band_buckets"] = int(((sizes >= 2) & ~exact[starts]).sum())
    stats["exact_groups"] = int(((sizes >= 2) & exact[starts]).sum())
    giant_rows = (~is_exact) & (size > max_bucket)
    giant_starts = (~exact[starts]) & (sizes > max_bucket)
    stats["giant_buckets"] = int(giant_starts.sum())
    stats["giant_bucket_docs"] = int(sizes[giant_starts].sum())
    sub = np.zeros(len(key), dtype=np.uint64)
    if giant_rows.any():
        if giant == "drop":
            keep = ~giant_rows
            key, node, ex, exact, bucket, is_exact, sub = (
                a[keep] for a in (key, node, ex, exact, bucket, is_exact, sub)
            )
        else:  # split by content hash: deterministic whatever the node numbering
            chunks = np.maximum(1, -(-size[giant_rows] // max_bucket)).astype(np.uint64)
            sub[giant_rows] = fmix64(ex[giant_rows] ^ _SPLIT_SALT) % chunks
            order = np.lexsort((node, sub, bucket))
            key, node, ex, exact, bucket, is_exact, sub = (
                a[order] for a in (key, node, ex, exact, bucket, is_exact, sub)
            )
    starts = _starts(bucket, sub)
    sizes = np.diff(np.append(starts, len(node)))
    center = np.minimum.reduceat(node, starts) if len(starts) else node[:0]
    src = np.repeat(center, sizes)
    pair = src != node
    pair_exact = is_exact[pair]
    stats["exact_pairs"] = int(pair_exact.sum())
    stats["fuzzy_pairs"] = int((~pair_exact).sum())
    n_stats = len(STATS)
    return pa.table(
        {
            "src": np.concatenate([src[pair], [stats[s] for s in STATS]]).astype(np.int64),
            "dst": np.concatenate([node[pair], np.full(n_stats, -1)]).astype(np.int64),
            "exact": np.concatenate([pair_exact, np.zeros(n_stats, dtype=bool)]),
            "stat": np.concatenate([np.full(int(pair.sum()), -1), np.arange(n_stats)]).astype(np.int8),
        }
    )
