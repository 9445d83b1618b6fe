"""PII recall on external formats: prep's default PII stage vs naive Presidio, per entity.

Run by hand (not a test):  python bench/bench_pii_external.py --split dev [--misses PHONE_NUMBER]
                           python bench/bench_pii_external.py --split test   (only at the end)

Data: `pii_external_data.build(split)` — values in formats other people designed
(phonenumbers' example numbers for every region, Faker in every locale, card numbers over
the networks' IIN ranges), in carrier sentences and contact blocks, plus clean sentences of
number-like non-PII. Tune on DEV only; TEST (held-out templates, every region and locale,
another seed) is what docs/benchmarks.md reports. `--misses` prints DEV misses and false
detections; it refuses on TEST, which stays out of the tuning loop.

Contenders, one document per call as in `bench_pii.py` (whose naive-Presidio setup this
reuses):
- naive: Presidio `AnalyzerEngine` offline (blank spaCy "en", every default recognizer),
  `analyze(text, language="en")`, default threshold 0;
- prep: `prep.stages.pii.Scanner` with the default `Config()` (threshold 0.5, the
  default languages and phone regions), batches of 512 documents.

Scores per entity: recall = labelled values covered whole by detections of their type;
precision = detections of the type that overlap a labelled value of the type; a false
replacement is a detection (of prep's nine entity types, or for naive of any type) that
overlaps no labelled value: what would be rewritten for nothing. Throughput is not measured
here (these are one-line documents); `bench_pii.py` measures it on prose.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # before tldextract is imported

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pii import _covered, naive_engines
from pii_external_data import ENTITIES, Doc, build

from prep.stages.pii import Config
from prep.stages.pii.recognizers import silence_presidio
from prep.stages.pii.scanner import Scanner

Detections = list[list[tuple[str, int, int]]]


def run_naive(docs: list[Doc]) -> tuple[Detections, float]:
    with tempfile.TemporaryDirectory() as tmp:
        analyzer, _ = naive_engines(Path(tmp))
        out, t0 = [], time.process_time()
        for doc in docs:
            out.append([(r.entity_type, r.start, r.end) for r in analyzer.analyze(doc.text, language="en")])
        return out, time.process_time() - t0


def run_prep(docs: list[Doc], config: Config, batch: int = 512) -> tuple[Detections, float]:
    scanner = Scanner(config)
    texts = [d.text for d in docs]
    out, t0 = [], time.process_time()
    for lo in range(0, len(texts), batch):
        out += [[(e, s, t) for s, t, e in f.spans] for f in scanner.scan(texts[lo : lo + batch])]
    return out, time.process_time() - t0


def score(docs: list[Doc], found: Detections, only_nine: bool = True) -> dict:
    per = {e: Counter() for e in ENTITIES}
    false_clean = Counter()
    false_all = 0
    by_carrier: dict[str, Counter] = {}
    misses, wrong = [], []
    for doc, dets in zip(docs, found, strict=True):
        for s in doc.spans:
            same = [(a, b) for e, a, b in dets if e == s.entity]
            hit = _covered(s.start, s.end, same)
            per[s.entity]["values"] += 1
            per[s.entity]["found"] += hit
            per[s.entity]["scrubbed"] += _covered(s.start, s.end, [(a, b) for _, a, b in dets])
            key = f"{s.entity}:{s.carrier}"
            by_carrier.setdefault(key, Counter())["values"] += 1
            by_carrier[key]["found"] += hit
            if not hit:
                misses.append((doc, s))
        for e, a, b in dets:
            if only_nine and e not in per:
                continue
            right = any(s.entity == e and s.start < b and a < s.end for s in doc.spans)
            if e in per:
                per[e]["detections"] += 1
                per[e]["right"] += right
            if not any(s.start < b and a < s.end for s in doc.spans):
                false_all += 1
                wrong.append((doc, e, a, b))
                if doc.clean:
                    false_clean[doc.clean] += 1
    return {
        "per": per,
        "false_clean": false_clean,
        "false_all": false_all,
        "by_carrier": by_carrier,
        "misses": misses,
        "wrong": wrong,
    }


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "-"


def report(docs: list[Doc], results: dict[str, dict], seconds: dict[str, float]) -> None:
    clean = sum(1 for d in docs if d.clean)
    print(f"documents: {len(docs):,} ({clean} clean), values: {sum(len(d.spans) for d in docs):,}")
    names = list(results)
    print("\n| entity | values | " + " | ".join(f"{n} recall | {n} precision" for n in names) + " |")
    print("|---|---|" + "---|---|" * len(names))
    for e in ENTITIES:
        n = results[names[0]]["per"][e]["values"]
        cells = []
        for name in names:
            c = results[name]["per"][e]
            cells += [_ratio(c["found"], c["values"]), _ratio(c["right"], c["detections"])]
        print(f"| {e} | {n} | " + " | ".join(cells) + " |")
    cells = []
    for name in names:
        per = results[name]["per"].values()
        cells += [
            _ratio(sum(c["found"] for c in per), sum(c["values"] for c in per)),
            _ratio(sum(c["right"] for c in per), sum(c["detections"] for c in per)),
        ]
    print(
        f"| all | {sum(c['values'] for c in results[names[0]]['per'].values())} | " + " | ".join(cells) + " |"
    )
    print()
    for name in names:
        r = results[name]
        print(
            f"{name}: false replacements {r['false_all']} in all ({sum(r['false_clean'].values())} in "
            f"{clean} clean documents: {dict(r['false_clean'])}); CPU {seconds[name]:.1f} s"
        )
        if "false_any_type" in r:
            print(f"{name}: false replacements of any entity type: {r['false_any_type']}")
    print("\nrecall by carrier (ctx: context word before the value, plain: none, block: contact block)")
    for key in sorted(results[names[0]]["by_carrier"]):
        row = f"  {key:26s}"
        for name in names:
            c = results[name]["by_carrier"].get(key, Counter())
            row += f"  {name} {_ratio(c['found'], c['values'])} ({c['values']})"
        print(row)
    worse = [e for e in ENTITIES if results["prep"]["per"][e]["found"] < results["naive"]["per"][e]["found"]]
    print(
        f"\nprep recall >= naive recall on every entity: {'yes' if not worse else 'no: ' + ', '.join(worse)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--misses", nargs="*", default=None, help="DEV only: print misses of these entities")
    ap.add_argument("--no-naive", action="store_true", help="prep only (faster while tuning)")
    args = ap.parse_args()
    if args.misses is not None and args.split == "test":
        ap.error("--misses is for DEV: TEST stays out of the tuning loop")
    silence_presidio()
    with contextlib.redirect_stdout(io.StringIO()):  # a Faker provider prints a disclaimer
        docs = build(args.split)
    found, seconds = {}, {}
    if not args.no_naive:
        found["naive"], seconds["naive"] = run_naive(docs)
    found["prep"], seconds["prep"] = run_prep(docs, Config())
    results = {name: score(docs, f) for name, f in found.items()}
    if "naive" in found:  # naive Presidio also replaces what its other recognizers find
        results["naive"]["false_any_type"] = score(docs, found["naive"], only_nine=False)["false_all"]
    if "naive" not in results:
        results["naive"] = results["prep"]
        seconds["naive"] = 0.0
    print(f"split: {args.split}")
    report(docs, results, seconds)
    if args.misses is not None:
        wanted = set(args.misses) or set(ENTITIES)
        print("\nprep misses:")
        for doc, s in results["prep"]["misses"]:
            if s.entity in wanted:
                naive = (
                    "naive found it"
                    if "naive" in found
                    and any(
                        e == s.entity and a <= s.start and s.end <= b
                        for e, a, b in found["naive"][docs.index(doc)]
                    )
                    else ""
                )
                value = doc.text[s.start : s.end]
                print(f"  {s.entity:13s} {s.carrier:5s} {s.source:45s} {value!r:32s} {naive}")
        print("\nprep false replacements:")
        for doc, e, a, b in results["prep"]["wrong"]:
            print(f"  {e:13s} {doc.text[a:b]!r:32s} in {doc.text!r}")
        if "naive" in found:
            print("\nnaive false replacements (nine entities):")
            for doc, e, a, b in results["naive"]["wrong"]:
                print(f"  {e:13s} {doc.text[a:b]!r:32s} in {doc.text!r}")


if __name__ == "__main__":
    main()
