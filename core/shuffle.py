"""Which shuffle Ray Data uses for prep's groupbys and aggregations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import ray


@contextlib.contextmanager
def sort_shuffle() -> Iterator[None]:
    """Ray Data's pull-based sort shuffle for every groupby and aggregation inside.

    Ray Data's default hash shuffle starts its aggregator actors for each shuffle. Measured on
    the 2-core development machine (Ray 2.60): a groupby + map_groups of 200k rows into 4
    partitions took 0.6 s with the sort shuffle and 4.7-10 s with the hash shuffle; a run of
    configs/mix.yaml on the bundled sample performs ~10 whole-dataset aggregations (the pass
    summaries) and the dedup fit a dozen groupbys, each paying that start again.
    """
    ctx = ray.data.DataContext.get_current()
    before = ctx.shuffle_strategy
    ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    try:
        yield
    finally:
        ctx.shuffle_strategy = before
