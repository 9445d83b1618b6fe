"""Runs a config on Ray Data: plan passes, reuse or compute each, write `OUT/`.

Every pass is a Ray Data pipeline from Parquet (or the input files) to Parquet:
`map_batches` over Arrow batches, models in actor pools. Rows rejected in a pass
stay in that pass's output (marked), so each pass output accounts for every row that
entered it; the live rows feed the next pass.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import ray

from pipeline import __version__
from pipeline.accounting import Accountant, check_chain, check_rows, check_stage
from pipeline.checkpoint import Pass, PassStore, plan_passes
from pipeline.config import Config
from pipeline.outputs import write_outputs
from pipeline.raysession import cluster_cpus, ray_session, resolve_address
from pipeline.records import BASE_SCHEMA
from pipeline.sources import InputFile, fingerprint_files, list_input_files
from pipeline.workers import READ_STAGE, StageTask, live_mask, read_files, run_stateless_stage
from stages import stage_class

log = logging.getLogger("prep")


@dataclass
class PassResult:
    label: str
    key: str
    dir: str
    reused: bool
    seconds: float
    stages: dict[str, dict]  # stage name -> stats


@dataclass
class RunResult:
    output: Path
    passes: list[PassResult] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def _list_sources(config: Config) -> dict[str, list[InputFile]]:
    return {src.name: list_input_files(src.paths) for src in config.sources}


def _read_fingerprint(config: Config, files: dict[str, list[InputFile]]) -> dict:
    return {
        "sources": [s.model_dump(mode="json") for s in config.sources],
        "files": {name: fingerprint_files(fs) for name, fs in files.items()},
    }


def _keep_live(batch: pa.Table) -> pa.Table:
    return batch.filter(live_mask(batch))


def _run_read(config: Config, files: dict[str, list[InputFile]], out_dir: Path, accountant) -> None:
    items = [
        {"url": f.url, "relpath": f.relpath, "size": f.size, "mtime": f.mtime, "source_index": i}
        for i, src in enumerate(config.sources)
        for f in files[src.name]
    ]
    ds = ray.data.from_items(items, override_num_blocks=len(items))  # one read task per file
    ds = ds.map_batches(
        read_files,
        batch_size=1,
        batch_format="pyarrow",
        fn_kwargs={
            "sources": [s.model_dump(mode="json") for s in config.sources],
            "accountant": accountant,
            "batch_rows": config.run.batch_size,
        },
    )
    ds.write_parquet(str(out_dir))


def _run_stages(p: Pass, input_dir: Path, out_dir: Path, config: Config, accountant) -> None:
    ds = ray.data.read_parquet(str(input_dir)).map_batches(_keep_live, batch_format="pyarrow")
    workers = cluster_cpus()
    for spec in p.stages:
        kwargs = {"name": spec.name, "config": spec.config.model_dump(mode="json"), "accountant": accountant}
        common = {"batch_size": config.run.batch_size, "batch_format": "pyarrow"}
        if stage_class(spec.name).stateful:  # a model per actor, loaded once
            ds = ds.map_batches(StageTask, fn_constructor_kwargs=kwargs, concurrency=(1, workers), **common)
        else:
            ds = ds.map_batches(run_stateless_stage, fn_kwargs=kwargs, **common)
    ds.write_parquet(str(out_dir))


def disk_counts(data_dir: Path) -> tuple[int, Counter, pa.Schema]:
    """Rows in a pass output, rejected rows per stage, and the schema, from Parquet on disk."""
    files = sorted(str(f) for f in data_dir.glob("*.parquet"))
    stages: Counter = Counter()
    total = 0
    if not files:  # a pass always writes at least one file; none means it was tampered with
        return total, stages, pa.schema([])
    dataset = pads.dataset(files, format="parquet")
    for batch in dataset.to_batches(columns=["_stage"]):
        total += batch.num_rows
        counts = pc.value_counts(batch.column(0).drop_null())
        for item in counts.to_pylist():
            stages[item["values"]] += item["counts"]
    return total, stages, dataset.schema


def _verify_pass(p: Pass, stats: dict[str, dict], data_dir: Path, entering: int | None) -> None:
    """The counts the workers reported must match each other and the rows on disk."""
    names = p.stage_names
    for name in names:
        check_stage(name, stats[name])
    for prev, cur in itertools.pairwise(names):
        check_chain(prev, stats[prev], cur, stats[cur])
    total, rejected, _ = disk_counts(data_dir)
    first = stats[names[0]]["in"]["docs"]
    check_rows(f"pass {p.label} input", first, total)
    if entering is not None:
        check_rows(f"pass {p.label}: documents handed over from the previous pass", entering, first)
    for name in names:
        check_rows(f"stage {name} rejections", stats[name]["dropped"]["docs"], rejected.get(name, 0))
    check_rows(f"pass {p.label} output", stats[names[-1]]["kept"]["docs"], total - sum(rejected.values()))


def run(
    config: Config, *, fresh: bool = False, address: str | None = None, output: str | None = None
) -> RunResult:
    """Run the pipeline of `config` and write its outputs; raises on any accounting error."""
    out_dir = Path(output or config.run.output)
    store = PassStore(config.run.work_dir)
    store.clean_temporaries()
    files = _list_sources(config)
    passes = plan_passes(_read_fingerprint(config, files), config.stages)
    result = RunResult(output=out_dir)
    started = time.time()
    with ray_session(resolve_address(address, config.model.ray.address), config.model.ray.num_cpus):
        accountant = Accountant.remote()
        prev: PassResult | None = None
        for p in passes:
            t0 = time.time()
            manifest = None if fresh else store.load(p)
            reused = manifest is not None
            if reused:
                log.info(
                    "pass %d/%d %s: reusing checkpoint %s", p.index + 1, len(passes), p.label, store.dir(p)
                )
            else:
                log.info("pass %d/%d %s: computing", p.index + 1, len(passes), p.label)
                tmp = store.begin(p)
                if p.index == 0:
                    _run_read(config, files, tmp, accountant)
                else:
                    _run_stages(p, store.data_dir(passes[p.index - 1]), tmp, config, accountant)
                stats = {name: ray.get(accountant.snapshot.remote(name)) for name in p.stage_names}
                schema = (
                    pads.dataset(str(tmp), format="parquet").schema if any(tmp.glob("*.parquet")) else None
                )
                store.commit(p, tmp, schema or BASE_SCHEMA, {"label": p.label, "stages": stats})
                manifest = store.load(p)
            stats = manifest["stages"]
            entering = prev.stages[list(prev.stages)[-1]]["kept"]["docs"] if prev else None
            _verify_pass(p, stats, store.data_dir(p), entering)
            if prev is not None:
                last = list(prev.stages)[-1]
                check_chain(last, prev.stages[last], p.stage_names[0], stats[p.stage_names[0]])
            prev = PassResult(p.label, p.key, str(store.dir(p)), reused, round(time.time() - t0, 3), stats)
            result.passes.append(prev)
        result.stats = write_outputs(config, out_dir, [store.data_dir(p) for p in passes], result.passes)
    result.stats["seconds"] = round(time.time() - started, 3)
    log.info("run finished in %.1f s (prep %s)", result.stats["seconds"], __version__)
    return result


__all__ = ["READ_STAGE", "PassResult", "RunResult", "disk_counts", "run"]
