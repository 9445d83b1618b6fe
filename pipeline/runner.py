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
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import ray

from prep import __version__
from prep.core.files import write_json_atomic
from prep.core.records import COUNTS_COLUMN, FILE_COLUMN, READ_STAGE, live_mask
from prep.core.shuffle import sort_shuffle
from prep.core.stage import FitContext
from prep.pipeline import source_metadata, unreadable
from prep.pipeline.accounting import (
    AccountingError,
    check_chain,
    check_rows,
    check_stage,
    finish,
    summarise,
)
from prep.pipeline.config import Config, StageSpec
from prep.pipeline.driver_usage import DriverUsage
from prep.pipeline.output.cache import OutputCache, link_tree
from prep.pipeline.output.manifest import write_outputs
from prep.pipeline.output.shards import write_shards
from prep.pipeline.output.swap import staged_output
from prep.pipeline.pass_store import PassStore
from prep.pipeline.passes import Pass, Step, digest, plan_passes
from prep.pipeline.raysession import cluster_cpus, cluster_gpus, io_task_args, ray_session, resolve_address
from prep.pipeline.read_task import read_files
from prep.pipeline.report import write_report
from prep.pipeline.sources import InputFile, fingerprint_files, list_input_files
from prep.pipeline.stage_task import StageChain, run_stateless_chain
from prep.stages import stage_class

log = logging.getLogger("prep")


@dataclass
class PassResult:
    label: str
    key: str
    dir: str
    reused: bool
    seconds: float
    stages: dict[str, dict]  # step key -> stats, in pass order
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step key, stage name)
    driver: dict = field(default_factory=dict)  # the driver's CPU seconds and peak RSS in this pass

    @property
    def last_step(self) -> str:
        return list(self.stages)[-1]


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
    """The rows no step rejected, without the counts the pass before attached to its batches."""
    live = batch.filter(live_mask(batch))
    return live.drop_columns([COUNTS_COLUMN]) if COUNTS_COLUMN in live.column_names else live


def with_file_names(batch: pa.Table) -> pa.Table:
    """`_file`, the name (without `.parquet`) of the pass output file each row was read from, in
    place of Ray's `path` column: what a fit's per-file decisions are keyed by."""
    names = pc.replace_substring_regex(batch.column("path"), r"^.*/|\.parquet$", "")
    return batch.drop_columns(["path"]).append_column(FILE_COLUMN, names)


def _drop_file(batch: pa.Table) -> pa.Table:
    return batch.drop_columns([FILE_COLUMN]) if FILE_COLUMN in batch.column_names else batch


def _read_pass(data_dir: Path, with_file: bool, io_args: dict | None = None) -> ray.data.Dataset:
    ds = ray.data.read_parquet(str(data_dir), include_paths=with_file, **(io_args or {}))
    return ds.map_batches(with_file_names, batch_format="pyarrow") if with_file else ds


def _run_read(config: Config, files: dict[str, list[InputFile]], out_dir: Path) -> None:
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
            "batch_rows": config.run.batch_size,
        },
    )
    ds.write_parquet(str(out_dir))


def _step_kwargs(step: Step, fit: dict | None, fit_dir: Path | None, shared=None, seed: int = 0) -> dict:
    kwargs = {"name": step.spec.name, "config": step.spec.config.model_dump(mode="json"), "seed": seed}
    if step.phase == "apply":
        assert fit is not None and fit_dir is not None
        kwargs.update(phase="apply", state=fit["state"], files=str(fit_dir))
    if shared is not None:
        kwargs["shared"] = shared
    return kwargs


@ray.remote(num_returns=2)
def _prepare_task(name: str, config) -> tuple[object, dict | None]:
    """A stage's `prepare` in a Ray worker: what it builds (decontam's n-gram index of every
    benchmark, 5 s of CPU and ~0.5 GB) never passes through the driver."""
    prepared = stage_class(name)(config).prepare()
    if prepared is None:
        return None, None
    return prepared["shared"], prepared.get("metrics", {})


def _prepare(step: Step) -> tuple[ray.ObjectRef | None, dict]:
    """The stage's `prepare`, once per pass: what it built stays in the object store (every
    worker gets the reference), its metrics go to the step's stats."""
    if step.phase != "process" or not stage_class(step.spec.name).prepares():
        return None, {}
    shared, metrics = _prepare_task.remote(step.spec.name, step.spec.config)
    metrics = ray.get(metrics)
    return (None, {}) if metrics is None else (shared, metrics)


