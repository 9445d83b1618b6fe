"""Summing what each block of a Ray Dataset says about itself, in the cluster.

Global stages' fits and the runner need facts about a whole dataset — histograms, counts,
the few rows near a quantile — without pulling its rows into the driver. `sum_blocks` runs a
function on every block in the workers and adds the results up with a Ray Data aggregation;
the driver receives one value whose size depends on what the function returns (bins,
domains), never on the number of rows.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa


def add(a: Any, b: Any) -> Any:
    """Leaf-wise sum of nested dicts: numbers and numpy arrays add, lists concatenate (their
    order then depends on the order blocks were merged in: sort them before use)."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = add(out.get(k), v)
        return out
    if isinstance(a, list):
        return a + b
    return a + b


def sum_blocks(ds, fn: Callable[[pa.Table], Any], name: str = "sum") -> Any:
    """The sum (`add`) of `fn(block)` over every block of `ds`, computed by Ray Data.

    Accumulators cross the object store pickled (nested dicts of numpy arrays are not Arrow
    types); None when the dataset has no rows."""
    from ray.data.aggregate import AggregateFn

    def accumulate(acc: bytes, block: pa.Table) -> bytes:
        if block.num_rows == 0:
            return acc
        if not isinstance(block, pa.Table):  # pandas blocks, should a dataset hold them
            block = pa.Table.from_pandas(block, preserve_index=False)
        return pickle.dumps(add(pickle.loads(acc), fn(block)))

    def merge(a: bytes, b: bytes) -> bytes:
        return pickle.dumps(add(pickle.loads(a), pickle.loads(b)))

    agg = AggregateFn(
        init=lambda _key: pickle.dumps(None), merge=merge, accumulate_block=accumulate, name=name
    )
    result = ds.aggregate(agg)
    return None if result is None or result[name] is None else pickle.loads(result[name])


def bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each value in [0, 1) among `n_bins` equal bins (exact for a power-of-two count)."""
    return np.minimum((values * n_bins).astype(np.int64), n_bins - 1)
