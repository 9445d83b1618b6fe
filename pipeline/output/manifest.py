"""Writing `OUT/`: rejected/ and documents/ from the pass outputs, then stats.json and
manifest.json.

The last check of the accounting invariant happens here, on the files as written:
every document read is either in `OUT/documents/` or in `OUT/rejected/`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from prep import __version__
from prep.core.files import write_json_atomic
from prep.core.records import COUNTS_COLUMN
from prep.pipeline.accounting import check_rows, combine_phases
from prep.pipeline.config import Config
from prep.pipeline.output.documents import write_documents
from prep.pipeline.output.rejected import write_rejected
from prep.stages import stage_class


def _final_schema(data_dirs: list[Path], temporary: set[str]) -> pa.Schema:
    """Columns accumulate pass by pass; the union keeps each column's first type. Columns
    stages kept only for their fit (signatures) are left out."""
    schemas = [pads.dataset(str(d), format="parquet").schema for d in data_dirs]
    schema = pa.unify_schemas(schemas)
    return pa.schema([f for f in schema if f.name not in temporary])


def _parquet_rows(folder: Path) -> int:
    """Rows of every Parquet file below `folder`, from the footers (never the data)."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(folder.rglob("*.parquet")))


def _reset(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def stage_stats(passes: list) -> list[dict]:
    """stats.json's `stages`: one entry per stage in run order, global stages' phases combined."""
    stages: list[dict] = []
    by_name: dict[str, dict] = {}
    for p in passes:
        for key, name in p.steps:
            where = {"pass": Path(p.dir).name, "reused": p.reused, "seconds": p.seconds}
            stats = p.stages[key]
            if key == name:
                by_name[name] = {"name": name, **where, **stats}
                stages.append(by_name[name])
            else:  # the apply phase of a global stage finishes the entry its process phase began
                entry = by_name[name]
                process = {k: entry[k] for k in ("in", "kept", "dropped", "rules", "domains", "metrics")}
                entry.update(combine_phases(process, stats))
                entry.update(
                    {
                        "pass": [entry["pass"], where["pass"]],
                        "reused": entry["reused"] and p.reused,
                        "seconds": entry["seconds"] + p.seconds,
                    }
                )
    return stages


def write_outputs(
    config: Config,
    out_dir: Path,
    data_dirs: list[Path],
    passes: list,
    training: dict | None = None,
    fresh: bool = False,
) -> dict:
    """Write rejected/ and documents/ from the pass outputs, then stats.json and manifest.json
    (with the shards, tokenizer and mixture when the run wrote shards)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rejected_dir, documents_dir = out_dir / "rejected", out_dir / "documents"
    _reset(rejected_dir)
    _reset(documents_dir)
    temporary = {c for spec in config.stages for c in stage_class(spec.name).temporary_columns}
    temporary.add(COUNTS_COLUMN)
    schema = _final_schema(data_dirs, temporary)
    write_rejected(config, rejected_dir, data_dirs, passes, schema, fresh)
    write_documents(data_dirs[-1], documents_dir)

    stages = stage_stats(passes)
    kept_docs, rejected_docs = _parquet_rows(documents_dir), _parquet_rows(rejected_dir)
    kept_bytes = stages[-1]["kept"]["bytes"]  # the text of documents/, as the last stage counted it
    read_in = stages[0]["in"]["docs"]
    check_rows("documents read vs kept + rejected on disk", read_in, kept_docs + rejected_docs)
    check_rows("documents kept by the last stage vs documents/", stages[-1]["kept"]["docs"], kept_docs)
    stats = {
        "prep_version": __version__,
        "config": config.path,
        "stages": stages,
        "output": {
            "documents": {"docs": kept_docs, "bytes": kept_bytes},
            "rejected": {"docs": rejected_docs},
        },
    }
    write_json_atomic(out_dir / "stats.json", stats)
    write_json_atomic(
        out_dir / "manifest.json",
        {
            "prep_version": __version__,
            "config": config.resolved(),
            "passes": [{"label": p.label, "key": p.key, "reused": p.reused} for p in passes],
            "documents": {"docs": kept_docs, "bytes": kept_bytes, "path": "documents/"},
            "rejected": {"docs": rejected_docs, "path": "rejected/"},
            **(training or {}),
        },
    )
    return stats
