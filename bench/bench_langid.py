"""Language ID throughput: prep's langid stage vs raw fastText predict on the same documents.

Run by hand (not a test):  python bench/bench_langid.py [--docs N] [--repeat R]

Both sides run in this process on one core over the same texts from the bundled sample
(read with prep's readers). The peer is what a user of plain fastText writes: replace
newlines, call `model.predict(text)` per document. prep's side is `Stage.process` on
Arrow batches, i.e. normalisation, prediction, thresholds and metrics included.
"""

from __future__ import annotations

import argparse
import platform
import time

import pyarrow as pa

from prep.pipeline.config import load_config
from prep.pipeline.readers import read_file
from prep.pipeline.sources import list_input_files
from prep.stages.langid import Config, Stage, default_model_path


def load_docs(config_path: str, limit: int) -> pa.Table:
    config = load_config(config_path)
    tables = []
    for source in config.sources:
        if source.domain == "code":
            continue  # langid skips code in configs/mix.yaml
        for f in list_input_files(source.paths):
            for t in read_file(f, source):
                t = t.filter(pa.compute.is_null(t.column("_stage")))
                tables.append(t)
    table = pa.concat_tables(tables)
    return table.slice(0, limit) if limit else table


def raw_runner(texts: list[str]):
    """What a plain fastText user writes: one predict per document, newlines replaced."""
    import fasttext

    model = fasttext.load_model(str(default_model_path()))

    def go() -> None:
        for text in texts:
            model.predict(text.replace("\n", " "))

    return go


def stage_runner(table: pa.Table, stage=None, batch: int = 512):
    """`stage.process` over the table in Arrow batches (default: langid keeping everything)."""
    if stage is None:
        stage = Stage(Config(keep=None, threshold=0.0))
    stage.setup()
    batches = [table.slice(i, batch) for i in range(0, table.num_rows, batch)]

    def go() -> None:
        for b in batches:
            stage.process(b)

    return go


def best_of(runners: dict, repeat: int) -> dict[str, float]:
    """Interleave the contenders so background load hits both alike; keep each one's best."""
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(repeat):
        for name, go in runners.items():
            t0 = time.perf_counter()
            go()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/mix.yaml")
    ap.add_argument("--docs", type=int, default=0, help="limit the number of documents (0 = all)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    table = load_docs(args.config, args.docs)
    texts = table.column("text").to_pylist()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    times = best_of({"raw": raw_runner(texts), "prep": stage_runner(table)}, args.repeat)
    raw, ours = times["raw"], times["prep"]
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}")
    print(f"documents: {len(texts):,}  text: {mb:.1f} MB  (best of {args.repeat}, one core)")
    print(f"raw fasttext predict : {len(texts) / raw:10,.0f} docs/s  {mb / raw:6.2f} MB/s")
    print(f"prep langid stage    : {len(texts) / ours:10,.0f} docs/s  {mb / ours:6.2f} MB/s")
    print(f"ratio prep/raw       : {raw / ours:.2f}x  (target >= 0.9x)")


if __name__ == "__main__":
    main()
