"""Where passes and fits live under `work_dir`, and how they become complete.

A pass's data lands in a temporary folder that is renamed into place; the pass is
complete only once its manifest exists, so an interrupted run never mistakes a half
written pass for a finished one. Fits work in a folder that survives interruption.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pyarrow.parquet as pq

from prep import __version__
from prep.core.files import read_json, write_json_atomic
from prep.core.records import BASE_SCHEMA
from prep.pipeline.accounting import AccountingError
from prep.pipeline.passes import Pass


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
        manifest = {**manifest, "files": data_files(tmp)}
        final = self.dir(p)
        if final.exists():
            shutil.rmtree(final)
        final.mkdir(parents=True)
        tmp.rename(final / "data")
        write_json_atomic(final / "manifest.json", {"key": p.key, "prep": __version__, **manifest})

    def check_files(self, p: Pass, manifest: dict) -> None:
        """A reused pass must still hold exactly the files (rows and sizes) it was committed with:
        checked from the Parquet footers, at a cost per file, never per row."""
        on_disk = {f["name"]: f for f in data_files(self.data_dir(p))}
        for f in manifest["files"]:
            found = on_disk.pop(f["name"], None)
            if found is None:
                raise AccountingError(f"checkpoint of pass {p.label}: {f['name']} is missing")
            if (found["rows"], found["bytes"]) != (f["rows"], f["bytes"]):
                raise AccountingError(
                    f"checkpoint of pass {p.label}: {f['name']} holds {found['rows']} rows in "
                    f"{found['bytes']} bytes, but was written with {f['rows']} rows in {f['bytes']} bytes"
                )
        if on_disk:
            raise AccountingError(f"checkpoint of pass {p.label}: unexpected files {sorted(on_disk)}")

    def discard(self, p: Pass) -> None:
        """Remove a committed pass (one that failed verification), so that it is computed again."""
        shutil.rmtree(self.dir(p), ignore_errors=True)

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
    try:
        manifest = read_json(path)
    except ValueError:  # a manifest cut short by a crash of the file system, not by prep
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("key") == key else None


def _temporary(root: Path, label: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{label}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def data_files(data_dir: Path) -> list[dict]:
    """Every Parquet file of a pass output with its rows (from the footer) and size."""
    return [
        {"name": f.name, "rows": pq.ParquetFile(f).metadata.num_rows, "bytes": f.stat().st_size}
        for f in sorted(data_dir.glob("*.parquet"))
    ]
