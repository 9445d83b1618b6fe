"""Checkpointed steps of the fit under its work_dir, and the Ray Data plumbing they share.

Each step writes Parquet into a temporary folder and renames it into place with a `_done.json`
beside the data, so an interrupted fit redoes only the step it was in. The work_dir of a fit
survives an interruption (see `PassStore.begin_fit`); `--fresh` empties it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import ray

from prep.core.files import read_json, write_json_atomic

DONE = "_done.json"


class Steps:
    """Named, completed-once steps under one folder."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / name

    def done(self, name: str) -> dict | None:
        marker = self.root / name / DONE
        return read_json(marker) if marker.is_file() else None

    def run(self, name: str, work: Callable[[Path], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """The step's info, computing it unless a completed step is on disk; and whether it was reused."""
        info = self.done(name)
        if info is not None:
            return info, True
        tmp = self.root / f".tmp-{name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        info = work(tmp)
        write_json_atomic(tmp / DONE, info)
        final = self.root / name
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        return info, False

    def remove(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)


def parquet_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob("*.parquet"))


def parquet_rows(folder: Path) -> int:
    return sum(pq.read_metadata(f).num_rows for f in parquet_files(folder))


def read(folder: Path, columns: list[str] | None = None) -> ray.data.Dataset | None:
    """The step's Parquet as a Dataset, or None when the step wrote no row."""
    if parquet_rows(folder) == 0:
        return None
    # One folder, not a list of files: Ray resolves a list in threads, and with aiohttp absent
    # two threads importing fsspec's http module at once fail (Ray 2.60).
    ds = ray.data.read_parquet(str(folder), file_extensions=["parquet"])
    return ds.select_columns(columns) if columns else ds


def read_table(folder: Path, columns: list[str] | None = None) -> pa.Table | None:
    """The step's Parquet in the driver (small steps only), or None when empty."""
    files = parquet_files(folder)
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])


def write(ds: ray.data.Dataset | None, folder: Path) -> int:
    """Write `ds` as Parquet into `folder`; the number of rows written (0 for None)."""
    if ds is None:
        return 0
    ds.write_parquet(str(folder))
    return parquet_rows(folder)
