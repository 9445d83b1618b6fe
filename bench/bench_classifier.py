"""Quality classifier throughput: prep's classifier stage vs raw fastText predict, same documents.

Run by hand (not a test):  python bench/bench_classifier.py [--model PATH] [--docs N] [--repeat R]

Both sides run in this process on one core over the same texts of the bundled sample (every
domain but code, read with prep's readers), with the same model (default: the sample's
classifier, trained on first use). The peer is what a plain fastText user writes to get a
label's probability: replace newlines, `model.predict(text, k=2)` per document, pick the label.
prep's side is `Stage.process` on Arrow batches of 512: normalisation, prediction, the
threshold decision, reasons and score histograms included.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

from bench_langid import best_of, load_docs, stage_runner

from prep.bootstrap import DEFAULT_CLASSIFIER, ensure_default_classifier
from prep.stages.classifier import Config, Stage


def raw_runner(texts: list[str], model_path: Path, label: str = "__label__hq"):
    import fasttext

    model = fasttext.load_model(str(model_path))

    def go() -> None:
        for text in texts:
            labels, probs = model.predict(text.replace("\n", " "), k=2)
            dict(zip(labels, probs, strict=True)).get(label, 0.0)

    return go


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/mix.yaml")
    ap.add_argument("--model", help="a fastText model with the label hq (default: the sample's)")
    ap.add_argument("--docs", type=int, default=0, help="limit the number of documents (0 = all)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    model = Path(args.model) if args.model else ensure_default_classifier(DEFAULT_CLASSIFIER)
    table = load_docs(args.config, args.docs)
    texts = table.column("text").to_pylist()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    stage = Stage(Config(model=str(model), threshold=0.5))
    times = best_of({"raw": raw_runner(texts, model), "prep": stage_runner(table, stage)}, args.repeat)
    raw, ours = times["raw"], times["prep"]
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}")
    print(f"model: {model} ({model.stat().st_size / 1e6:.1f} MB)")
    print(f"documents: {len(texts):,}  text: {mb:.1f} MB  (best of {args.repeat}, one core)")
    print(f"raw fasttext predict : {len(texts) / raw:10,.0f} docs/s  {mb / raw:6.2f} MB/s")
    print(f"prep classifier stage: {len(texts) / ours:10,.0f} docs/s  {mb / ours:6.2f} MB/s")
    print(f"ratio prep/raw       : {raw / ours:.2f}x  (target >= 0.9x)")


if __name__ == "__main__":
    main()
