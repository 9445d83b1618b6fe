"""Kneser-Ney LM training speed: prep's estimator on ~1M tokens and ~5 MB of real English text.

Run by hand (not a test):  python bench/bench_lm_train.py [--order 5] [--runs 1M,5MB] [--no-kenlm]

The text is what ships offline with Python and the venv: gensim's Lee news corpus, the reference
pages in `pydoc_data.topics`, gensim's shortened English Wikipedia dump (wiki markup stripped
crudely), then docstrings of the standard library and of numpy, scipy and pandas until the corpus
reaches CORPUS_MB. It is written once, one sentence per line, to a cache file; each run then
streams that file through `count_ngrams` in a fresh interpreter, so its peak RSS is the trainer's
own. Tokenisation is a whitespace split. Each run prints tokens, n-gram counts per order, seconds
for count / estimate / write, peak RSS, and (unless --no-kenlm) checks that `kenlm.Model` loads the
ARPA and gives the same log10 probabilities as `NgramModel` on held-out sentences.
"""

from __future__ import annotations

import argparse
import ast
import bz2
import html
import itertools
import os
import platform
import re
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from prep.stages.quality.kneser_ney import count_ngrams, estimate, write_arpa

REPO = Path(__file__).resolve().parent.parent

CACHE = Path(tempfile.gettempdir()) / "prep-bench-lm" / "corpus.txt"
HELD_OUT = 1000  # sentences at the end of the corpus, never trained on
CORPUS_MB = 9.0
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def sentences_of(text: str) -> Iterator[str]:
    """Paragraphs (blank-line separated) → whitespace-normalised sentences."""
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(para.split())
        if para:
            yield from (s for s in _SENTENCE_END.split(para) if s)


def pydoc_text() -> Iterator[str]:
    import pydoc_data.topics

    for key in sorted(pydoc_data.topics.topics):
        yield from sentences_of(pydoc_data.topics.topics[key])


