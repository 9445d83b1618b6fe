"""Products of a run kept under `work_dir/outputs/` so that a re-run links them into OUT/
instead of building them again.

What OUT/ holds is a function of the passes it is built from: the rejected rows of a pass
(scrubbed by the PII stage when they left before it) and the shards of the last pass. On
the sample, re-scrubbing rejected/ and re-sorting the shards were 31 s of a 51 s run that
reused every pass; linked from here they take well under a second. Files are hard-linked
into OUT/ (copied across file systems); delete `work_dir` to reclaim the space.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from prep.core.files import read_json, write_json_atomic

DONE = "_done.json"


class OutputCache:
    """`work_dir/outputs/NAME/`: a folder that is complete once its `_done.json` exists."""

    def __init__(self, work_dir: str | Path):
        self.root = Path(work_dir) / "outputs"

    def path(self, name: str) -> Path:
        return self.root / name

    def done(self, name: str) -> dict | None:
        marker = self.path(name) / DONE
        return read_json(marker) if marker.is_file() else None

    def tmp(self) -> Path:
        tmp = self.root / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir(parents=True)
        return tmp

    def commit(self, name: str, built: Path | None, info: dict | None = None) -> Path:
        """Move a built folder (None: an empty one) into place and mark it complete."""
        dest = self.path(name)
        shutil.rmtree(dest, ignore_errors=True)
        if built is not None and built.is_dir():
            built.rename(dest)
        else:
            dest.mkdir(parents=True)
        write_json_atomic(dest / DONE, info or {})
        return dest

    def build(self, name: str, build: Callable[[Path], dict], fresh: bool = False) -> tuple[Path, dict]:
        """The folder `name`, built by `build(tmp)` (which returns what to remember) if missing
        or if `fresh` asks for it again."""
        info = None if fresh else self.done(name)
        if info is None:
            tmp = self.tmp()
            try:
                info = build(tmp)
                self.commit(name, tmp, info)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return self.path(name), info


def link(src: Path, dest: Path) -> None:
    """Hard-link src as dest (replacing dest), or copy where a link cannot be made."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def link_tree(src: Path, dest: Path) -> None:
    """Every file below src at the same place below dest (but the completion marker)."""
    for f in sorted(src.rglob("*")):
        if f.is_file() and f.name != DONE:
            link(f, dest / f.relative_to(src))
