"""Tokenization throughput: the tokenize stage's `apply` vs raw `tokenizers` encode_batch.

Run by hand (not a test):  python bench/bench_tokenize.py [--repeat R] [--vocab V]

Data: every document of the bundled sample (read with prep's readers), encoded with a
byte-level BPE trained here on the same text. The peer is what a user of `tokenizers`
writes: `encode_batch(texts)` and the ids of each encoding. prep's side is
`Stage.apply` on Arrow batches of 512: encode, append end-of-text, build the
list<uint32> Arrow column, token and byte counts, metrics. Both in this process,
interleaved, best of R. `tokenizers` uses its own thread pool on both sides.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from prep.pipeline.config import load_config
from prep.pipeline.readers import read_file
from prep.pipeline.sources import list_input_files
from prep.stages.tokenize import Stage
from prep.stages.tokenize.train import train_bpe
from prep.stages.tokenize.vocab import describe, load


def load_docs(config_path: str) -> pa.Table:
    config = load_config(config_path)
    tables = []
    for source in config.sources:
        for f in list_input_files(source.paths):
            for t in read_file(f, source):
                tables.append(t.filter(pc.is_null(t.column("_stage"))))
    return pa.concat_tables(tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mix.yaml")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--vocab", type=int, default=8000)
    args = parser.parse_args()
    table = load_docs(args.config)
    texts = table.column("text").to_pylist()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    folder = Path(tempfile.mkdtemp())
    train_bpe(texts, args.vocab, 2, folder / "tokenizer.json")
    tokenizer = load(folder / "tokenizer.json")
    stage = Stage.__new__(Stage)
    stage.setup_apply({"file": "tokenizer.json", **describe(tokenizer)}, folder)
    batches = [table.slice(i, 512) for i in range(0, table.num_rows, 512)]

    def raw() -> int:
        return sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))

    def ours() -> int:
        return sum(int(pc.sum(stage.apply(b).table.column("n_tokens")).as_py()) for b in batches)

    t_raw, t_ours = [], []
    for _ in range(args.repeat):
        for fn, times in ((raw, t_raw), (ours, t_ours)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    tokens = ours()
    r, o = min(t_raw), min(t_ours)
    print(f"{len(texts):,} docs, {mb:.1f} MB, {tokens:,} tokens (vocab {args.vocab})")
    print(f"  raw encode_batch  {mb / r:6.2f} MB/s  {tokens / r / 1e6:.2f} M tokens/s")
    print(f"  prep apply        {mb / o:6.2f} MB/s  {tokens / o / 1e6:.2f} M tokens/s  ratio {r / o:.2f}x")


if __name__ == "__main__":
    main()
