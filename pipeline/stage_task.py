"""The Ray Data UDF around every stage: load it once, run it on live rows, count, check.

The wrapper is where the accounting invariant is enforced for streaming stages: a
stage must return exactly the rows it was given, in order, or the run fails.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import ray

from prep.core.records import COUNTS_COLUMN, conform, live_mask
from prep.core.stage import Stage, Verdict
from prep.pipeline.accounting import AccountingError, attach_counts, count_batch, merge
from prep.pipeline.failures import StepFailed
from prep.stages import stage_class, stage_config_model


def _domain_mask(batch: pa.Table, domains: list[str] | None) -> pa.ChunkedArray:
    if domains is None:
        return pa.chunked_array([pa.array([True] * batch.num_rows)])
    return pc.is_in(batch.column("domain"), value_set=pa.array(domains, pa.string()))


def _mark_drops(verdict: Verdict, stage_name: str) -> pa.Table:
    table = verdict.table
    reasons = verdict.reasons or verdict.rules
    stage_col = [stage_name if r is not None else None for r in verdict.rules]
    for name, values in (("_stage", stage_col), ("_rule", verdict.rules), ("_reason", reasons)):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))
    return table


def _check_verdict(stage_name: str, live: pa.Table, verdict: Verdict) -> None:
    n = live.num_rows
    if verdict.table.num_rows != n or len(verdict.rules) != n:
        raise AccountingError(
            f"stage {stage_name} returned {verdict.table.num_rows} rows and {len(verdict.rules)} "
            f"decisions for a batch of {n}: stages must keep every row and mark drops"
        )
    if not verdict.table.column("id").equals(live.column("id")):
        raise AccountingError(f"stage {stage_name} changed, reordered or replaced document ids")
    if verdict.reasons is not None and len(verdict.reasons) != n:
        raise AccountingError(f"stage {stage_name} returned {len(verdict.reasons)} reasons for {n} rows")


def output_schema(input_schema: pa.Schema, fields: tuple[pa.Field, ...]) -> pa.Schema:
    """Input columns plus the step's declared columns: one schema for every batch."""
    for f in fields:
        if f.name not in input_schema.names:
            input_schema = input_schema.append(f)
    return input_schema


def _conform(parts: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """Concatenate processed and passed-through rows in `schema` (missing columns as nulls)."""
    return pa.concat_tables([conform(part, schema) for part in parts])


class StageTask:
    """Ray Data UDF around one phase of one `Stage`: loads it once, processes live rows,
    counts, checks. `phase` is "process", or "apply" for a global stage after its fit."""

    dropped_columns: tuple[str, ...] = ()  # the stage's temporary columns, in the apply phase

    def __init__(
        self,
        name: str,
        config: dict,
        phase: str = "process",
        state: dict | None = None,
        files: str | None = None,
        shared: ray.ObjectRef | None = None,
        seed: int = 0,
    ):
        self.name = name
        self.stage: Stage = stage_class(name)(stage_config_model(name).model_validate(config))
        self.stage.run_seed = seed
        self.phase = phase
        if phase == "apply":
            self.key = f"{name}:apply"
            self.fields = self.stage.output_fields + self.stage.apply_fields
            self.dropped_columns = self.stage.temporary_columns
            self.stage.setup_apply(state or {}, Path(files) if files else Path("."))
            self.decide = self.stage.apply
        else:
            self.key = name
            self.fields = self.stage.output_fields
            if shared is None:
                self.stage.setup()
            else:  # built once by the driver's `prepare`: read from the object store, zero-copy
                self.stage.setup(ray.get(shared))
            self.decide = self.stage.process

    def __call__(self, batch: pa.Table) -> tuple[pa.Table, dict, dict]:
        """The batch after this step, and the step's counts and metrics for it."""
        live_rows = live_mask(batch)
        live = batch.filter(live_rows)
        rejected_before = batch.filter(pc.invert(live_rows))
        schema = output_schema(batch.schema, self.fields)
        for name in self.dropped_columns:
            if name in schema.names:
                schema = schema.remove(schema.get_field_index(name))
        if live.num_rows == 0:
            return _conform([batch], schema), {}, {}
        applies = _domain_mask(live, self.stage.config.domains)
        todo, skipped = live.filter(applies), live.filter(pc.invert(applies))
        parts = []
        if todo.num_rows:
            verdict = self._decide(todo)
            _check_verdict(self.key, todo, verdict)
            parts.append(_mark_drops(verdict, self.name))
            counts = count_batch(todo, parts[0], verdict.rules)
            metrics = verdict.metrics
        else:
            counts, metrics = {}, {}
        if skipped.num_rows:  # other domains pass through untouched, counted as kept
            counts = merge(counts, count_batch(skipped, skipped, [None] * skipped.num_rows))
            parts.append(skipped)
        if rejected_before.num_rows:
            parts.append(rejected_before)
        return _conform(parts, schema), counts, metrics

    def _decide(self, todo: pa.Table) -> Verdict:
        """The stage's verdict; if it raises, the document it raised on is found (one row at a
        time, only then) and named in a `StepFailed`."""
        try:
            return self.decide(todo)
        except Exception as exc:
            culprit = "a batch"
            for i in range(todo.num_rows):
                try:
                    self.decide(todo.slice(i, 1))
                except Exception:
                    culprit = f"document {todo.column('id')[i].as_py()}"
                    break
            raise StepFailed.of(self.name, culprit, exc, todo.column("text").to_pylist()) from exc


class StageChain:
    """The steps of one pass fused into one Ray Data UDF: each batch goes through every
    step in a single worker, so stateful stages share one actor pool (with two actor
    pools on a 2-core machine, the read tasks had no CPU left and the pass hung) and no
    batch crosses the object store between stages."""

    def __init__(self, steps: list[dict]):
        self.tasks = [StageTask(**kwargs) for kwargs in steps]

    def __call__(self, batch: pa.Table) -> pa.Table:
        """The batch through every step, with every step's counts attached to it (and those of
        the steps an earlier chain of the same pass ran, carried on: see `carried_counts`)."""
        entries, batch = carried_counts(batch)
        for task in self.tasks:
            batch, counts, metrics = task(batch)
            entries[task.key] = (counts, metrics)
        return attach_counts(batch, entries)


def carried_counts(batch: pa.Table) -> tuple[dict[str, tuple[dict, dict]], pa.Table]:
    """The counts an earlier chain of the pass attached (a pass split around a GPU step runs
    several chains), merged, and the batch without them. Ray Data may have cut or joined
    blocks in between: every non-null `_counts` value is taken exactly once, whichever row
    it ended up on, so the sums stay exact."""
    if COUNTS_COLUMN not in batch.column_names:
        return {}, batch
    entries: dict[str, tuple[dict, dict]] = {}
    for value in batch.column(COUNTS_COLUMN).drop_null().to_pylist():
        for key, (counts, metrics) in json.loads(value).items():
            old_counts, old_metrics = entries.get(key, ({}, {}))
            entries[key] = (merge(old_counts, counts), merge(old_metrics, metrics))
    return entries, batch.drop_columns([COUNTS_COLUMN])


@functools.lru_cache(maxsize=8)
def _cached_chain(steps_json: str) -> StageChain:
    return StageChain(json.loads(steps_json))


def run_stateless_chain(batch: pa.Table, steps: list[dict]) -> pa.Table:
    """Ray Data task UDF for passes without a model: one chain per worker process."""
    return _cached_chain(json.dumps(steps, sort_keys=True))(batch)