def gpu_segments(steps: list[Step], gpus: int) -> list[tuple[list[int], bool]]:
    """The pass's steps as runs of step indexes, each one chain of actors: all of them in one
    run, except that with GPUs in the cluster a step whose model wants one (the classifier's
    Hugging Face model) runs alone, on GPU actors."""
    segments: list[tuple[list[int], bool]] = []
    for i, step in enumerate(steps):
        on_gpu = gpus > 0 and stage_class(step.spec.name).wants_gpu(step.spec.config)
        if segments and not on_gpu and not segments[-1][1]:
            segments[-1][0].append(i)
        else:
            segments.append(([i], on_gpu))
    return segments


def _run_steps(
    p: Pass,
    input_dir: Path,
    out_dir: Path,
    config: Config,
    fit: dict | None,
    fit_dir: Path | None,
) -> dict[str, dict]:
    """Run the pass; returns the metrics of the steps' `prepare` by step key."""
    with_file = any(s.phase == "apply" and stage_class(s.spec.name).apply_reads_file for s in p.steps)
    prepared = {step.key: _prepare(step) for step in p.steps}
    seed = config.run.seed
    steps = [_step_kwargs(step, fit, fit_dir, prepared[step.key][0], seed) for step in p.steps]
    common = {"batch_size": config.run.batch_size, "batch_format": "pyarrow"}
    gpus = cluster_gpus()
    segments = []
    for segment, on_gpu in gpu_segments(p.steps, gpus):
        shares = any(prepared[p.steps[i].key][0] is not None for i in segment)
        stateful = any(stage_class(p.steps[i].spec.name).stateful for i in segment)
        segments.append((segment, "gpu" if on_gpu else "actors" if shares or stateful else "tasks"))
    # Around actors the reads and writes take no CPU slot; a chain of tasks fuses with them.
    read_io, write_io = io_task_args() if any(kind != "tasks" for _, kind in segments) else ({}, {})
    ds = _read_pass(input_dir, with_file, read_io).map_batches(_keep_live, batch_format="pyarrow")
    for segment, kind in segments:
        kwargs = [steps[i] for i in segment]
        if kind == "gpu":  # one GPU per actor, as many actors as the cluster has GPUs
            pool = ray.data.ActorPoolStrategy(min_size=1, max_size=gpus)
            ds = ds.map_batches(
                StageChain, fn_constructor_kwargs={"steps": kwargs}, compute=pool, num_gpus=1, **common
            )
        elif kind == "actors":  # models load once per actor
            pool = ray.data.ActorPoolStrategy(min_size=1, max_size=cluster_cpus())
            ds = ds.map_batches(StageChain, fn_constructor_kwargs={"steps": kwargs}, compute=pool, **common)
        else:
            ds = ds.map_batches(run_stateless_chain, fn_kwargs={"steps": kwargs}, **common)
    if with_file:
        ds = ds.map_batches(_drop_file, batch_format="pyarrow")
    ds.write_parquet(str(out_dir), **write_io)
    return {key: metrics for key, (_, metrics) in prepared.items() if metrics}


def _fit_input(spec: StageSpec, stage, data_dir: Path) -> ray.data.Dataset:
    """The live rows of the stage's domains from a pass output, only the columns fit reads."""
    present = set(pads.dataset(str(data_dir), format="parquet").schema.names)
    wanted = [*stage.fit_columns, "domain", "_stage"]
    columns = [c for c in dict.fromkeys(wanted) if c in present]
    with_file = FILE_COLUMN in stage.fit_columns
    ds = _read_pass(data_dir, with_file) if with_file else ray.data.read_parquet(str(data_dir))
    ds = ds.select_columns([*columns, FILE_COLUMN] if with_file else columns)
    domains = spec.config.domains

    def live_in_domains(batch: pa.Table) -> pa.Table:
        mask = live_mask(batch)
        if domains is not None:
            mask = pc.and_(mask, pc.is_in(batch.column("domain"), value_set=pa.array(domains, pa.string())))
        return batch.filter(mask).drop_columns(["_stage"])

    return ds.map_batches(live_in_domains, batch_format="pyarrow")


