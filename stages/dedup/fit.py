"""The dedup fit: documents -> band buckets -> candidate pairs -> components -> decisions.

Every step is a Ray Data job whose output is Parquet under the fit's work_dir (see `steps`),
so nothing grows with the corpus in the driver (the in-memory path runs in one Ray task):
1. `base`: one compact row per document with a node number (Ray's monotonically increasing id;
   any numbering works, results depend on ids only), its hashes and LSH band keys;
2. memory plan (logged, refused when it would not fit);
3. `pairs`: band rows + exact-band rows shuffled by key, buckets made stars (giant ones split or
   dropped, counted);
4. `verified` (optional): fuzzy pairs below the Jaccard threshold removed;
5. components: in memory (scipy, in one Ray task, up to `in_memory_edges` pairs) or
   large-star/small-star rounds, each checkpointed;
6. `decisions`: the keep policy per cluster, one row per member of a cluster of two or more.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from ray.data.expressions import col, monotonically_increasing_id

from prep.core.aggregate import sum_blocks
from prep.core.shuffle import sort_shuffle
from prep.core.stage import FitContext, FitResult
from prep.stages.dedup import components
from prep.stages.dedup.config import Config
from prep.stages.dedup.keep import decide, histogram
from prep.stages.dedup.lsh import BASE_SCHEMA, STATS, band_rows, bucket_pairs, to_base
from prep.stages.dedup.minhash import MinHasher
from prep.stages.dedup.plan import check, make_plan
from prep.stages.dedup.steps import Steps, parquet_rows, read, read_table, write
from prep.stages.dedup.verify import score_pairs

log = logging.getLogger("prep")

DECISIONS = "decisions"
MEMBER_COLUMNS = ["node", "id", "file", "domain", "bytes", "ppl", "ex1", "ex2"]
LARGEST = 10


def run_fit(data: ray.data.Dataset, ctx: FitContext, config: Config) -> FitResult:
    with sort_shuffle():
        return _Fit(config, ctx).run(data)


class _Fit:
    def __init__(self, config: Config, ctx: FitContext):
        self.config = config
        self.ctx = ctx
        self.steps = Steps(Path(ctx.work_dir))
        self.bands, self.rows = config.fuzzy.lsh()
        self.metrics: dict[str, Any] = {"seconds": {}, "resumed": []}

    def _step(self, name: str, work) -> dict:
        t0 = time.time()
        info, reused = self.steps.run(name, work)
        self.metrics["seconds"][name] = round(time.time() - t0, 3)
        if reused:
            self.metrics["resumed"].append(name)
        return info

    def run(self, data: ray.data.Dataset) -> FitResult:
        cfg = self.config
        base = self._step("base", lambda tmp: self._base(data, tmp))
        plan = make_plan(
            docs=base["docs"],
            signed_docs=base["signed"],
            num_perm=cfg.fuzzy.num_perm,
            bands=self.bands,
            exact=cfg.exact.enabled,
            fuzzy=cfg.fuzzy.enabled,
            in_memory_edges=cfg.components.in_memory_edges
            if cfg.components.algorithm != "distributed"
            else 0,
            limit_gb=cfg.memory_limit_gb,
            cpus=self.ctx.cpus,
            partitions=cfg.partitions,
        )
        self.metrics["memory_plan"] = plan.as_metrics()
        check(plan)
        self.partitions = plan.partitions
        self.metrics.update(docs=base["docs"], lsh={"bands": self.bands, "rows": self.rows})
        pairs = self._step("pairs", self._pairs)
        self.metrics["buckets"] = {k: pairs[k] for k in STATS}
        pair_dir = self.steps.path("pairs")
        if cfg.fuzzy.enabled and cfg.fuzzy.verify:
            verified = self._step("verified", self._verify)
            self.metrics["verification"] = {k: verified[k] for k in ("checked", "passed", "rejected")}
            pair_dir = self.steps.path("verified")
            pairs = verified
        decisions = self._step(
            DECISIONS, lambda tmp: self._components_and_decide(pair_dir, pairs["pairs"], tmp)
        )
        self.metrics["components"] = decisions["components"]
        self.metrics.update(self._summary())
        state = {
            "decisions": DECISIONS,
            "clusters": self.metrics["clusters"],
            "in_clusters": decisions["rows"],
        }
        return FitResult(state=state, metrics=self.metrics)

    # ------------------------------------------------------------------ steps

    def _base(self, data: ray.data.Dataset, tmp: Path) -> dict:
        cfg = self.config.fuzzy
        verifier = None
        if cfg.enabled and cfg.verify:
            verifier = MinHasher(
                num_perm=1, ngram=cfg.ngram, seed=cfg.seed, normalizer=cfg.normalise.normalizer()
            )
        ds = data.with_column("_node", monotonically_increasing_id()).map_batches(
            to_base,
            batch_format="pyarrow",
            fn_kwargs={
                "bands": self.bands,
                "rows": self.rows,
                "num_perm": cfg.num_perm if cfg.enabled else None,
                "verifier": verifier,
            },
        )
        docs = write(ds, tmp)
        signed = 0
        if docs:
            base = read(tmp, ["shingles"])
            signed = sum_blocks(base, lambda b: int(pc.sum(pc.greater(b.column(0), 0)).as_py() or 0)) or 0
        return {"docs": docs, "signed": signed}

    def _pairs(self, tmp: Path) -> dict:
        cfg = self.config
        totals = dict.fromkeys(STATS, 0)
        base = read(self.steps.path("base"), ["node", "ex1", "shingles", "bands"])
        if base is None:
            return {**totals, "pairs": 0}
        rows = base.map_batches(
            band_rows,
            batch_format="pyarrow",
            fn_kwargs={
                "bands": self.bands,
                "partitions": self.partitions,
                "exact": cfg.exact.enabled,
                "fuzzy": cfg.fuzzy.enabled,
            },
        )
        out = (
            rows.groupby("_part", num_partitions=self.partitions)
            .map_groups(
                bucket_pairs,
                batch_format="numpy",
                fn_kwargs={
                    "max_bucket": cfg.fuzzy.max_bucket,
                    "giant": cfg.fuzzy.giant_buckets,
                    "collapse": cfg.exact.enabled,
                },
            )
            .materialize()
        )
        for row in out.filter(expr=col("stat") >= 0).take_all():
            totals[STATS[int(row["stat"])]] += int(row["src"])
        pairs = out.filter(expr=col("stat") < 0).select_columns(["src", "dst", "exact"])
        n = write(pairs, tmp) if totals["exact_pairs"] + totals["fuzzy_pairs"] else 0
        return {**totals, "pairs": n}

    def _verify(self, tmp: Path) -> dict:
        threshold = self.config.fuzzy.verify_threshold
        pairs = read(self.steps.path("pairs"), ["src", "dst", "exact"])
        result = {"checked": 0, "passed": 0, "rejected": 0, "pairs": 0}
        if pairs is None:
            return result
        pairs = pairs.materialize()
        exact = pairs.filter(expr=col("exact") == True).select_columns(["src", "dst"])  # noqa: E712
        fuzzy = pairs.filter(expr=col("exact") == False).select_columns(["src", "dst"])  # noqa: E712
        if exact.count():
            exact.write_parquet(str(tmp))  # identical texts: nothing to check
        if fuzzy.count():
            base = read(self.steps.path("base"), ["node", "set"])
            scored = score_pairs(fuzzy, base, self.partitions).materialize()
            passed = scored.filter(expr=col("jaccard") >= threshold).select_columns(["src", "dst"])
            result["checked"], result["passed"] = scored.count(), passed.count()
            result["rejected"] = result["checked"] - result["passed"]
            if result["passed"]:
                passed.write_parquet(str(tmp))
        result["pairs"] = parquet_rows(tmp)
        return result

    def _components_and_decide(self, pair_dir: Path, n_pairs: int, tmp: Path) -> dict:
        cfg = self.config.components
        algorithm = cfg.algorithm
        if algorithm == "auto":
            algorithm = "in_memory" if n_pairs <= cfg.in_memory_edges else "distributed"
        info: dict[str, Any] = {"algorithm": algorithm, "pairs": n_pairs}
        if n_pairs == 0:
            return {"components": info, "rows": 0}
        if algorithm == "in_memory":
            # in a worker, not the driver: the pairs and the members of every cluster are per
            # document (at 1M documents, 505,000 removed, the pass of this fit was where the
            # driver went from 612 MB to 1,067 MB)
            task = ray.remote(num_cpus=0)(_in_memory_decisions)  # its Ray Data reads need the CPUs
            base = self.steps.path("base")
            rows = ray.get(task.remote(pair_dir, base, self.config.keep, self.config.exact.enabled, tmp))
            return {"components": info, "rows": rows}
        final, cc = components.distributed(pair_dir, self.steps, self.partitions, cfg.max_iterations)
        info.update(cc)
        decisions = self._decide_distributed(components.ray_labels(final))
        if decisions is not None:
            decisions.write_parquet(str(tmp), partition_cols=["file"])
        return {"components": info, "rows": _rows_below(tmp)}

    # ------------------------------------------------------------------ keep policy

    def _decide_distributed(self, labels: ray.data.Dataset | None) -> ray.data.Dataset | None:
        if labels is None:
            return None
        p = self.partitions
        base = read(self.steps.path("base"), MEMBER_COLUMNS)
        assert base is not None
        rows = labels.map_batches(_label_rows, batch_format="pyarrow", fn_kwargs={"partitions": p}).union(
            base.map_batches(_doc_rows, batch_format="pyarrow", fn_kwargs={"partitions": p})
        )
        members = rows.groupby("_part", num_partitions=p).map_groups(
            _attach_labels, batch_format="pyarrow", fn_kwargs={"partitions": p}
        )
        return members.groupby("_part", num_partitions=p).map_groups(
            _decide_partition,
            batch_format="pyarrow",
            fn_kwargs={"policy": self.config.keep, "exact_enabled": self.config.exact.enabled},
        )

    # ------------------------------------------------------------------ metrics

    def _summary(self) -> dict:
        """Cluster-size histogram, largest clusters (ids only) and would-be drops, summed over the
        decisions by Ray Data (one small dict per block reaches the driver's sum)."""
        folder = self.steps.path(DECISIONS)
        totals = None
        if _rows_below(folder):
            ds = ray.data.read_parquet(str(folder), file_extensions=["parquet"])
            totals = sum_blocks(
                ds.select_columns(["cluster", "size", "keep", "match", "domain"]), _cluster_summary
            )
        totals = totals or {
            "clusters": 0,
            "docs_in_clusters": 0,
            "cluster_sizes": {},
            "largest": [],
            "duplicates": {},
        }
        top = sorted(totals.pop("largest"), key=lambda x: (-x[0], x[1]))[:LARGEST]
        return {**totals, "largest_clusters": [{"cluster": c, "size": s} for s, c in top]}


def _rows_below(folder: Path) -> int:
    """Rows of every Parquet file below `folder` (decisions are partitioned by file)."""
    return sum(pq.read_metadata(f).num_rows for f in folder.rglob("*.parquet"))


def _cluster_summary(t: pa.Table) -> dict:
    """One block of decisions: cluster sizes (kept rows), its largest clusters, drops per domain."""
    kept = t.filter(t.column("keep"))
    sizes = kept.column("size").to_numpy()
    top = np.argsort(-sizes, kind="stable")[:LARGEST]
    clusters = kept.column("cluster").to_pylist()
    dropped = t.filter(pc.invert(t.column("keep")))
    drops: dict[str, dict[str, int]] = {}
    for domain, match in zip(
        dropped.column("domain").to_pylist(), dropped.column("match").to_pylist(), strict=True
    ):
        slot = drops.setdefault(domain, {"exact": 0, "near": 0})
        slot[match] += 1
    return {
        "clusters": len(sizes),
        "docs_in_clusters": int(sizes.sum()),
        "cluster_sizes": histogram(sizes),
        "largest": [(int(sizes[i]), clusters[i]) for i in top],
        "duplicates": drops,
    }


# ---------------------------------------------------------------------- Ray Data UDFs

#: A component member: its partition and component, and the base row's fields the keep policy reads.
_MEMBER_SCHEMA = pa.schema(
    [
        ("_part", pa.int64()),
        BASE_SCHEMA.field("node"),
        ("comp", pa.int64()),
        *(BASE_SCHEMA.field(n) for n in ("id", "file", "domain", "bytes", "ppl", "ex1", "ex2")),
    ]
)


def _in_memory_decisions(pair_dir: Path, base_dir: Path, keep: str, exact_enabled: bool, tmp: Path) -> int:
    """Ray task: components of the pairs (scipy) and the keep policy over their members, written
    under `tmp`; returns the number of decision rows. Holds at most `in_memory_edges` pairs
    (16 bytes each) and one row per member of a cluster (~100 bytes)."""
    table = read_table(pair_dir, ["src", "dst"])
    assert table is not None
    nodes, labels = components.in_memory(table.column("src").to_numpy(), table.column("dst").to_numpy())
    base = read(base_dir, MEMBER_COLUMNS)
    assert base is not None
    members = base.map_batches(
        _members_of, batch_format="pyarrow", fn_kwargs={"nodes": nodes, "labels": labels}
    )
    batches = [t for t in members.iter_batches(batch_format="pyarrow") if t.num_rows]
    if not batches:
        return 0
    decisions = decide(pa.concat_tables(batches), keep, exact_enabled)
    if decisions.num_rows:
        pq.write_to_dataset(decisions, str(tmp), partition_cols=["file"])
    return decisions.num_rows


def _members_of(batch: pa.Table, nodes: np.ndarray, labels: np.ndarray) -> pa.Table:
    """Rows of `batch` whose node is in the sorted `nodes`, with their component label."""
    node = batch.column("node").to_numpy()
    pos = np.minimum(np.searchsorted(nodes, node), max(len(nodes) - 1, 0))
    hit = nodes[pos] == node if len(nodes) else np.zeros(len(node), dtype=bool)
    rows = np.flatnonzero(hit)
    out = batch.take(pa.array(rows))
    return out.append_column("comp", pa.array(labels[pos[rows]], pa.int64()))


def _label_rows(batch: pa.Table, partitions: int) -> pa.Table:
    node = batch.column("node").to_numpy()
    n = len(node)
    nulls = {f.name: pa.nulls(n, f.type) for f in _MEMBER_SCHEMA}
    nulls.update(_part=pa.array(node % partitions), node=pa.array(node), comp=batch.column("comp"))
    return pa.Table.from_arrays([nulls[f.name] for f in _MEMBER_SCHEMA], schema=_MEMBER_SCHEMA)


def _doc_rows(batch: pa.Table, partitions: int) -> pa.Table:
    node = batch.column("node").to_numpy()
    cols = {name: batch.column(name) for name in MEMBER_COLUMNS}
    cols.update(_part=pa.array(node % partitions), comp=pa.nulls(len(node), pa.int64()))
    return pa.Table.from_arrays([cols[f.name] for f in _MEMBER_SCHEMA], schema=_MEMBER_SCHEMA)


def _attach_labels(batch: pa.Table, partitions: int) -> pa.Table:
    """Documents of one node partition that have a label, re-keyed by their component."""
    is_label = pc.is_valid(batch.column("comp"))
    labels = batch.filter(is_label)
    node, idx = np.unique(labels.column("node").to_numpy(), return_index=True)
    comp = labels.column("comp").to_numpy()[idx]
    docs = batch.filter(pc.invert(is_label)).drop_columns(["comp", "_part"])
    members = _members_of(docs, node, comp)
    part = pa.array(members.column("comp").to_numpy() % partitions)
    return members.append_column("_part", part).select(_MEMBER_SCHEMA.names).cast(_MEMBER_SCHEMA)


def _decide_partition(batch: pa.Table, policy: str, exact_enabled: bool) -> pa.Table:
    return decide(batch, policy, exact_enabled)
