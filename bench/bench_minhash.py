"""MinHash signature throughput: prep's MinHasher vs datasketch ``MinHash.bulk``.

Run by hand (not a test):  python bench/bench_minhash.py [--repeat R] [--num-perm P] [--no-sample]

Corpus: real text carried by the interpreter and the bundled sample: every pydoc topic, the
docstrings of each standard-library module (one document per module), the standard-library
sources (one document per file) and, when ``data/sample`` is built, its Wikipedia articles
(mostly non-ASCII), Python code and books.

Both sides run in this process, pinned to one core, on the same shingles with the same
permutations (affine64, same seed), interleaved, best of R:

- ``strict``: datasketch is handed the 64-bit shingle hashes, precomputed outside the timer
  (``hashfunc`` is the identity), so it only permutes and reduces; prep starts from the raw
  texts (normalisation, tokenisation and hashing included). This is the figure to quote.
- ``literal`` (once, on every 10th document): datasketch fed the shingle strings with
  ``hashfunc=shingle_hash``, as the product card words it; our scalar hash is pure Python
  (~3 us per shingle), so this peer is slower than a datasketch user with a C hash would be.

Signatures are asserted equal to datasketch's on every benchmark document.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import platform
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
from datasketch import MinHash

from prep.stages.dedup.minhash import MinHasher

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idle_test"}
    return sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))


def module_docstrings(path: Path) -> str:
    """All docstrings of one module, joined: English prose about the code."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return ""
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef))]
    return "\n\n".join(d for n in nodes if (d := ast.get_docstring(n)))


def load_corpus(use_sample: bool) -> dict[str, list[str]]:
    files = stdlib_files()
    corpus = {
        "pydoc topics": list(topics.values()),
        "stdlib docstrings": [d for d in map(module_docstrings, files) if d],
        "stdlib sources": [p.read_text(encoding="utf-8", errors="replace") for p in files[:400]],
    }
    if use_sample and SAMPLE.is_dir():
        for name in ("wiki", "code"):
            docs = []
            for path in sorted((SAMPLE / name).glob("*.jsonl.gz")):
                with gzip.open(path, "rt", encoding="utf-8") as f:
                    docs += [json.loads(line)["text"] for line in f]
            corpus[f"sample {name}"] = docs
        corpus["sample books"] = [p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("books/*/*.txt"))]
    return corpus


def best_of(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Interleaved runs (A B A B ...), best wall time of each."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def compare(mh: MinHasher, texts: list[str], batch: int, repeat: int) -> dict[str, float]:
    """Best interleaved times of datasketch (strict peer) and prep on ``texts``; asserts equality."""
    hashes = [mh.shingle_hashes(t).tolist() for t in texts]
    batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    kw = {k: v for k, v in mh.datasketch_kwargs.items() if k != "hashfunc"}
    ours: list[np.ndarray] = []
    ref: list[MinHash] = []

    def run_ours() -> None:
        ours[:] = [mh.signatures(b)[0] for b in batches]

    def run_datasketch() -> None:
        ref[:] = MinHash.bulk(hashes, hashfunc=int, **kw)

    best = best_of({"datasketch": run_datasketch, "prep": run_ours}, repeat)
    assert np.array_equal(np.concatenate(ours), np.array([m.hashvalues for m in ref])), "signatures differ"
    best["shingles"] = sum(map(len, hashes))
    return best


def report(label: str, texts: list[str], best: dict[str, float]) -> None:
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"{label}: {len(texts)} docs, {mb:.2f} MB, {best['shingles']} shingles")
    for name in ("datasketch", "prep"):
        t = best[name]
        print(
            f"  {name:11s} {t:7.3f} s {len(texts) / t:8.0f} docs/s {mb / t:7.2f} MB/s "
            f"{best['shingles'] / t / 1e6:6.2f} M shingles/s"
        )
    print(f"  ratio {best['datasketch'] / best['prep']:.2f}x (prep end-to-end vs datasketch permute-only)")


def literal_check(mh: MinHasher, texts: list[str]) -> float:
    """datasketch fed shingle strings with hashfunc=shingle_hash: equal signatures, time ratio."""
    shingles = [mh.shingles(t) for t in texts]
    t0 = time.perf_counter()
    lit = MinHash.bulk(shingles, **mh.datasketch_kwargs)
    t_lit = time.perf_counter() - t0
    t0 = time.perf_counter()
    sig = mh.signatures(texts)[0]
    t_ours = time.perf_counter() - t0
    assert np.array_equal(sig, np.array([m.hashvalues for m in lit])), "literal peer differs"
    return t_lit / t_ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--num-perm", type=int, default=112)
    parser.add_argument("--ngram", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1024, help="documents per signatures() call")
    parser.add_argument("--literal-every", type=int, default=10, help="literal peer: every Nth doc, 0 skips")
    parser.add_argument("--per-part", action="store_true", help="also compare on each part of the corpus")
    parser.add_argument("--no-sample", action="store_true", help="leave out data/sample")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    corpus = load_corpus(not args.no_sample)
    texts = [t for docs in corpus.values() for t in docs]
    mh = MinHasher(num_perm=args.num_perm, ngram=args.ngram, seed=args.seed)
    mh.signatures(["é" + t for t in texts[:10]])  # build the Unicode tables outside the timer
    print(f"python {platform.python_version()}, numpy {np.__version__}, one core, best of {args.repeat}")
    print(f"num_perm={args.num_perm} ngram={args.ngram} seed={args.seed} batch={args.batch}")
    for name, docs in corpus.items():
        ascii_share = sum(t.isascii() for t in docs) / max(1, len(docs))
        size = sum(len(t.encode()) for t in docs) / 1e6
        print(f"  {name:18s} {len(docs):5d} docs {size:6.2f} MB  ascii docs {ascii_share:4.0%}")

    report("all", texts, compare(mh, texts, args.batch, args.repeat))
    if args.per_part:
        for name, docs in corpus.items():
            report(name, docs, compare(mh, docs, args.batch, args.repeat))
    if args.literal_every:
        sub = texts[:: args.literal_every]
        ratio = literal_check(mh, sub)
        print(f"literal peer ({len(sub)} docs, datasketch fed shingle strings + shingle_hash): {ratio:.1f}x")
    print("signatures equal to datasketch: yes")


if __name__ == "__main__":
    main()
