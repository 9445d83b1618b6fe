"""Optional check of LSH candidate pairs against the exact Jaccard of their shingle sets.

Two shuffles bring each pair next to the shingle set of one end, then of the other (a join by
node written as union + groupby, so Ray Data needs no extra dependency). Pairs below the
threshold are LSH false positives and are dropped; exact-band pairs are identical texts and are
not checked. Note that a bucket is a star around its smallest node, so a member is checked
against that node only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import ray

_SCHEMA = pa.schema(
    [("_part", pa.int64()), ("u", pa.int64()), ("w", pa.int64()), ("set", pa.binary()), ("doc", pa.bool_())]
)


def _pair_rows(batch: pa.Table, partitions: int) -> pa.Table:
    src = batch.column("src").to_numpy()
    dst = batch.column("dst").to_numpy()
    n = len(src)
    return pa.Table.from_arrays(
        [
            pa.array(src % partitions),
            pa.array(src),
            pa.array(dst),
            pa.nulls(n, pa.binary()),
            pa.array(np.zeros(n, bool)),
        ],
        schema=_SCHEMA,
    )


def _doc_rows(batch: pa.Table, partitions: int) -> pa.Table:
    node = batch.column("node").to_numpy()
    n = len(node)
    return pa.Table.from_arrays(
        [
            pa.array(node % partitions),
            pa.array(node),
            pa.array(np.full(n, -1)),
            batch.column("set"),
            pa.array(np.ones(n, bool)),
        ],
        schema=_SCHEMA,
    )


def _sets_by_node(table: pa.Table) -> tuple[np.ndarray, list]:
    docs = table.filter(table.column("doc"))
    nodes = docs.column("u").to_numpy()
    order = np.argsort(nodes)
    sets = docs.column("set").to_pylist()
    return nodes[order], [sets[i] for i in order]


def _lookup(nodes: np.ndarray, sets: list, wanted: np.ndarray) -> list:
    pos = np.searchsorted(nodes, wanted)
    pos = np.minimum(pos, max(len(nodes) - 1, 0))
    return [sets[p] if len(nodes) and nodes[p] == w else None for p, w in zip(pos, wanted, strict=True)]


def _attach_first(table: pa.Table, partitions: int) -> pa.Table:
    """Pairs grouped by src get src's set and are re-keyed by dst."""
    nodes, sets = _sets_by_node(table)
    pairs = table.filter(pa.compute.invert(table.column("doc")))
    both = np.unique(np.stack([pairs.column("u").to_numpy(), pairs.column("w").to_numpy()], axis=1), axis=0)
    src, dst = both[:, 0].copy(), both[:, 1].copy()  # a pair found in several bands is checked once
    found = _lookup(nodes, sets, src)
    return pa.Table.from_arrays(
        [
            pa.array(dst % partitions),
            pa.array(dst),
            pa.array(src),
            pa.array(found, pa.binary()),
            pa.array(np.zeros(len(dst), bool)),
        ],
        schema=_SCHEMA,
    )


def _jaccard(a: bytes | None, b: bytes | None) -> float:
    if a is None or b is None:
        return 0.0
    x = np.frombuffer(a, dtype="<u8")
    y = np.frombuffer(b, dtype="<u8")
    if len(x) + len(y) == 0:
        return 1.0
    inter = len(np.intersect1d(x, y, assume_unique=True))
    return inter / (len(x) + len(y) - inter)


def _score(table: pa.Table) -> pa.Table:
    nodes, sets = _sets_by_node(table)
    pairs = table.filter(pa.compute.invert(table.column("doc")))
    dst = pairs.column("u").to_numpy()
    src = pairs.column("w").to_numpy()
    other = _lookup(nodes, sets, dst)
    mine = pairs.column("set").to_pylist()
    j = np.array([_jaccard(a, b) for a, b in zip(mine, other, strict=True)], dtype=np.float64)
    return pa.table({"src": src, "dst": dst, "jaccard": j})


def score_pairs(pairs: ray.data.Dataset, base: ray.data.Dataset, partitions: int) -> ray.data.Dataset:
    """(src, dst, jaccard) for each distinct fuzzy pair."""
    kw = {"partitions": partitions}
    docs = base.select_columns(["node", "set"]).map_batches(_doc_rows, batch_format="pyarrow", fn_kwargs=kw)
    rows = pairs.map_batches(_pair_rows, batch_format="pyarrow", fn_kwargs=kw)
    first = (
        rows.union(docs)
        .groupby("_part", num_partitions=partitions)
        .map_groups(_attach_first, batch_format="pyarrow", fn_kwargs=kw)
    )
    return (
        first.union(docs)
        .groupby("_part", num_partitions=partitions)
        .map_groups(_score, batch_format="pyarrow")
    )
