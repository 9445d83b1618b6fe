"""Quality stage throughput: perplexity scoring vs raw kenlm, and the whole stage in MB/s.

Run by hand (not a test):  python bench/bench_quality.py [--repeat R]

Data: the English natural-language documents of the bundled sample (web pages after
extraction, wiki, books, papers), read with prep's readers, scored with the bundled
default model (data/models/sample-wiki-en, trained on first run). Everything runs in this
process on one core; runs are interleaved (raw, prep, raw, prep, ...) and the best of R
is reported, so background load hits both sides alike.

1. Scoring kernel: the same tokenised lines; raw kenlm is what a user writes (one
   `model.score(line)` per line, CCNet's per-document sum and length); prep is
   `perplexity.score_lines`.
2. Whole stage: `Stage.process` (heuristics + normalise + tokenise + score + metrics) on
   Arrow batches of 512, then `apply` (buckets), in MB of text per second per core.
3. The heuristics' word splitting: the regex tokenizer against datatrove's own (spaCy),
   speed and agreement of the keep/drop decisions.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prep.bootstrap import DEFAULT_MODEL_DIR, ensure_default_model
from prep.pipeline.config import load_config
from prep.pipeline.readers import read_file
from prep.pipeline.sources import list_input_files
from prep.stages.langid import Config as LangidConfig
from prep.stages.langid import Stage as Langid
from prep.stages.quality import Config, Stage
from prep.stages.quality.heuristics import Heuristics, HeuristicsConfig
from prep.stages.quality.perplexity import LMSpec, PerplexityModel, score_lines


def load_english(config_path: str) -> pa.Table:
    """English documents of the sample's natural-language domains, labelled by langid."""
    config = load_config(config_path)
    tables = []
    for source in config.sources:
        if source.domain == "code":
            continue
        for f in list_input_files(source.paths):
            for t in read_file(f, source):
                tables.append(t.filter(pc.is_null(t.column("_stage"))))
    table = pa.concat_tables(tables)
    langid = Langid(LangidConfig(keep=["en"], threshold=0.65))
    langid.setup()
    verdict = langid.process(table)
    keep = pa.array([r is None for r in verdict.rules])
    return verdict.table.filter(keep)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_kernel(table: pa.Table, repeat: int) -> None:
    model = PerplexityModel(LMSpec(dir=str(DEFAULT_MODEL_DIR)))
    texts = table.column("text").to_pylist()
    lines, counts = model.tokenised_lines(texts)
    per_doc, i = [], 0
    for c in counts:
        per_doc.append(lines[i : i + c])
        i += c
    kenlm_model = model.model

    def raw() -> list[float]:
        out = []
        for doc in per_doc:
            log_score, length = 0.0, 0
            for line in doc:
                log_score += kenlm_model.score(line)
                length += len(line.split()) + 1
            out.append(10.0 ** (-log_score / length) if length else float("nan"))
        return out

    def ours() -> np.ndarray:
        return score_lines(kenlm_model, lines, counts)

    assert np.allclose(np.array(raw()), ours(), equal_nan=True)
    t_raw, t_ours = [], []
    for _ in range(repeat):
        t_raw.append(best(raw, 1))
        t_ours.append(best(ours, 1))
    tokens = sum(line.count(" ") + 1 for line in lines)
    r, o = min(t_raw), min(t_ours)
    print(f"scoring: {len(texts):,} docs, {len(lines):,} lines, {tokens:,} tokens")
    print(f"  raw kenlm  {len(texts) / r:8.0f} docs/s  {tokens / r / 1e6:.2f} M tokens/s")
    print(f"  prep       {len(texts) / o:8.0f} docs/s  {tokens / o / 1e6:.2f} M tokens/s  ratio {r / o:.2f}x")


def bench_stage(table: pa.Table, repeat: int) -> None:
    config = Config(perplexity={"en": LMSpec(dir=str(DEFAULT_MODEL_DIR))})
    stage = Stage(config)
    stage.setup()
    batches = [table.slice(i, 512) for i in range(0, table.num_rows, 512)]
    mb = sum(len(t.encode()) for t in table.column("text").to_pylist()) / 1e6
    stage.process(batches[0].slice(0, 8))  # loads word tokenizers outside the timing
    outputs: list[pa.Table] = []

    def process() -> None:
        outputs.clear()
        for b in batches:
            v = stage.process(b)
            outputs.append(v.table.filter(pa.array([r is None for r in v.rules])))

    t = best(process, repeat)
    print(f"quality process: {mb:.1f} MB, {table.num_rows:,} docs: {mb / t:.2f} MB/s per core")
    scored = pa.concat_tables(outputs)
    result = stage.fit(_FakeDataset(scored), None)
    stage.setup_apply(result.state, Path("."))
    t = best(lambda: [stage.apply(b) for b in scored.to_batches(512) if b.num_rows], repeat)
    print(f"quality apply (buckets): {scored.num_rows / t:,.0f} docs/s")


class _FakeDataset:
    """What `fit` reads from Ray Data, from a local table (the bench runs without Ray)."""

    def __init__(self, table: pa.Table):
        self.table = table.select(["ppl", "lang", "domain"])

    def iter_batches(self, batch_format: str = "pyarrow"):
        yield self.table


def bench_tokenizers(table: pa.Table) -> None:
    rows = table.select(["text", "lang", "domain"]).to_pylist()
    mb = sum(len(r["text"].encode()) for r in rows) / 1e6
    decisions = {}
    for kind in ("regex", "datatrove"):
        h = Heuristics(HeuristicsConfig(word_tokenizer=kind))
        h.check("Warm up. Two sentences.", "en", "web")
        t0 = time.perf_counter()
        decisions[kind] = [h.check(r["text"], r["lang"], r["domain"]).rule for r in rows]
        print(f"heuristics, {kind:9s} words: {mb / (time.perf_counter() - t0):.2f} MB/s")
    a, b = decisions["regex"], decisions["datatrove"]
    same = sum((x is None) == (y is None) for x, y in zip(a, b, strict=True))
    print(f"  same keep/drop decision on {same}/{len(rows)} docs ({100 * same / len(rows):.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mix.yaml")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ensure_default_model()
    print(f"python {platform.python_version()} on {platform.processor() or platform.machine()}")
    table = load_english(args.config)
    bench_kernel(table, args.repeat)
    bench_stage(table, max(1, args.repeat // 2))
    bench_tokenizers(table)


if __name__ == "__main__":
    main()
