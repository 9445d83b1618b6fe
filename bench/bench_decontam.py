"""Decontamination: index build over every bundled benchmark, and matching throughput per core.

Run by hand (not a test):  python bench/bench_decontam.py [--repeat R] [--batch N]

The index is what `prep run` builds once per run in the driver: all bundled benchmarks that
are installed, default settings (13-grams, short items whole from 8 words, windows of more
than 10 items dropped). Throughput is the stage's `process` on Arrow batches of the whole
bundled sample (every domain, read with prep's readers), in one process on one core:
normalising and hashing the words, looking up the windows, checking coverage, building the
columns, reasons and metrics. The target is >= 10 MB/s per core.

The VM is shared with other jobs, so besides wall-clock time the script reports the process's
CPU time (what one core spent); both are best of R.
"""

from __future__ import annotations

import argparse
import platform
import time

import pyarrow as pa
import pyarrow.compute as pc

from prep.pipeline.config import load_config
from prep.pipeline.readers import read_file
from prep.pipeline.sources import list_input_files
from prep.stages.decontam import Config, Stage
from prep.stages.decontam.index import BenchmarkIndex
from prep.stages.decontam.ngrams import char_table, words
from prep.stages.decontam.registry import BUNDLED


def load_docs(config_path: str) -> pa.Table:
    tables = []
    for source in load_config(config_path).sources:
        for f in list_input_files(source.paths):
            tables += [t.filter(pc.is_null(t.column("_stage"))) for t in read_file(f, source)]
    return pa.concat_tables(tables)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/mix.yaml", help="its sources are the text to match")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=512, help="documents per Arrow batch")
    args = ap.parse_args()

    _, t_table, _ = timed(char_table)
    names = [n for n, b in BUNDLED.items() if b.available()]
    sources, t_read, c_read = timed(lambda: [(n, BUNDLED[n].items()) for n in names])
    index, t_build, c_build = timed(lambda: BenchmarkIndex.build(sources))
    items = sum(len(its) for _, its in sources)
    nbytes = sum(a.nbytes for a in index.arrays.values())
    ngrams = sum(s["ngrams"] for s in index.summary.values())
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"index: {len(names)} benchmarks, {items:,} items, {ngrams:,} distinct n-grams per benchmark,")
    print(f"       {index.size:,} keys, {nbytes / 1e6:.1f} MB of arrays")
    print(f"       character table {t_table:.2f} s; reading items {t_read:.2f} s wall ({c_read:.2f} s CPU);")
    print(f"       building {t_build:.2f} s wall ({c_build:.2f} s CPU)")

    table = load_docs(args.config)
    batches = [table.slice(i, args.batch) for i in range(0, table.num_rows, args.batch)]
    texts = [b.column("text").to_pylist() for b in batches]
    mb = pc.sum(pc.binary_length(table.column("text"))).as_py() / 1e6
    stage = Stage(Config())
    stage.setup(index.to_shared())

    best = {"stage": [float("inf")] * 2, "words": [float("inf")] * 2, "lookup": [float("inf")] * 2}
    flagged = 0
    for _ in range(args.repeat):
        verdicts, wall, cpu = timed(lambda: [stage.process(b) for b in batches])
        best["stage"] = [min(best["stage"][0], wall), min(best["stage"][1], cpu)]
        flagged = sum(sum(v.table.column("contaminated").to_pylist()) for v in verdicts)
        ws, wall, cpu = timed(lambda: [words(t) for t in texts])
        best["words"] = [min(best["words"][0], wall), min(best["words"][1], cpu)]
        _, wall, cpu = timed(lambda: [index.lookup(w) for w in ws])  # noqa: B023
        best["lookup"] = [min(best["lookup"][0], wall), min(best["lookup"][1], cpu)]
    print(f"text: {table.num_rows:,} documents, {mb:.1f} MB (the bundled sample, every domain); ", end="")
    print(f"batches of {args.batch}; best of {args.repeat}, one core")
    for name, label in (
        ("words", "normalise + hash words"),
        ("lookup", "window lookup"),
        ("stage", "whole stage"),
    ):
        wall, cpu = best[name]
        print(f"{label:24s}: {mb / wall:6.1f} MB/s wall, {mb / cpu:6.1f} MB/s per CPU-second")
    print(f"documents flagged: {flagged} (target >= 10 MB/s per core)")


if __name__ == "__main__":
    main()
