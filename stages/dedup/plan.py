"""The fit's memory plan: what signatures, the band shuffle, pairs and the apply index need.

Logged before the shuffles start; a plan whose peak exceeds the memory available (what the Ray
cluster reports, or `memory_limit_gb`) is refused with a suggestion instead of dying half-way.
The peak is the LSH shuffle: Ray's sort shuffle holds the band rows once as map outputs and
once as reduce inputs (the object store spills to disk, but the reduce side of each partition
is held in a worker's heap).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import ray

log = logging.getLogger("prep")

GB = 1 << 30
BAND_ROW_BYTES = 33  # _part, key, node, ex (8 bytes each) + exact flag
PAIR_BYTES = 17  # src, dst, exact
IN_MEMORY_PAIR_BYTES = 64  # edges + np.unique + scipy's CSR in the driver
TARGET_PARTITION_BYTES = 256 << 20  # rows one reduce task holds (sorting doubles it)


class MemoryPlanError(RuntimeError):
    """The dedup fit would not fit in memory."""


@dataclass
class MemoryPlan:
    docs: int
    signed_docs: int
    band_rows: int
    signatures_gb: float  # the process pass's signatures (streamed from disk, never all held)
    shuffle_gb: float  # band rows shuffled (peak)
    pairs_max_gb: float  # if every band row made a pair
    in_memory_cc_gb: float  # driver memory for the in-memory components at the configured limit
    available_gb: float
    partitions: int

    def as_metrics(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def available_gb(limit_gb: float | None) -> float:
    """`memory_limit_gb`, or the Ray cluster's heap plus object store memory."""
    if limit_gb is not None:
        return float(limit_gb)
    res = ray.cluster_resources()
    return (res.get("memory", 0) + res.get("object_store_memory", 0)) / GB


def make_plan(
    docs: int,
    signed_docs: int,
    num_perm: int,
    bands: int,
    exact: bool,
    fuzzy: bool,
    in_memory_edges: int,
    limit_gb: float | None,
    cpus: int,
    partitions: int | None,
) -> MemoryPlan:
    band_rows = (signed_docs * bands if fuzzy else 0) + (docs if exact else 0)
    shuffle = 2 * band_rows * BAND_ROW_BYTES
    if partitions is None:
        partitions = max(cpus, math.ceil(band_rows * BAND_ROW_BYTES / TARGET_PARTITION_BYTES))
    return MemoryPlan(
        docs=docs,
        signed_docs=signed_docs,
        band_rows=band_rows,
        signatures_gb=signed_docs * num_perm * 8 / GB if fuzzy else 0.0,
        shuffle_gb=shuffle / GB,
        pairs_max_gb=band_rows * PAIR_BYTES / GB,
        in_memory_cc_gb=min(in_memory_edges, band_rows) * IN_MEMORY_PAIR_BYTES / GB,
        available_gb=available_gb(limit_gb),
        partitions=partitions,
    )


def check(plan: MemoryPlan) -> None:
    """Log the plan; raise MemoryPlanError with a suggestion when its peak does not fit."""
    log.info(
        "dedup memory plan: %d docs (%d signed), signatures %.3f GB, band shuffle %.3f GB, "
        "pairs at most %.3f GB, in-memory components up to %.3f GB; %.1f GB available; %d partitions",
        plan.docs,
        plan.signed_docs,
        plan.signatures_gb,
        plan.shuffle_gb,
        plan.pairs_max_gb,
        plan.in_memory_cc_gb,
        plan.available_gb,
        plan.partitions,
    )
    peak = max(plan.shuffle_gb, plan.in_memory_cc_gb)
    if peak > plan.available_gb:
        raise MemoryPlanError(
            f"dedup would need about {peak:.2f} GB (band shuffle {plan.shuffle_gb:.2f} GB for "
            f"{plan.band_rows} band rows of {plan.docs} documents; in-memory components "
            f"{plan.in_memory_cc_gb:.2f} GB) but {plan.available_gb:.2f} GB are available. "
            "Suggestion: add Ray nodes (or memory), use fewer LSH bands (fuzzy.bands/threshold), "
            "lower components.in_memory_edges, dedup domains separately (domains:), or set "
            "memory_limit_gb if the cluster has more memory than Ray reports."
        )
