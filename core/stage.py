"""The contract between the runner and a stage.

A streaming stage sees one Arrow batch of live documents at a time and returns a
`Verdict`: the same rows in the same order (with the columns it adds), and for each
row either `None` (keep) or a short rule code (drop). The runner, not the stage,
checks that no row was lost or invented, marks drops, and counts docs and bytes in,
kept and dropped per domain — so every stage is accounted for the same way.

A *global* stage (`barrier = True`) needs to see every document before it can decide
about any (perplexity percentiles, duplicate clusters, a token budget). It runs in
three phases: `process` per batch as above (score, sign, tokenize), then `fit` once
over the columns it names (a barrier: the runner ends the pass there), then `apply`
per batch in the next pass with what `fit` learned. Both streaming phases are
accounted; `stats.json` shows the stage once with both phases' drops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict


class StageConfig(BaseModel):
    """Base for a stage's YAML block: strict, frozen, hashable into checkpoint keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Fields that only `fit`/`apply` read. Changing them reuses the `process` pass (say,
    #: new bucket percentiles reuse the perplexity scores; new mixture weights reuse tokens).
    fit_fields: ClassVar[frozenset[str]] = frozenset()
    #: Fields left out of every checkpoint key (a stage says why where it sets them).
    unkeyed_fields: ClassVar[frozenset[str]] = frozenset()

    #: Apply the stage only to documents of these domains (others pass through, counted as
    #: kept); null applies it to every domain. E.g. language ID skips `code`.
    domains: list[str] | None = None

    def check_files(self) -> list[str]:
        """Problems with files the config names, as 'key: message' (checked at validation)."""
        return []

    def fingerprint(self, phase: str = "all") -> dict:
        """What a phase depends on: the whole config for `fit`/`apply` ("all"), without the
        fit-only fields for `process`; never the unkeyed fields."""
        exclude = set(self.unkeyed_fields) | (set(self.fit_fields) if phase == "process" else set())
        return self.model_dump(mode="json", exclude=exclude)


@dataclass
class Verdict:
    """What a stage decided about one batch."""

    table: pa.Table  # the input rows, same order, plus/with the stage's columns
    rules: list[str | None]  # per row: None keeps it, a rule code drops it
    reasons: list[str | None] | None = None  # per row human message for drops (default: the rule)
    metrics: dict[str, Any] = field(default_factory=dict)  # nested counts summed into stats.json


@dataclass
class FitContext:
    """What the runner hands to `fit`."""

    work_dir: Path  # the fit's own folder: kept across interruptions, `apply` gets it as `files`
    seed: int
    cpus: int = 1  # CPUs of the cluster, for sizing Ray Data work in the fit


@dataclass
class FitResult:
    """What `fit` learned: `state` goes to every `apply` worker, `metrics` to stats.json."""

    state: dict[str, Any]  # JSON-able and small; large state goes in files under work_dir
    metrics: dict[str, Any] = field(default_factory=dict)


class Stage:
    """A streaming stage: `map_batches` over Arrow batches.

    Subclasses set `name`, and `stateful = True` when `setup` loads a model, so that the
    runner places them in an actor pool where the model is loaded once per actor.
    """

    name: ClassVar[str]
    stateful: ClassVar[bool] = False
    #: Columns the stage adds; rows it does not see get them as nulls.
    output_fields: ClassVar[tuple[pa.Field, ...]] = ()
    #: A global stage: `fit` runs between `process` and `apply`, in a pass of its own.
    barrier: ClassVar[bool] = False
    #: The columns `fit` reads (it never sees the text unless it names it); `domain` always
    #: comes along; columns no earlier stage wrote are left out. A stage may set it per
    #: instance in `__init__` (say, `ppl` only when its keep policy needs it).
    fit_columns: tuple[str, ...] = ()
    #: `apply` looks up what the fit decided by the pass output file each row comes from (the
    #: `_file` column the runner then adds; `fit` sees it when `fit_columns` names it), so that
    #: a worker loads the decisions of the file it reads, never all of them.
    apply_reads_file: ClassVar[bool] = False
    #: Columns `apply` adds (besides those `process` added).
    apply_fields: ClassVar[tuple[pa.Field, ...]] = ()
    #: Stages whose output depends on `run.seed` (pseudonyms): the seed joins their checkpoint
    #: key, and the runner sets `run_seed` on every instance before `setup`.
    uses_run_seed: ClassVar[bool] = False
    run_seed: int = 0
    #: Columns `process` adds only for `fit` (signatures, hashes): removed by `apply`, never
    #: written to documents/ or rejected/.
    temporary_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: StageConfig):
        self.config = config

    @classmethod
    def is_global(cls, config: StageConfig) -> bool:
        """Whether this config needs the fit barrier: `barrier` unless a stage decides per
        config (the classifier is global only when it keeps a top percent)."""
        return cls.barrier

    @classmethod
    def wants_gpu(cls, config: StageConfig) -> bool:
        """Whether this config's model runs on a GPU when the cluster has one: the runner then
        gives the step actors of its own, one GPU each (the classifier's Hugging Face model)."""
        return False

    @classmethod
    def rejected_scrubber(cls) -> type | None:
        """A Ray Data UDF class for the text of rows rejected *before* this stage saw them
        (PII: rows langid dropped must not carry raw values into rejected/), built with
        `(config=dict, before=[stage names], seed=int)`; None: nothing to do."""
        return None

    def prepare(self) -> dict[str, Any] | None:
        """Build what every worker of the stage shares, once per pass in one Ray task (say, a
        benchmark index): `{"shared": obj, "metrics": {...}}`. `obj` stays in the Ray object
        store and every worker's `setup(shared)` gets it (NumPy arrays in it are read
        zero-copy); `metrics`, non-additive facts such as the index size, go to stats.json as
        the stage's `metrics.prepare`. None (the default): nothing to share."""
        return None

    @classmethod
    def prepares(cls) -> bool:
        """Whether the stage overrides `prepare` (the runner starts no task for the others)."""
        return cls.prepare is not Stage.prepare

    def setup(self, shared: Any = None) -> None:
        """Load models; called once per worker before the first batch of `process`. `shared`
        is what `prepare` built (None when it built nothing)."""

    def process(self, batch: pa.Table) -> Verdict:
        raise NotImplementedError

    def fit(self, data, ctx: FitContext) -> FitResult:
        """Global stages: learn from `data` (a Ray Dataset of the live rows of the stage's
        domains, `fit_columns` only) what `apply` needs. Runs in the driver."""
        raise NotImplementedError

    def setup_apply(self, state: dict[str, Any], files: Path) -> None:
        """Global stages: load what `apply` needs, once per worker; `files` is the fit's
        work_dir where it was kept (names in `state` are relative to it)."""
        self.state = state

    def apply(self, batch: pa.Table) -> Verdict:
        """Global stages: decide about each row with the fit state."""
        raise NotImplementedError
