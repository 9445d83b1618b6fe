"""PII scrubbing: prep's stage vs naive Presidio, quality and throughput on the same documents.

Run by hand (not a test):  python bench/bench_pii.py [--mb 0 (all the prose)] [--repeat 2] [--seed 0]

Data: `bench_pii_data.build` — real prose (news, reviews, the Python reference, dialog in
six European languages) with Faker values planted at known offsets in 20% of the documents
(eight locales, several formats per entity; see that module).

Contenders, in this process, one core, interleaved so that background load hits all alike:

- naive Presidio, as the issue defines it: `AnalyzerEngine` offline (a blank spaCy "en"
  pipeline saved to a temporary folder, every default recognizer, tldextract without
  network), `analyze(text, language="en")` per document (Presidio's default threshold, 0),
  then `AnonymizerEngine.anonymize` with the results;
- naive Presidio, same settings as prep: `entities=` prep's nine, `score_threshold=0.5`
  (the fairer quality comparison; its throughput is printed too);
- prep: `prep.stages.pii.Stage.process` on Arrow batches of 512 documents, default config
  (placeholders, threshold 0.5), i.e. prefilter, windows, recognizers, allow-list,
  replacement and metrics; and a variant with `thresholds: {PHONE_NUMBER: 0.4}`.

Quality per entity type: a planted value is found (recall) when detections of its type
cover it whole; a detection is right (precision) when it overlaps a planted value of its
type. "scrubbed" counts values covered by detections of any type (what leaves the text).
Throughput: bytes of text per CPU second of this process (`time.process_time`, so other
processes on the machine do not count against either side) and per wall second.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # before tldextract is imported

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pii_data import ENTITIES, BenchDoc, build

from prep.stages.pii import Config, Stage
from prep.stages.pii.recognizers import silence_presidio


def naive_engines(folder: Path):
    """Presidio's analyzer on a blank spaCy pipeline (no model download) and its anonymizer."""
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    spacy.blank("en").to_disk(folder / "blank-en")
    models = [{"lang_code": "en", "model_name": str(folder / "blank-en")}]
    nlp = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": models}).create_engine()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"]), AnonymizerEngine()


def naive_runner(analyzer, anonymizer, texts: list[str], **analyze_kwargs):
    found: list[list[tuple[str, int, int]]] = []

    def go() -> None:
        found.clear()
        for text in texts:
            results = analyzer.analyze(text, language="en", **analyze_kwargs)
            anonymizer.anonymize(text=text, analyzer_results=results)
            found.append([(r.entity_type, r.start, r.end) for r in results])

    return go, found


def prep_runner(table: pa.Table, config: Config, batch: int = 512):
    stage = Stage(config)
    stage.setup()
    batches = [table.slice(i, batch) for i in range(0, table.num_rows, batch)]
    texts = table.column("text").to_pylist()

    def go() -> None:
        for b in batches:
            stage.process(b)

    def spans() -> list[list[tuple[str, int, int]]]:
        out = []
        for lo in range(0, len(texts), batch):
            found = stage.scrubber.scanner.scan(texts[lo : lo + batch])
            out += [[(e, s, t) for s, t, e in f.spans] for f in found]
        return out

    return go, spans


def quality(docs: list[BenchDoc], found: list[list[tuple[str, int, int]]]) -> dict[str, dict[str, int]]:
    """Per entity: planted, found (type-exact cover), scrubbed (any cover), detections, right ones."""
    out = {e: Counter() for e in ENTITIES}
    for doc, detections in zip(docs, found, strict=True):
        for p in doc.planted:
            out[p.entity]["planted"] += 1
            same = [(s, t) for e, s, t in detections if e == p.entity]
            out[p.entity]["found"] += _covered(p.start, p.end, same)
            out[p.entity]["scrubbed"] += _covered(p.start, p.end, [(s, t) for _, s, t in detections])
        for e, s, t in detections:
            if e in out:
                out[e]["detections"] += 1
                out[e]["right"] += any(p.entity == e and p.start < t and s < p.end for p in doc.planted)
    return out