def _ensure_fit(p: Pass, before: Pass, store: PassStore, config: Config, fresh: bool) -> dict:
    """The global stage's fit over the previous pass's output: reused when its key matches."""
    assert p.fit is not None
    manifest = None if fresh else store.load_fit(p)
    if manifest is not None:
        log.info("fit %s: reusing %s", p.fit.name, store.fit_dir(p))
        return manifest
    log.info("fit %s: computing over the output of pass %s", p.fit.name, before.label)
    t0 = time.time()
    stage = stage_class(p.fit.name)(p.fit.config)
    tmp = store.begin_fit(p, fresh)
    ctx = FitContext(tmp, config.run.seed, cluster_cpus())
    result = stage.fit(_fit_input(p.fit, stage, store.data_dir(before)), ctx)
    store.commit_fit(p, tmp, {"state": result.state, "metrics": result.metrics, "seconds": time.time() - t0})
    manifest = store.load_fit(p)
    assert manifest is not None
    return manifest


def _verify_pass(p: Pass, stats: dict[str, dict], summary: dict, before: PassResult | None) -> None:
    """The counts the workers wrote must match each other, the pass before and the rows."""
    keys = p.step_keys
    for key in keys:
        check_stage(key, stats[key])
    chain = [(before.last_step, before.stages[before.last_step])] if before else []
    chain += [(key, stats[key]) for key in keys]
    for (prev, prev_stats), (cur, cur_stats) in itertools.pairwise(chain):
        check_chain(prev, prev_stats, cur, cur_stats)
    total, rejected = summary["rows"], summary["rejected"]
    check_rows(f"pass {p.label} input", stats[keys[0]]["in"]["docs"], total)
    names = [s.spec.name for s in p.steps] or [READ_STAGE]  # rejected rows carry the stage name
    for key, name in zip(keys, names, strict=True):
        check_rows(f"step {key} rejections", stats[key]["dropped"]["docs"], rejected.get(name, 0))
    check_rows(f"pass {p.label} output", stats[keys[-1]]["kept"]["docs"], total - sum(rejected.values()))


def _compute_pass(
    p: Pass,
    passes: list[Pass],
    store: PassStore,
    config: Config,
    files,
    fresh: bool,
    before: PassResult | None,
) -> dict:
    """Run one pass on Ray Data into a temporary folder, then commit it with its counts."""
    fit = _ensure_fit(p, passes[p.index - 1], store, config, fresh) if p.fit is not None else None
    tmp = store.begin(p)
    prepared: dict[str, dict] = {}
    if p.index == 0:
        _run_read(config, files, tmp)
    else:
        fit_dir = store.fit_dir(p) if p.fit is not None else None
        prepared = _run_steps(p, store.data_dir(passes[p.index - 1]), tmp, config, fit, fit_dir)
    summary = summarise(tmp)
    stats = {key: summary["steps"].get(key) or finish({}, {}) for key in p.step_keys}
    if p.index == 0 and unreadable.count(stats[READ_STAGE]):  # at most one row per input file
        listed = {"unreadable_files": unreadable.list_unreadable(tmp)}
        stats[READ_STAGE]["metrics"] = {**stats[READ_STAGE]["metrics"], **listed}
    for key, metrics in prepared.items():  # what the driver built for the workers (index size)
        stats[key]["metrics"] = {**stats[key]["metrics"], "prepare": metrics}
    if fit is not None:  # what the fit learned is reported with the apply phase
        stats[p.steps[0].key]["metrics"] = {**stats[p.steps[0].key]["metrics"], "fit": fit["metrics"]}
    summary = {"rows": summary["rows"], "rejected": summary["rejected"]}
    _verify_pass(p, stats, summary, before)  # a pass is verified before it is committed
    store.commit(p, tmp, {"label": p.label, "stages": stats, "summary": summary})
    manifest = store.load(p)
    assert manifest is not None
    return manifest


