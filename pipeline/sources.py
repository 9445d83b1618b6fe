"""Input files: glob expansion over fsspec and the fingerprint that keys the read pass."""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs


@dataclass(frozen=True)
class InputFile:
    """One file of a source, with the short path used in ids and messages."""

    url: str  # full fsspec URL or local path, what readers open
    relpath: str  # path relative to the source's common directory, used in ids
    size: int
    mtime: str  # modification time or etag, whatever the filesystem reports


def _protocol_prefix(fs: fsspec.AbstractFileSystem, pattern: str) -> str:
    return pattern.split("://", 1)[0] + "://" if "://" in pattern else ""


def expand_paths(patterns: list[str]) -> list[str]:
    """Expand globs to a sorted, de-duplicated list of file URLs (directories are skipped)."""
    out: set[str] = set()
    for pattern in patterns:
        fs, _ = url_to_fs(pattern)
        prefix = _protocol_prefix(fs, pattern)
        matches = fs.glob(pattern) if any(c in pattern for c in "*?[") else [pattern]
        for m in matches:
            if fs.isfile(m):
                out.add(m if "://" in m else prefix + m if prefix else m)
    return sorted(out)


def list_input_files(patterns: list[str]) -> list[InputFile]:
    """Files of one source with sizes and mtimes; relpaths are relative to their common dir."""
    urls = expand_paths(patterns)
    if not urls:
        return []
    bare = [u.split("://", 1)[-1] for u in urls]
    common = posixpath.commonpath(bare) if len(bare) > 1 else posixpath.dirname(bare[0])
    files = []
    for url, b in zip(urls, bare, strict=True):
        fs, path = url_to_fs(url)
        info = fs.info(path)
        mtime = info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("etag") or ""
        rel = posixpath.relpath(b, common) if common else b
        files.append(InputFile(url=url, relpath=rel, size=int(info.get("size") or 0), mtime=str(mtime)))
    return files


def fingerprint_files(files: list[InputFile]) -> str:
    """Stable digest of what would be read: paths, sizes and modification times."""
    h = hashlib.sha256()
    for f in files:
        h.update(json.dumps([f.url, f.size, f.mtime]).encode())
    return h.hexdigest()