def _covered(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    pos = start
    for s, t in sorted(spans):
        if s <= pos < t:
            pos = t
    return pos >= end


def timed(go, repeat: int) -> tuple[float, float]:
    """Best CPU and best wall seconds of `repeat` runs."""
    cpu = wall = float("inf")
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        go()
        cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
    return cpu, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=0, help="MB of benchmark text at most (0: all the prose)")
    ap.add_argument("--repeat", type=int, default=2, help="rounds; each round runs every contender")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    silence_presidio()
    docs = build(seed=args.seed, max_bytes=int(args.mb * 1e6) or None)
    texts = [d.text for d in docs]
    nbytes = sum(len(t.encode()) for t in texts)
    table = pa.table(
        {
            "id": [d.id for d in docs],
            "text": texts,
            "source": ["bench"] * len(docs),
            "domain": ["web"] * len(docs),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        analyzer, anonymizer = naive_engines(Path(tmp))
        naive, naive_found = naive_runner(analyzer, anonymizer, texts)
        same, same_found = naive_runner(
            analyzer, anonymizer, texts, entities=list(ENTITIES), score_threshold=0.5
        )
        prep, prep_spans = prep_runner(table, Config())
        phone04, phone04_spans = prep_runner(table, Config(thresholds={"PHONE_NUMBER": 0.4}))
        runners = {"naive": naive, "naive-same": same, "prep": prep, "prep-phone0.4": phone04}
        best = {name: (float("inf"), float("inf")) for name in runners}
        for _ in range(args.repeat):
            for name, go in runners.items():
                rounds = 1 if name.startswith("naive") else 5
                cpu, wall = timed(go, rounds)
                best[name] = (min(best[name][0], cpu), min(best[name][1], wall))
        results = {
            "naive": quality(docs, naive_found),
            "naive-same": quality(docs, same_found),
            "prep": quality(docs, prep_spans()),
            "prep-phone0.4": quality(docs, phone04_spans()),
        }

    planted = sum(len(d.planted) for d in docs)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}, load average {os.getloadavg()[0]:.1f}")
    print(
        f"documents: {len(docs):,} ({sum(1 for d in docs if d.planted)} with PII), {nbytes / 1e6:.2f} MB, "
        f"{planted} planted values; best of {args.repeat} rounds"
    )
    print(f"\n{'contender':16s} {'KB/s per CPU-s':>15s} {'KB/s wall':>10s} {'x naive (CPU)':>14s}")
    base = nbytes / best["naive"][0]
    for name, (cpu, wall) in best.items():
        speed, ratio = nbytes / cpu / 1e3, nbytes / cpu / base
        print(f"{name:16s} {speed:15,.1f} {nbytes / wall / 1e3:10,.1f} {ratio:13.1f}x")
    print(f"\n{'entity':14s}" + "".join(f"{n:>22s}" for n in results) + "   (recall / precision, n)")
    for e in ENTITIES:
        row = f"{e:14s}"
        for q in results.values():
            c = q[e]
            rec = c["found"] / c["planted"] if c["planted"] else float("nan")
            prec = c["right"] / c["detections"] if c["detections"] else float("nan")
            row += f"  {rec:5.2f} / {prec:4.2f} ({c['planted']:3d})"
        print(row)
    for name, q in results.items():
        found = sum(c["found"] for c in q.values())
        scrubbed = sum(c["scrubbed"] for c in q.values())
        right = sum(c["right"] for c in q.values())
        detections = sum(c["detections"] for c in q.values())
        print(
            f"{name:16s} recall {found / planted:.3f}  scrubbed {scrubbed / planted:.3f}  "
            f"precision {right / max(detections, 1):.3f} ({detections} detections)"
        )
    worse = [
        e
        for e in ENTITIES
        if results["prep"][e]["found"] < max(results["naive"][e]["found"], results["naive-same"][e]["found"])
    ]
    print(
        f"\nprep recall >= naive recall on every entity: {'yes' if not worse else 'no: ' + ', '.join(worse)}"
    )


if __name__ == "__main__":
    main()
