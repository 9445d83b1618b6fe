"""Files: atomic writes (a reader sees the old file or the new one, never half of one), checksums."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_stamp(path: str | os.PathLike | None) -> dict | None:
    """Size and modification time of a file a stage reads (a model, a tokenizer), for its
    checkpoint key: a model replaced in place is not mistaken for the one a pass was computed
    with. Cheap at any size (hashing a 4 GB KenLM binary would take ~10 s per run)."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:  # missing: check_files reports it; the key just matches no good file
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
