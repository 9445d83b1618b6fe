"""The in-memory document every part of the sample builder passes around, and seeded randomness.

A `Doc` gets its id only when the layout puts it in a file (`layout.py`); planted items keep a
reference to the `Doc` itself, so ids can be written into the manifest once they are known.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

#: The five sources of the sample; each is also the domain of its documents.
SOURCES = ("web", "wiki", "books", "code", "papers")


@dataclass(eq=False)
class Doc:
    """One document before it is written: text (for web, the page's main text), where it came from."""

    source: str
    text: str
    lang: str | None  # ISO 639-1 code of the natural language; None for code
    title: str = ""
    url: str = ""
    path: str = ""  # code: the file path; books: the path of the .txt under books/
    origin: str = ""  # provenance, e.g. "gensim:enwiki-test-dump"
    kind: str = ""  # web page flavour (news, forum, docs, lowq:...) that the page chrome follows
    html: str | None = None  # web: the whole page, when a generator writes it itself
    planted: bool = False  # carries a planted item: never used as the original of a duplicate
    padding: str | None = None  # label of synthetic filler text (e.g. "faker-lorem"), if any
    id: str = ""  # "{source}/{relpath}:{n}" (or "{source}/{relpath}" for text files), set by layout
    extra: dict = field(default_factory=dict)


def derive_rng(seed: int, *names: str) -> random.Random:
    """A Random for one part of the build, independent of the order the parts run in."""
    digest = hashlib.sha256(("\x1f".join([str(seed), *names])).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def stable_hex(*parts: str, n: int = 16) -> str:
    """A short hex digest of some strings (ids, slugs, WARC record ids)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:n]


_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, k: int = 5) -> set[tuple[str, ...]]:
    """Lower-cased word k-grams, the unit the near-duplicate Jaccard figures are computed on."""
    words = _WORD.findall(text.lower())
    if len(words) < k:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: str, b: str, k: int = 5) -> float:
    """Jaccard similarity of two texts' word k-gram sets."""
    sa, sb = shingles(a, k), shingles(b, k)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)
