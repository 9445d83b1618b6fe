"""Writing `OUT/`: rejected documents, the cleaned documents, stats.json and manifest.json.

The last check of the accounting invariant happens here, on the files as written:
every document read is either in `OUT/documents/` or in `OUT/rejected/`.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import ray

from pipeline import __version__
from pipeline.accounting import check_rows, combine_phases
from pipeline.atomic import write_json_atomic
from pipeline.checkpoint import digest
from pipeline.config import Config
from pipeline.output_cache import OutputCache, link
from pipeline.raysession import cluster_cpus
from pipeline.records import READ_STAGE, STATUS_COLUMNS
from stages import stage_class

#: rejected/*.parquet columns renamed from the internal status columns.
REJECTED_NAMES = {"_stage": "stage", "_rule": "rule", "_reason": "reason"}


def to_rejected(batch: pa.Table, schema: pa.Schema) -> pa.Table:
    """The rejected rows of a pass output in the run's final schema: every file of
    rejected/ has the same columns (those of stages a row never reached are null)."""
    rejected = batch.filter(pc.invert(pc.is_null(batch.column("_stage"))))
    for f in schema:
        if f.name not in rejected.column_names:
            rejected = rejected.append_column(f, pa.nulls(rejected.num_rows, f.type))
    rejected = rejected.select(schema.names).cast(schema)
    return rejected.rename_columns([REJECTED_NAMES.get(n, n) for n in rejected.column_names])


def _final_schema(data_dirs: list[Path], temporary: set[str]) -> pa.Schema:
    """Columns accumulate pass by pass; the union keeps each column's first type. Columns
    stages kept only for their fit (signatures) are left out."""
    schemas = [pads.dataset(str(d), format="parquet").schema for d in data_dirs]
    schema = pa.unify_schemas(schemas)
    return pa.schema([f for f in schema if f.name not in temporary])


def to_documents(batch: pa.Table) -> pa.Table:
    """Kept documents; their tokens are in the shards, not repeated here."""
    kept = batch.filter(pc.is_null(batch.column("_stage")))
    return kept.drop_columns([c for c in (*STATUS_COLUMNS, "tokens") if c in kept.column_names])


def _write(ds: ray.data.Dataset, dest: Path, prefix: str) -> None:
    """Write a dataset as `dest/prefix-NNNNN.parquet` (Ray names files by uuid)."""
    tmp = dest / f".tmp-{prefix}-{uuid.uuid4().hex[:8]}"
    ds.write_parquet(str(tmp))
    for i, f in enumerate(sorted(tmp.glob("*.parquet"))):
        f.rename(dest / f"{prefix}-{i:05d}.parquet")
    shutil.rmtree(tmp, ignore_errors=True)


def _count_rows(folder: Path) -> tuple[int, int]:
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return 0, 0
    dataset = pads.dataset([str(f) for f in files], format="parquet")
    docs = dataset.count_rows()
    nbytes = 0
    if "text" in dataset.schema.names:
        for batch in dataset.to_batches(columns=["text"]):
            nbytes += int(pc.sum(pc.binary_length(batch.column(0))).as_py() or 0)
    return docs, nbytes


def _reset(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def stage_stats(passes: list) -> list[dict]:
    """stats.json's `stages`: one entry per stage in run order, global stages' phases combined."""
    stages: list[dict] = []
    by_name: dict[str, dict] = {}
    for p in passes:
        for key, name in p.steps:
            where = {"pass": Path(p.dir).name, "reused": p.reused, "seconds": p.seconds}
            stats = p.stages[key]
            if key == name:
                by_name[name] = {"name": name, **where, **stats}
                stages.append(by_name[name])
            else:  # the apply phase of a global stage finishes the entry its process phase began
                entry = by_name[name]
                process = {k: entry[k] for k in ("in", "kept", "dropped", "rules", "domains", "metrics")}
                entry.update(combine_phases(process, stats))
                entry.update(
                    {
                        "pass": [entry["pass"], where["pass"]],
                        "reused": entry["reused"] and p.reused,
                        "seconds": entry["seconds"] + p.seconds,
                    }
                )
    return stages


def _scrubbers(config: Config) -> list[tuple[type, dict]]:
    """UDFs stages ask for over rows rejected before them (see `Stage.rejected_scrubber`)."""
    out = []
    for spec in config.stages:
        udf = stage_class(spec.name).rejected_scrubber()
        if udf is None:
            continue
        before = [READ_STAGE, *(s.name for s in config.stages if 0 <= s.index < spec.index)]
        kwargs = {
            "fn_constructor_kwargs": {
                "config": spec.config.model_dump(mode="json"),
                "before": before,
                "seed": config.run.seed,
            },
            "compute": ray.data.ActorPoolStrategy(min_size=1, max_size=cluster_cpus()),
            "batch_format": "pyarrow",
        }
        out.append((udf, kwargs))
    return out


def _tag(batch: pa.Table, part: str) -> pa.Table:
    return batch.append_column("_part", pa.array([part] * batch.num_rows, pa.string()))


def _write_rejected(
    config: Config, dest: Path, data_dirs: list[Path], passes: list, schema: pa.Schema
) -> None:
    """rejected/: each pass's rejected rows, scrubbed, from the output cache when a run before
    built them from the same pass with the same scrubbers. What is missing is built in one Ray
    Data job (a job per pass cost ~5 s each in start-up and scrubber actors), partitioned by pass."""
    cache = OutputCache(config.run.work_dir)
    scrubbers = _scrubbers(config)
    scrub = [(u.__qualname__, k["fn_constructor_kwargs"]) for u, k in scrubbers]
    how = {"prep": __version__, "schema": schema.to_string(), "scrub": scrub}
    names = [f"rejected-{digest({**how, 'pass': p.key})[:24]}" for p in passes]
    todo = [(n, d) for n, d in zip(names, data_dirs, strict=True) if cache.done(n) is None]
    if todo:
        parts = [
            ray.data.read_parquet(str(d))
            .map_batches(to_rejected, batch_format="pyarrow", fn_kwargs={"schema": schema})
            .map_batches(_tag, batch_format="pyarrow", fn_kwargs={"part": n})
            for n, d in todo
        ]
        rejected = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
        for udf, kwargs in scrubbers:
            rejected = rejected.map_batches(udf, **kwargs)
        tmp = cache.tmp()
        try:
            rejected.write_parquet(str(tmp), partition_cols=["_part"])
            for n, _ in todo:
                cache.commit(n, tmp / f"_part={n}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    for p, n in zip(passes, names, strict=True):
        for i, f in enumerate(sorted(cache.path(n).glob("*.parquet"))):
            link(f, dest / f"{p.label}-{i:05d}.parquet")


def write_outputs(
    config: Config, out_dir: Path, data_dirs: list[Path], passes: list, training: dict | None = None
) -> dict:
    """Write rejected/ and documents/ from the pass outputs, then stats.json and manifest.json
    (with the shards, tokenizer and mixture when the run wrote shards)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rejected_dir, documents_dir = out_dir / "rejected", out_dir / "documents"
    _reset(rejected_dir)
    _reset(documents_dir)
    temporary = {c for spec in config.stages for c in stage_class(spec.name).temporary_columns}
    schema = _final_schema(data_dirs, temporary)
    _write_rejected(config, rejected_dir, data_dirs, passes, schema)
    last = ray.data.read_parquet(str(data_dirs[-1]))
    _write(last.map_batches(to_documents, batch_format="pyarrow"), documents_dir, "documents")

    stages = stage_stats(passes)
    kept_docs, kept_bytes = _count_rows(documents_dir)
    rejected_docs, _ = _count_rows(rejected_dir)
    read_in = stages[0]["in"]["docs"]
    check_rows("documents read vs kept + rejected on disk", read_in, kept_docs + rejected_docs)
    check_rows("documents kept by the last stage vs documents/", stages[-1]["kept"]["docs"], kept_docs)
    stats = {
        "prep_version": __version__,
        "config": config.path,
        "stages": stages,
        "output": {
            "documents": {"docs": kept_docs, "bytes": kept_bytes},
            "rejected": {"docs": rejected_docs},
        },
    }
    write_json_atomic(out_dir / "stats.json", stats)
    write_json_atomic(
        out_dir / "manifest.json",
        {
            "prep_version": __version__,
            "config": config.resolved(),
            "passes": [{"label": p.label, "key": p.key, "reused": p.reused} for p in passes],
            "documents": {"docs": kept_docs, "bytes": kept_bytes, "path": "documents/"},
            "rejected": {"docs": rejected_docs, "path": "rejected/"},
            **(training or {}),
        },
    )
    return stats
