"""Passes and their checkpoints under `work_dir`.

A pass is the unit of reuse: reading is one pass, and the streaming stages that
follow run fused in the next one, up to the first global stage's `process` phase; its
`fit` runs over that pass's output (a barrier) and the next pass starts with its
`apply` phase. A pass's key hashes what it depends on — the input fingerprint, the
config of every step up to and including it (fit-only fields only from the fit on), and
prep's version — so changing a later stage reuses every earlier pass. A pass or a fit is
complete only once its manifest exists; data lands in a temporary folder renamed into
place first.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow.parquet as pq

from pipeline import __version__
from pipeline.atomic import read_json, write_json_atomic
from pipeline.config import StageSpec
from pipeline.records import BASE_SCHEMA, READ_STAGE
from stages import stage_class


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


def digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def plan_passes(read_fingerprint: dict, stages: list[StageSpec], seed: int = 0) -> list[Pass]:
    """The read pass, then passes of fused steps split after each global stage's `process`."""
    read_key = digest({"prep": __version__, "pass": "read", "input": read_fingerprint})
    passes = [Pass(0, READ_STAGE, read_key)]
    groups: list[tuple[StageSpec | None, list[Step]]] = [(None, [])]
    for spec in stages:
        groups[-1][1].append(Step(spec))
        if stage_class(spec.name).barrier:
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


class PassStore:
    """Where passes live: `work_dir/passes/NN-label-key/{data/, manifest.json}`, and fits:
    `work_dir/fits/stage-key/{files of the fit, manifest.json}`."""

    def __init__(self, work_dir: str | Path):
        self.root = Path(work_dir) / "passes"
        self.fits = Path(work_dir) / "fits"

    def dir(self, p: Pass) -> Path:
        return self.root / f"{p.index:02d}-{p.label}-{p.key[:16]}"

    def data_dir(self, p: Pass) -> Path:
        return self.dir(p) / "data"

    def load(self, p: Pass) -> dict | None:
        """The manifest of a complete pass with this key, or None."""
        return _load_manifest(self.dir(p), p.key)

    def begin(self, p: Pass) -> Path:
        """A fresh temporary folder to write the pass's data into."""
        return _temporary(self.root, f"{p.index:02d}-{p.label}")

    def commit(self, p: Pass, tmp: Path, manifest: dict) -> None:
        """Move the data into place, then write the manifest that marks the pass complete."""
        if not any(tmp.glob("*.parquet")):
            # Ray writes no file for an empty dataset; the next pass still needs one to read.
            pq.write_table(BASE_SCHEMA.empty_table(), tmp / "empty.parquet")
        final = self.dir(p)
        if final.exists():
            shutil.rmtree(final)
        final.mkdir(parents=True)
        tmp.rename(final / "data")
        write_json_atomic(final / "manifest.json", {"key": p.key, "prep": __version__, **manifest})

    def fit_dir(self, p: Pass) -> Path:
        assert p.fit is not None and p.fit_key is not None
        return self.fits / f"{p.fit.name}-{p.fit_key[:16]}"

    def load_fit(self, p: Pass) -> dict | None:
        """The manifest (state and metrics) of a complete fit for pass `p`, or None."""
        return _load_manifest(self.fit_dir(p), p.fit_key)

    def begin_fit(self, p: Pass, fresh: bool = False) -> Path:
        """The folder a fit works in. Unlike a pass's, it survives an interruption: a fit
        that checkpoints its own steps there (dedup's connected-component iterations)
        resumes from them. `fresh` starts it empty."""
        assert p.fit is not None and p.fit_key is not None
        partial = self.fits / f".partial-{p.fit.name}-{p.fit_key[:16]}"
        if fresh and partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True, exist_ok=True)
        return partial

    def commit_fit(self, p: Pass, tmp: Path, manifest: dict) -> None:
        """Move the fit's files into place, then write the manifest that marks the fit complete."""
        final = self.fit_dir(p)
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(final)
        write_json_atomic(final / "manifest.json", {"key": p.fit_key, "prep": __version__, **manifest})

    def clean_temporaries(self) -> None:
        """Remove folders of passes and fits that were interrupted before they completed."""
        for root in (self.root, self.fits):
            if root.is_dir():
                for tmp in root.glob(".tmp-*"):
                    shutil.rmtree(tmp, ignore_errors=True)


def _load_manifest(folder: Path, key: str | None) -> dict | None:
    path = folder / "manifest.json"
    if not path.is_file():
        return None
    manifest = read_json(path)
    return manifest if manifest.get("key") == key else None


def _temporary(root: Path, label: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{label}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp
