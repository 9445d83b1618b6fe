"""Dedup: exact and MinHash near-duplicate removal across all sources, on Ray.

A global stage. `process` hashes each document's normalised text (128-bit exact hash) and
computes its MinHash signature (word n-gram shingles, datasketch-compatible) as temporary
columns; `fit` groups documents by exact hash and by LSH band over the whole run, turns buckets
into candidate pairs, finds clusters (connected components, checkpointed per iteration) and
picks one document per cluster; `apply` drops the others as `exact_duplicate` or
`near_duplicate` (the reason names the kept document) and labels every document with
`dup_cluster` and `dup_cluster_size`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from prep.core.records import FILE_COLUMN
from prep.core.stage import FitContext, FitResult, Verdict
from prep.core.stage import Stage as BaseStage
from prep.stages.dedup.config import Config
from prep.stages.dedup.decisions import DecisionsByFile
from prep.stages.dedup.minhash import MinHasher
from prep.stages.dedup.signing import BYTES, EXACT, FIELDS, SHINGLES, SIGNATURE, Signer

__all__ = ["Config", "Stage"]

RULES = {"exact": "exact_duplicate", "near": "near_duplicate"}


class Stage(BaseStage):
    name = "dedup"
    barrier = True
    output_fields = FIELDS
    apply_fields = (pa.field("dup_cluster", pa.string()), pa.field("dup_cluster_size", pa.int64()))
    temporary_columns = (EXACT, SIGNATURE, SHINGLES, BYTES)
    apply_reads_file = True

    config: Config

    def __init__(self, config: Config):
        super().__init__(config)
        columns = ["id", FILE_COLUMN, EXACT, SIGNATURE, SHINGLES, BYTES]
        if config.keep == "lowest_ppl":
            columns.append("ppl")
        if config.fuzzy.enabled and config.fuzzy.verify:
            columns.append("text")
        self.fit_columns = tuple(columns)

    def setup(self) -> None:
        fuzzy = self.config.fuzzy
        hasher = None
        if fuzzy.enabled:
            hasher = MinHasher(
                num_perm=fuzzy.num_perm,
                ngram=fuzzy.ngram,
                seed=fuzzy.seed,
                normalizer=fuzzy.normalise.normalizer(),
            )
        self.signer = Signer(self.config.exact.normalise.normalizer(), hasher)

    def process(self, batch: pa.Table) -> Verdict:
        table, metrics = self.signer.sign(batch)
        return Verdict(table, [None] * batch.num_rows, None, metrics)

    def fit(self, data, ctx: FitContext) -> FitResult:
        from prep.stages.dedup.fit import run_fit  # Ray Data plumbing: only the driver needs it

        schema = data.schema()
        if self.config.keep == "lowest_ppl" and schema is not None and "ppl" not in schema.names:
            raise ValueError(
                "dedup: keep: lowest_ppl needs a perplexity (`ppl`) column, which the quality stage "
                "adds; put a quality stage with perplexity models before dedup, or use keep: first "
                "or longest"
            )
        return run_fit(data, ctx, self.config)

    def setup_apply(self, state: dict[str, Any], files: Path) -> None:
        self.state = state
        self.decisions = DecisionsByFile(files / state["decisions"])

    def apply(self, batch: pa.Table) -> Verdict:
        ids = batch.column("id")
        rows, found = self.decisions.rows(batch.column(FILE_COLUMN), ids)
        keep = rows.column("keep").to_pylist()
        match = rows.column("match").to_pylist()
        cluster = rows.column("cluster").to_pylist()
        sizes = rows.column("size").to_numpy(zero_copy_only=False)
        own = ids.to_pylist()
        rules: list[str | None] = []
        reasons: list[str | None] = []
        for i, hit in enumerate(found.tolist()):
            if hit and not keep[i]:
                rules.append(RULES[match[i]])
                kind = "exact" if match[i] == "exact" else "near"
                reasons.append(f"{kind} duplicate of {cluster[i]} (kept; cluster of {int(sizes[i])})")
            else:
                rules.append(None)
                reasons.append(None)
        dup_cluster = [c if hit else i for c, hit, i in zip(cluster, found.tolist(), own, strict=True)]
        dup_size = np.where(found, np.nan_to_num(sizes.astype(np.float64), nan=1), 1).astype(np.int64)
        table = batch.append_column(self.apply_fields[0], pa.array(dup_cluster, pa.string()))
        table = table.append_column(self.apply_fields[1], pa.array(dup_size, pa.int64()))
        in_clusters = Counter(
            d for d, hit in zip(batch.column("domain").to_pylist(), found.tolist(), strict=True) if hit
        )
        return Verdict(table, rules, reasons, {"in_clusters": dict(in_clusters)})
