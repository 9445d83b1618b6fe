"""OUT/ is replaced whole or not at all.

A run builds its output in a sibling folder (`.OUT.next`, same file system), and only once
every product is written and every row check has passed is the old OUT/ moved aside and the
new one renamed into place: two renames, so a failed or killed run leaves the previous OUT/
as it was. A run killed between the two renames leaves `.OUT.prev`; the next run puts it
back before it starts.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prep.core.settings import ConfigError

log = logging.getLogger("prep")

#: Files that mark a folder as a prep output (a run refuses to replace any other folder).
MARKERS = ("stats.json", "manifest.json")


def staging_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.next"


def previous_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.prev"


def recover(out: Path) -> None:
    """Undo what a run killed mid-swap left: the previous output aside and no OUT/."""
    prev = previous_dir(out)
    if prev.is_dir():
        if out.exists():
            shutil.rmtree(prev)
        else:
            prev.rename(out)
            log.warning("restored the previous output %s, left aside by an interrupted run", out)


def check_replaceable(out: Path) -> None:
    """A run replaces OUT/ as a whole: refuse to do that to a folder that prep did not write."""
    if out.is_file() or out.is_symlink():
        raise ConfigError(
            [f"run.output: {out} is a file or a link, not a folder prep can write its output to"]
        )
    if out.is_dir() and any(out.iterdir()) and not any((out / m).is_file() for m in MARKERS):
        raise ConfigError(
            [
                f"run.output: {out} exists and is not the output of a prep run (no stats.json or "
                "manifest.json); a run replaces its output folder whole, so choose a new or empty folder"
            ]
        )


@contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """A fresh folder to build the output in, swapped in for `out` when the block succeeds
    and removed (leaving `out` untouched) when it raises."""
    recover(out)
    check_replaceable(out)
    staging = staging_dir(out)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if out.is_dir():
            log.error("the previous output in %s is unchanged", out)
        raise
    prev = previous_dir(out)
    if out.exists():
        out.rename(prev)
    staging.rename(out)
    shutil.rmtree(prev, ignore_errors=True)
