"""Exporting a run's shards: one Ray Data row per shard, each converted by a worker.

The driver holds one row per shard (its path, split and counts), never tokens. The export is
built in a sibling folder (`.DIR.next`) and renamed over DIR once every file is written and
checked, so DIR is a complete export or the previous one; a folder that is not a prep export
is never replaced.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from prep.core.files import read_json, sha256_file, write_json_atomic
from prep.core.shards import read_shard
from prep.export import hf, litdata, llmc, megatron
from prep.export.tokens import token_count
from prep.extras import require

#: format -> (writer, file name of shard i of a split holding n shards).
FORMATS = {
    "megatron": (megatron.write, lambda split, i, n: f"{split}-{i:05d}"),
    "llmc": (llmc.write, lambda split, i, n: f"prep_{split}_{i:06d}"),
    "hf": (hf.write, lambda split, i, n: f"data/{hf.SPLITS[split]}-{i:05d}-of-{n:05d}"),
    "litdata": (litdata.write, lambda split, i, n: f"{split}/{i:05d}"),
}
#: format -> what the driver writes once every shard is written (from the workers' small
#: per-shard files, never tokens): (building folder, split folders) -> paths written.
FINISH = {"litdata": litdata.finish}
MANIFEST = "export.json"


class ExportError(ValueError):
    """The run's output cannot be exported as asked (says what and where)."""


def _file_entry(path: Path, root: Path) -> dict:
    """A written file as export.json lists it: path under DIR, size and sha256."""
    return {"path": str(path.relative_to(root)), "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def export_shard(row: dict) -> dict:
    """Ray Data UDF: one shard checked against its sha256 and written in the row's format."""
    path = Path(row["file"])
    if sha256_file(path) != row["sha256"]:
        raise ExportError(f"{path}: sha256 differs from the manifest (run `prep verify`)")
    table = read_shard(path)
    prefix = Path(row["prefix"])
    prefix.parent.mkdir(parents=True, exist_ok=True)
    written = FORMATS[row["format"]][0](table, prefix)
    tokens = token_count(table)
    files = [_file_entry(p, Path(row["root"])) for p in written]
    return {"shard": row["shard"], "split": row["split"], "docs": table.num_rows, "tokens": tokens,
            "files": json.dumps(files)}  # fmt: skip


def _plan(out: Path, fmt: str, building: Path) -> tuple[dict, list[dict]]:
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise ExportError(f"{manifest_path}: not found (is {out} the output of a prep run?)")
    manifest = read_json(manifest_path)
    if not manifest.get("shards"):
        raise ExportError(f"{manifest_path}: the run wrote no shards (no tokenizer:/mix: sections)")
    per_split: dict[str, int] = {}
    for s in manifest["shards"]:
        per_split[s["split"]] = per_split.get(s["split"], 0) + 1
    rows, seen = [], dict.fromkeys(per_split, 0)
    for s in manifest["shards"]:
        i, seen[s["split"]] = seen[s["split"]], seen[s["split"]] + 1
        name = FORMATS[fmt][1](s["split"], i, per_split[s["split"]])
        rows.append({"shard": s["path"], "file": str(out / s["path"]), "split": s["split"],
                     "sha256": s["sha256"], "format": fmt, "root": str(building),
                     "prefix": str(building / name)})  # fmt: skip
    return manifest, rows


def _check_destination(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()) and not (dest / MANIFEST).is_file():
        raise ExportError(f"{dest}: exists and is not a prep export; choose an empty or new folder")


def export(out: Path, fmt: str, dest: Path, address: str | None = None) -> dict:
    """Write the export and return its manifest (also DIR/export.json)."""
    import ray

    from prep.pipeline.raysession import ray_session

    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt}: not one of {', '.join(FORMATS)}")
    if fmt == "litdata":
        require("litdata")
    dest = dest.resolve()
    _check_destination(dest)
    building = dest.parent / f".{dest.name}.next"
    shutil.rmtree(building, ignore_errors=True)  # what an interrupted export left
    building.mkdir(parents=True)
    manifest, rows = _plan(out, fmt, building)
    with ray_session(address):
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        done = ray.data.from_items(rows, override_num_blocks=len(rows)).map(export_shard).take_all()
    by_shard = {r["shard"]: r for r in done}
    files = []
    for s in manifest["shards"]:
        row = by_shard[s["path"]]
        if (row["docs"], row["tokens"]) != (s["docs"], s["tokens"]):
            raise ExportError(f"{s['path']}: {row['docs']} docs / {row['tokens']} tokens, manifest {s}")
        files += [{**f, "split": row["split"], "docs": row["docs"], "tokens": row["tokens"]}
                  for f in json.loads(row["files"])]  # fmt: skip
    if fmt in FINISH:
        splits = sorted({s["split"] for s in manifest["shards"]})
        for p in FINISH[fmt](building, splits):
            split = p.relative_to(building).parts[0]
            files.append({**_file_entry(p, building), "split": split, "docs": 0, "tokens": 0})
    tok = manifest["tokenizer"]
    shutil.copyfile(out / tok["path"], building / "tokenizer.json")
    summary = {
        "format": fmt,
        "from": str(out.resolve()),
        "tokenizer": {k: tok[k] for k in ("sha256", "vocab_size", "eot_id", "token_type")}
        | {"path": "tokenizer.json"},
        "eot_position": "last token of every document",
        "splits": {
            split: {"docs": v["docs"], "tokens": v["tokens"]} for split, v in manifest["splits"].items()
        },
        "files": files,
    }
    write_json_atomic(building / MANIFEST, summary)
    if dest.exists():
        shutil.rmtree(dest)
    building.rename(dest)
    return summary
