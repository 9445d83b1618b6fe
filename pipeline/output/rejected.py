"""OUT/rejected/: every document a stage dropped, with its stage, rule and reason.

Each pass's rejected rows are written once per pass and PII settings (scrubbed by the
stages that ask for it, see `Stage.rejected_scrubber`) and kept in the output cache, so a
re-run links them instead of scrubbing them again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import ray

from prep import __version__
from prep.core.records import READ_STAGE, conform, live_mask
from prep.pipeline.config import Config
from prep.pipeline.output.cache import OutputCache, link
from prep.pipeline.passes import digest
from prep.pipeline.raysession import cluster_cpus
from prep.stages import stage_class

#: rejected/*.parquet columns renamed from the internal status columns.
REJECTED_NAMES = {"_stage": "stage", "_rule": "rule", "_reason": "reason"}


def to_rejected(batch: pa.Table, schema: pa.Schema) -> pa.Table:
    """The rejected rows of a pass output in the run's final schema: every file of
    rejected/ has the same columns (those of stages a row never reached are null)."""
    rejected = conform(batch.filter(pc.invert(live_mask(batch))), schema)
    return rejected.rename_columns([REJECTED_NAMES.get(n, n) for n in rejected.column_names])


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


def write_rejected(
    config: Config, dest: Path, data_dirs: list[Path], passes: list, schema: pa.Schema, fresh: bool = False
) -> None:
    """rejected/: each pass's rejected rows, scrubbed, from the output cache when a run before
    built them from the same pass with the same scrubbers. What is missing is built in one Ray
    Data job (a job per pass cost ~5 s each in start-up and scrubber actors), partitioned by pass."""
    cache = OutputCache(config.run.work_dir)
    scrubbers = _scrubbers(config)
    scrub = [(u.__qualname__, k["fn_constructor_kwargs"]) for u, k in scrubbers]
    how = {"prep": __version__, "schema": schema.to_string(), "scrub": scrub}
    names = [f"rejected-{digest({**how, 'pass': p.key})[:24]}" for p in passes]
    todo = [(n, d) for n, d in zip(names, data_dirs, strict=True) if fresh or cache.done(n) is None]
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
