"""Input files a reader could not read to their end, listed and held to `run.max_unreadable_files`.

A corrupt, truncated or vanished file is not a reason to lose a day's run: the reader keeps
what it read and ends the file with one `unreadable_file` row. But a run where many files fail
is more likely a wrong path, a wrong format or a broken mount than bad luck, so past a small
number the run stops after the read pass (which is kept: raising the limit reuses it).

The list costs one Ray Data scan of the read pass's `_rule` column, filtered in the workers;
the driver receives at most one row per input file, and only when the accounting says there is
at least one.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import ray

from prep.pipeline.failures import StepFailed

RULE = "unreadable_file"
#: How many unreadable files the error message names (stats.json lists them all).
SHOWN = 3


class TooManyUnreadableFiles(StepFailed):
    """More input files than `run.max_unreadable_files` could not be read to their end."""


def count(read_stats: dict) -> int:
    """Unreadable files in the read step's stats (one `unreadable_file` row per file)."""
    return int(read_stats["rules"].get(RULE, {}).get("docs", 0))


def _unreadable_rows(batch: pa.Table) -> pa.Table:
    return batch.filter(pc.equal(batch.column("_rule"), RULE)).select(["id", "_reason"])


def list_unreadable(data_dir: Path) -> list[dict]:
    """[{file, reason}] for each unreadable file in a read pass's output, sorted by file."""
    ds = ray.data.read_parquet(str(data_dir)).select_columns(["id", "_rule", "_reason"])
    rows = ds.map_batches(_unreadable_rows, batch_format="pyarrow").take_all()
    found = [{"file": r["id"].removesuffix(":error"), "reason": r["_reason"]} for r in rows]
    return sorted(found, key=lambda r: r["file"])


def check(read_stats: dict, limit: int) -> None:
    """Fail when more files than `limit` were unreadable, naming the first few and the way on."""
    n = count(read_stats)
    if n <= limit:
        return
    files = read_stats["metrics"].get("unreadable_files", [])
    shown = "; ".join(f["reason"] for f in files[:SHOWN])
    more = f" (+{n - SHOWN} more)" if n > SHOWN else ""
    raise TooManyUnreadableFiles(
        f"{n} input files could not be read to their end, more than run.max_unreadable_files={limit}: "
        f"{shown}{more}. The read pass is kept: fix or remove the files, or raise "
        "run.max_unreadable_files to accept them (each is one unreadable_file row in rejected/)"
    )
