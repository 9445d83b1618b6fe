"""Planning a run as passes, and the keys their checkpoints are stored under.

A pass is the unit of reuse: reading is one pass, and the streaming stages that
follow run fused in the next one, up to the first global stage's `process` phase; its
`fit` runs over that pass's output (a barrier) and the next pass starts with its
`apply` phase. A pass's key hashes what it depends on — the input fingerprint, the
config of every step up to and including it (fit-only fields only from the fit on), and
prep's version — so changing a later stage reuses every earlier pass. Where passes are
stored is `pass_store.py`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

from prep import __version__
from prep.core.records import READ_STAGE
from prep.pipeline.config import StageSpec
from prep.stages import stage_class


@dataclass(frozen=True)
class Step:
    """One phase of one stage inside a pass."""

    spec: StageSpec
    phase: Literal["process", "apply"] = "process"

    @property
    def key(self) -> str:
        """The step's name in counts and stats: the stage name, `name:apply` for the apply phase."""
        return self.spec.name if self.phase == "process" else f"{self.spec.name}:apply"

    def fingerprint(self, seed: int = 0) -> dict:
        cfg = self.spec.config
        config = cfg.fingerprint(self.phase if self.phase == "process" else "all")
        out = {"name": self.spec.name, "phase": self.phase, "config": config}
        if stage_class(self.spec.name).uses_run_seed:
            out["seed"] = seed
        return out


@dataclass
class Pass:
    index: int
    label: str  # "read", or the step keys joined with "+"
    key: str
    steps: list[Step] = field(default_factory=list)  # empty for the read pass
    fit: StageSpec | None = None  # the global stage whose fit runs on the previous pass's output
    fit_key: str | None = None

    @property
    def step_keys(self) -> list[str]:
        return [s.key for s in self.steps] or [READ_STAGE]


#: The layout of what a pass stores (its columns, its manifest): part of every key, so that a
#: checkpoint written in an older layout is recomputed, never misread. 2: counts in `_counts`,
#: files listed in the manifest.
FORMAT = 2


def digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def plan_passes(read_fingerprint: dict, stages: list[StageSpec], seed: int = 0) -> list[Pass]:
    """The read pass, then passes of fused steps split after each global stage's `process`."""
    read_key = digest({"prep": __version__, "format": FORMAT, "pass": "read", "input": read_fingerprint})
    passes = [Pass(0, READ_STAGE, read_key)]
    groups: list[tuple[StageSpec | None, list[Step]]] = [(None, [])]
    for spec in stages:
        groups[-1][1].append(Step(spec))
        if stage_class(spec.name).is_global(spec.config):
            groups.append((spec, [Step(spec, "apply")]))
    prev = read_key
    for fit, steps in groups:
        if not steps:
            continue
        fit_key = None
        if fit is not None:
            fit_key = digest({"prep": __version__, "after": prev, "fit": fit.fingerprint()})
        key = digest(
            {"prep": __version__, "after": fit_key or prev, "steps": [s.fingerprint(seed) for s in steps]}
        )
        label = "+".join(s.key.replace(":", "-") for s in steps)
        passes.append(Pass(len(passes), label, key, steps, fit, fit_key))
        prev = key
    return passes