def _write_training_output(
    config: Config, passes: list[Pass], store: PassStore, out: Path, fresh: bool
) -> dict:
    """Shards and the tokenizer from the last pass, with what the tokenize and mix fits decided."""
    fits = {}
    for p in passes:
        if p.fit is not None and p.fit.name in ("tokenize", "mix"):
            fits[p.fit.name] = (_ensure_fit(p, passes[p.index - 1], store, config, fresh), store.fit_dir(p))
    (tok, tok_dir), (mix, _) = fits["tokenize"], fits["mix"]
    mix_spec = next(s for s in config.stages if s.name == "mix")
    plan = {
        **mix["metrics"],
        "shard_tokens": mix_spec.config.shard_tokens,
        "shard_metadata": mix_spec.config.shard_metadata,
    }
    out.mkdir(parents=True, exist_ok=True)
    name = (
        "shards-"
        + digest({"prep": __version__, "pass": passes[-1].key, "plan": plan, "seed": config.run.seed})[:24]
    )

    def build(tmp: Path) -> dict:
        log.info("writing shards to %s", out / "shards")
        data = store.data_dir(passes[-1])
        return write_shards(tmp, data, tok["state"], tok_dir / tok["state"]["file"], plan, config.run.seed)

    built, written = OutputCache(config.run.work_dir).build(name, build, fresh=fresh)
    link_tree(built, out)
    written["tokenizer"]["provenance"] = tok["metrics"].get("tokenizer", {})
    written["mix"] = mix["metrics"]
    return written


def run(
    config: Config, *, fresh: bool = False, address: str | None = None, output: str | None = None
) -> RunResult:
    """Run the pipeline of `config` and write its outputs; raises on any accounting error."""
    out_dir = Path(output or config.run.output)
    store = PassStore(config.run.work_dir)
    store.clean_temporaries()
    files = _list_sources(config)
    passes = plan_passes(_read_fingerprint(config, files), config.stages, config.run.seed)
    result = RunResult(output=out_dir)
    started, u_start = time.time(), DriverUsage.now()
    with (
        ray_session(resolve_address(address, config.model.ray.address), config.model.ray.num_cpus),
        sort_shuffle(),
    ):
        for p in passes:
            t0, u0 = time.time(), DriverUsage.now()
            manifest = None if fresh else store.load(p)
            reused = manifest is not None
            where = f"pass {p.index + 1}/{len(passes)} {p.label}"
            before = result.passes[-1] if result.passes else None
            if manifest is not None and not _checkpoint_holds(p, manifest, store, before, where):
                manifest, reused = None, False
            if manifest is not None:
                log.info("%s: reusing checkpoint %s", where, store.dir(p))
            else:
                log.info("%s: computing", where)
                manifest = _compute_pass(p, passes, store, config, files, fresh, before)
            if p.index == 0:
                read_stats = manifest["stages"][READ_STAGE]
                unreadable.check(read_stats, config.run.max_unreadable_files)
                kinds = read_stats["metrics"].get(source_metadata.KINDS_METRIC, {})
                source_metadata.check(kinds, str(store.data_dir(p)), config.sources)
            seconds = round(time.time() - t0, 3)
            steps = [(s.key, s.spec.name) for s in p.steps] or [(READ_STAGE, READ_STAGE)]
            result.passes.append(
                PassResult(
                    p.label,
                    p.key,
                    str(store.dir(p)),
                    reused,
                    seconds,
                    manifest["stages"],
                    steps,
                    DriverUsage.now().since(u0),
                )
            )
        with staged_output(out_dir) as staging:
            u0 = DriverUsage.now()
            training = (
                _write_training_output(config, passes, store, staging, fresh)
                if config.writes_shards
                else None
            )
            data_dirs = [store.data_dir(p) for p in passes]
            result.stats = write_outputs(config, staging, data_dirs, result.passes, training, fresh=fresh)
            now = DriverUsage.now()
            result.stats["driver"] = {
                "passes": {p.label: p.driver for p in result.passes},
                "outputs": now.since(u0),
                "total": now.since(u_start),
            }
            write_json_atomic(staging / "stats.json", result.stats)
            write_report(staging)
    log.info("run finished in %.1f s (prep %s)", time.time() - started, __version__)
    return result


def _checkpoint_holds(
    p: Pass, manifest: dict, store: PassStore, before: PassResult | None, where: str
) -> bool:
    """Whether a committed pass still holds what it was committed with; one that does not
    (a file lost or rewritten, counts that no longer chain) is discarded, with a message, and
    computed again."""
    try:
        store.check_files(p, manifest)
        _verify_pass(p, manifest["stages"], manifest["summary"], before)
    except (AccountingError, OSError, pa.ArrowInvalid, KeyError) as exc:
        log.warning(
            "%s: checkpoint %s fails verification (%s); discarding it and computing the pass again",
            where,
            store.dir(p),
            exc,
        )
        store.discard(p)
        return False
    return True
