"""Export throughput: each format of `prep export` on one core, against the disk and a peer.

For every shard of OUT, in this process, one core, best of --repeat:

- `copy`: the shard file copied (read + write, page cache as it comes): the disk-bound line;
- `megatron`, `llmc`, `hf`, `litdata`: prep's writer for that format (what one `prep export` worker does);
- `megatron-core builder`: Megatron-core's own `IndexedDatasetBuilder` writing the same
  documents (`add_document` per document, as its preprocess_data.py does): the peer.

Throughput is shard bytes read per second (MB/s per core) and tokens per second.

    python bench/bench_export.py OUT [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from prep.core.shards import read_shard
from prep.export import hf, litdata, llmc, megatron


def _megatron_core(table, prefix: Path) -> list[Path]:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    dtype = megatron.token_dtype(table.column("tokens").type.value_type)
    builder = IndexedDatasetBuilder(str(prefix.with_suffix(".bin")), dtype=dtype.type)
    for doc in table.column("tokens"):
        values = np.asarray(doc.values).astype(dtype, copy=False)
        builder.add_document(torch.from_numpy(values), [len(values)])
    builder.finalize(str(prefix.with_suffix(".idx")))
    return [prefix.with_suffix(".bin"), prefix.with_suffix(".idx")]


def _litdata(table, prefix: Path) -> list[Path]:
    """The litdata writer as rank i of one split folder, as `prep export` names it."""
    folder = prefix.parent / "litdata"
    folder.mkdir(exist_ok=True)
    return litdata.write(table, folder / prefix.name.lstrip("s"))


def _copy(src: Path, prefix: Path) -> None:
    shutil.copyfile(src, prefix.with_suffix(".arrow"))


def _from_shard(write: Callable) -> Callable[[Path, Path], object]:
    """A writer of tables as a writer of shard files (the shard memory-mapped, as a worker does)."""
    return lambda src, prefix: write(read_shard(src), prefix)


def time_writer(shards: list[Path], write: Callable[[Path, Path], object], repeat: int) -> float:
    """Best wall seconds over `repeat` runs of `write(shard, prefix)` for every shard."""
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
            start = time.perf_counter()
            for i, path in enumerate(shards):
                write(path, Path(tmp) / f"s{i:05d}")
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="a prep run's output (run.output)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    manifest = json.loads((args.out / "manifest.json").read_text())
    shards = [args.out / s["path"] for s in manifest["shards"]]
    size = sum(p.stat().st_size for p in shards)
    tokens = sum(s["tokens"] for s in manifest["shards"])
    rows = {"copy (disk-bound)": time_writer(shards, _copy, args.repeat)}
    writers = (("megatron", megatron.write), ("llmc", llmc.write), ("hf", hf.write), ("litdata", _litdata))
    for name, write in writers:
        rows[name] = time_writer(shards, _from_shard(write), args.repeat)
    rows["megatron-core builder (peer)"] = time_writer(shards, _from_shard(_megatron_core), args.repeat)
    print(
        f"{len(shards)} shards, {size / 1e6:,.1f} MB, {tokens:,} tokens; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print("| writer | seconds | MB/s per core | M tokens/s | vs copy |")
    print("|---|---|---|---|---|")
    for name, seconds in rows.items():
        print(
            f"| {name} | {seconds:.2f} | {size / 1e6 / seconds:,.0f} | {tokens / 1e6 / seconds:,.1f} | "
            f"{rows['copy (disk-bound)'] / seconds:.2f}x |"
        )


if __name__ == "__main__":
    main()