def docstrings(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*.py")):
        parts = set(path.relative_to(root).parts)
        if "site-packages" in parts or "test" in parts or "tests" in parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    yield from sentences_of(doc)


def stdlib_docstrings() -> Iterator[str]:
    yield from docstrings(Path(sysconfig.get_paths()["stdlib"]))


def package_docstrings() -> Iterator[str]:
    import importlib.util

    for name in ("numpy", "scipy", "pandas"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            yield from docstrings(Path(spec.origin).parent)


def _gensim_data() -> Path:
    import gensim

    return Path(gensim.__file__).parent / "test" / "test_data"


def lee_news() -> Iterator[str]:
    for line in (_gensim_data() / "lee_background.cor").read_text(encoding="utf-8").splitlines():
        yield from sentences_of(line)


def wikipedia() -> Iterator[str]:
    dump = _gensim_data() / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    with bz2.open(dump) as f:
        raw = html.unescape(f.read().decode("utf-8"))
    for page in re.findall(r"<text[^>]*>(.*?)</text>", raw, flags=re.S):
        yield from sentences_of(_strip_wiki(page))


def _strip_wiki(text: str) -> str:
    text = re.sub(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>|<!--.*?-->", " ", text, flags=re.S)
    for _ in range(5):  # nested templates and tables, innermost first
        text = re.sub(r"\{\{[^{}]*\}\}|\{\|[^{}]*?\|\}", " ", text, flags=re.S)
    text = re.sub(r"\[\[(?:File|Image|Category):[^\]]*\]\]", " ", text)
    text = re.sub(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]", r"\1", text)
    text = re.sub(r"\[https?://\S+\s*([^\]]*)\]", r"\1", text)
    text = re.sub(r"<[^>]+>|'{2,}|^=+|=+$|^[*#:;|!].*$", " ", text, flags=re.M)
    return text


def build_corpus(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    sources = itertools.chain(
        lee_news(), pydoc_text(), wikipedia(), stdlib_docstrings(), package_docstrings()
    )
    size = 0
    with tmp.open("w", encoding="utf-8") as out:
        for sentence in sources:
            out.write(sentence + "\n")
            size += len(sentence.encode()) + 1
            if size >= CORPUS_MB * 1e6:
                break
    tmp.replace(path)


def read_until(path: Path, tokens: int, mb: float) -> Iterator[list[str]]:
    """Sentences from the start of the corpus until the token or byte budget (whichever is set)."""
    seen_tokens, seen_bytes = 0, 0
    with path.open(encoding="utf-8") as f:
        for line in f:
            words = line.split()
            seen_tokens += len(words)
            seen_bytes += len(line.encode())
            if (tokens and seen_tokens > tokens) or (mb and seen_bytes > mb * 1e6):
                return
            yield words


def held_out(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8") as f:
        lines = f.readlines()
    return [line.split() for line in lines[-HELD_OUT:]]


def run_one(label: str, order: int, check_kenlm: bool) -> None:
    tokens = int(float(label[:-1]) * 1e6) if label.endswith("M") else 0
    mb = float(label[:-2]) if label.endswith("MB") else 0.0
    total_lines = sum(1 for _ in CACHE.open(encoding="utf-8"))
    source = itertools.islice(read_until(CACHE, tokens, mb), total_lines - HELD_OUT)

    t0 = time.perf_counter()
    counts = count_ngrams(source, order)
    t1 = time.perf_counter()
    model = estimate(counts)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        arpa = Path(tmp) / "lm.arpa"
        write_arpa(model, arpa)
        t3 = time.perf_counter()
        arpa_mb = arpa.stat().st_size / 1e6
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"--- run {label}: order {order}, {counts.sentences:,} sentences, {counts.tokens:,} tokens")
        print(f"n-grams per order : {', '.join(f'{k}:{n:,}' for k, n in enumerate(model.sizes(), 1))}")
        print(f"discounts (D1 D2 D3+): {[tuple(round(d, 3) for d in ds) for ds in model.discounts]}")
        print(f"fallback orders   : {list(model.fallback_orders) or 'none'}")
        print(f"count {t1 - t0:6.2f} s   estimate {t2 - t1:6.2f} s   write {t3 - t2:6.2f} s   ", end="")
        print(f"total {t3 - t0:6.2f} s   ARPA {arpa_mb:.0f} MB")
        print(f"peak RSS          : {peak:,.0f} MiB")
        if check_kenlm:
            compare_kenlm(model, arpa)


def compare_kenlm(model, arpa: Path) -> None:
    import kenlm

    t0 = time.perf_counter()
    lm = kenlm.Model(str(arpa))
    load = time.perf_counter() - t0
    sents = held_out(CACHE)
    word_diff, oov, words = 0.0, 0, 0
    for s in sents:
        history = ["<s>"]
        for (prob, _, unknown), word in zip(lm.full_scores(" ".join(s)), [*s, "</s>"], strict=True):
            word_diff = max(word_diff, abs(prob - model.logprob(word, tuple(history))))
            history.append(word)
            oov += unknown
            words += 1
    sent_diff = max(abs(lm.score(" ".join(s)) - model.score(s)) for s in sents)
    print(f"kenlm: loads in {load:.1f} s; {len(sents)} held-out sentences, {words:,} words ({oov:,} OOV):")
    print(
        f"  max |kenlm - ours| per word {word_diff:.1e}, per sentence {sent_diff:.1e} (kenlm sums in float32)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--runs", default="1M,5MB", help="comma list of sizes: <n>M tokens or <n>MB text")
    ap.add_argument("--no-kenlm", action="store_true", help="skip loading the ARPA in kenlm")
    ap.add_argument("--only", help=argparse.SUPPRESS)  # one run, in this interpreter
    args = ap.parse_args()

    if args.only:
        run_one(args.only, args.order, not args.no_kenlm)
        return
    if not CACHE.exists():
        t0 = time.perf_counter()
        build_corpus(CACHE)
        print(f"built corpus {CACHE} in {time.perf_counter() - t0:.0f} s (not timed below)")
    text_mb = CACHE.stat().st_size / 1e6
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, ", end="")
    print(f"Python {platform.python_version()}; corpus {text_mb:.1f} MB, last {HELD_OUT} sentences held out")
    for label in args.runs.split(","):
        cmd = [sys.executable, __file__, "--order", str(args.order), "--only", label]
        if args.no_kenlm:
            cmd.append("--no-kenlm")
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
