"""Passes and their checkpoints under `work_dir`.

A pass is the unit of reuse: reading is one pass, and the streaming stages that
follow run fused in the next one. Its key hashes what it depends on — the input
fingerprint, the config of every stage up to and including it, and prep's version —
so changing a later stage reuses every earlier pass. A pass is complete only once its
manifest exists; data lands in a temporary folder renamed into place first.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from pipeline import __version__
from pipeline.atomic import read_json, write_json_atomic
from pipeline.config import StageSpec
from pipeline.records import BASE_SCHEMA


@dataclass
class Pass:
    index: int
    label: str  # "read", or the stage names joined with "+"
    key: str
    stages: list[StageSpec] = field(default_factory=list)  # empty for the read pass

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages] or ["read"]


def digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def plan_passes(read_fingerprint: dict, stages: list[StageSpec]) -> list[Pass]:
    """The read pass, then the streaming stages fused into one pass (keys chain)."""
    read_key = digest({"prep": __version__, "pass": "read", "input": read_fingerprint})
    passes = [Pass(0, "read", read_key)]
    if stages:
        key = digest({"prep": __version__, "after": read_key, "stages": [s.fingerprint() for s in stages]})
        passes.append(Pass(1, "+".join(s.name for s in stages), key, list(stages)))
    return passes


class PassStore:
    """Where passes live: `work_dir/passes/NN-label-key/{data/, manifest.json}`."""

    def __init__(self, work_dir: str | Path):
        self.root = Path(work_dir) / "passes"

    def dir(self, p: Pass) -> Path:
        return self.root / f"{p.index:02d}-{p.label}-{p.key[:16]}"

    def data_dir(self, p: Pass) -> Path:
        return self.dir(p) / "data"

    def load(self, p: Pass) -> dict | None:
        """The manifest of a complete pass with this key, or None."""
        path = self.dir(p) / "manifest.json"
        if not path.is_file():
            return None
        manifest = read_json(path)
        return manifest if manifest.get("key") == p.key else None

    def begin(self, p: Pass) -> Path:
        """A fresh temporary folder to write the pass's data into."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{p.index:02d}-{p.label}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        return tmp

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

    def clean_temporaries(self) -> None:
        """Remove folders of passes that were interrupted before they completed."""
        if self.root.is_dir():
            for tmp in self.root.glob(".tmp-*"):
                shutil.rmtree(tmp, ignore_errors=True)
