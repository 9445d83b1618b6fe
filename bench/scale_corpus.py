"""Corpora of N short documents of real text for bench/bench_scale.py, built offline.

The text is the bundled sample's (real web pages, Wikipedia, books, the Python standard
library, technical notes: see docs/sample.md), cut into sentences and source-code chunks and
recombined, per domain, into short documents: 3 to 8 neighbouring sentences in a drawn order
for prose (~600 bytes; one source, so one language), 8 to 30 consecutive lines for code.
Every document is a seeded draw, so a corpus of N documents is the same on every machine;
2% of documents are exact copies of an earlier one and 1% near copies (one
sentence changed), so dedup has clusters to find at every N. Files are JSONL, zstd
compressed, 100,000 documents each, under `ROOT/N/{domain}/`.

    python bench/scale_corpus.py --docs 1000000 --root /tmp/prep-scale
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import zstandard

#: Share of documents per domain (the sample's domains; code is the stdlib).
SHARES = {"web": 0.4, "wiki": 0.2, "books": 0.1, "code": 0.2, "papers": 0.1}
DOCS_PER_FILE = 100_000
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def pools(sample: Path) -> dict[str, list[str]]:
    """Per domain: distinct sentences (prose) or lines (code) of the sample's documents."""
    import yaml

    from prep.pipeline.readers import read_texts

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "mix.yaml").read_text())
    out: dict[str, list[str]] = {}
    for src in config["sources"]:
        paths = [str(sample / Path(p).relative_to("data/sample")) for p in src["paths"]]
        seen: dict[str, None] = {}
        for text in read_texts(paths, src["format"], src.get("text_field", "text")):
            if src["domain"] == "code":
                pieces = [line for line in text.splitlines() if line.strip()]
            else:
                pieces = [s.strip() for para in text.split("\n") for s in _SENTENCE.split(para)]
                pieces = [s for s in pieces if 30 <= len(s) <= 400]
            seen.update(dict.fromkeys(pieces))
        out[src["domain"]] = list(seen)
    return out


def _document(pool: list[str], rng: np.random.Generator, code: bool) -> str:
    if code:
        start = int(rng.integers(0, max(1, len(pool) - 30)))
        return "\n".join(pool[start : start + int(rng.integers(8, 31))])
    k = int(rng.integers(3, 9))
    start = int(rng.integers(0, max(1, len(pool) - k)))
    window = pool[start : start + k]  # neighbouring sentences: one source, one language
    return " ".join(window[i] for i in rng.permutation(len(window)))


def build(n_docs: int, root: Path, sample: Path) -> Path:
    """The corpus of `n_docs` documents under root/n_docs (reused when complete)."""
    dest = root / str(n_docs)
    if (dest / "DONE").is_file():
        return dest
    text = pools(sample)
    t0 = time.time()
    for domain, share in SHARES.items():
        total = round(n_docs * share)
        pool = text[domain]
        for f, start in enumerate(range(0, total, DOCS_PER_FILE)):
            rng = np.random.default_rng([hash_name(domain), f, n_docs])
            count = min(DOCS_PER_FILE, total - start)
            docs: list[str] = []
            for _ in range(count):
                r = rng.random()
                if docs and r < 0.02:  # an exact copy of an earlier document of this file
                    doc = docs[int(rng.integers(0, len(docs)))]
                elif docs and r < 0.03:  # a near copy: one more sentence at the end
                    doc = docs[int(rng.integers(0, len(docs)))] + " " + pool[int(rng.integers(0, len(pool)))]
                else:
                    doc = _document(pool, rng, domain == "code")
                docs.append(doc)
            path = dest / domain / f"part-{f:05d}.jsonl.zst"
            path.parent.mkdir(parents=True, exist_ok=True)
            body = "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs).encode()
            path.write_bytes(zstandard.ZstdCompressor(level=3).compress(body))
    (dest / "DONE").write_text(json.dumps({"docs": n_docs, "seconds": round(time.time() - t0, 1)}))
    return dest


def hash_name(name: str) -> int:
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, required=True)
    p.add_argument("--root", default="/tmp/prep-scale")
    p.add_argument("--sample", default="data/sample")
    args = p.parse_args()
    print(build(args.docs, Path(args.root), Path(args.sample)))


if __name__ == "__main__":
    main()
