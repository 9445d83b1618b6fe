"""Planted exact and near duplicates, within a source and across sources.

Originals are drawn from documents that carry no other planted item, so a copy never duplicates
planted PII or benchmark text. Near copies get a few word deletions, insertions and
substitutions; their Jaccard similarity to the original (word 5-gram sets, `model.jaccard`) is
recorded. A copy into `web` is the same main text inside another site's page chrome.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from prep.sample.chrome import Site
from prep.sample.model import Doc, derive_rng, jaccard

MIRROR = Site("Free Encyclopedia Mirror", "www.wiki-mirror-pages.net", "wiki")
SYNDICATE = Site("Daily News Digest", "www.dailynewsdigest.net", "news")


@dataclass(eq=False)
class DupPlant:
    kind: str  # "exact" or "near"
    copy: Doc
    original: Doc
    edits: int = 0
    similarity: float = 1.0

    def record(self) -> dict:
        out = {"id": self.copy.id, "original": self.original.id, "kind": self.kind}
        if self.copy.source != self.original.source:
            out["cross_source"] = True
        if self.copy.source == "web":
            out["container"] = "html"  # the copy's main text is the original's, inside page chrome
        if self.kind == "near":
            out["edits"] = self.edits
            out["jaccard_word5"] = round(self.similarity, 3)
        return out


def mutate(text: str, rng: random.Random, rate: float = 0.01, minimum: int = 3) -> tuple[str, int]:
    """A few word-level edits (delete, insert, substitute) that keep the paragraph breaks."""
    paras = [p.split(" ") for p in text.split("\n\n")]
    spots = [(i, j) for i, p in enumerate(paras) for j in range(len(p))]
    vocab = [w for p in paras for w in p if w.isalpha()] or ["the"]
    n = max(minimum, int(len(spots) * rate))
    for i, j in sorted(rng.sample(spots, min(n, len(spots))), reverse=True):
        op = rng.choice(("delete", "insert", "substitute"))
        words = paras[i]
        if op == "delete" and len(words) > 1:
            del words[j]
        elif op == "insert":
            words.insert(j, rng.choice(vocab))
        else:
            words[j] = rng.choice(vocab)
    return "\n\n".join(" ".join(p) for p in paras), n


def _copy(orig: Doc, source: str, text: str, **fields) -> Doc:
    doc = Doc(
        source,
        text,
        orig.lang,
        title=fields.get("title", orig.title),
        url=fields.get("url", orig.url),
        path=fields.get("path", orig.path),
        origin=f"copy of {orig.origin}",
        kind=fields.get("kind", orig.kind),
        planted=True,
    )
    if "site" in fields:
        doc.extra["site"] = fields["site"]
    elif "site" in orig.extra:
        doc.extra["site"] = orig.extra["site"]
    return doc


class _Picker:
    """Hands out distinct, unplanted originals from a source."""

    def __init__(self, docs: list[Doc], rng: random.Random, min_words: int = 150) -> None:
        self.pool = [d for d in docs if not d.planted and len(d.text.split()) >= min_words]
        rng.shuffle(self.pool)

    def take(self) -> Doc:
        doc = self.pool.pop()
        doc.planted = True
        return doc


def plant(by_source: dict[str, list[Doc]], seed: int) -> list[DupPlant]:
    """Add duplicate documents to `by_source` and return what was planted."""
    rng = derive_rng(seed, "duplicates")
    wiki = _Picker(by_source["wiki"], rng)
    news = _Picker([d for d in by_source["web"] if d.kind == "news"], rng)
    code = _Picker(by_source["code"], rng)
    books = _Picker(by_source["books"], rng, min_words=1000)
    papers = _Picker(by_source["papers"], rng)
    plants: list[DupPlant] = []

    def add(kind: str, orig: Doc, copy: Doc, edits: int = 0) -> None:
        by_source[copy.source].append(copy)
        sim = jaccard(orig.text, copy.text) if kind == "near" else 1.0
        plants.append(DupPlant(kind, copy, orig, edits, sim))

    for _ in range(6):  # wiki line copied to another wiki line (same or other file)
        orig = wiki.take()
        add("exact", orig, _copy(orig, "wiki", orig.text))
    for _ in range(2):  # wiki article re-posted as a papers row
        orig = wiki.take()
        add("exact", orig, _copy(orig, "papers", orig.text))
    for i in range(3):  # wiki article re-posted on a mirror site
        orig = wiki.take()
        url = f"https://{MIRROR.domain}/wiki/{i}-{orig.url.rsplit('/', 1)[-1]}"
        add("exact", orig, _copy(orig, "web", orig.text, url=url, kind="article", site=MIRROR))
    for i in range(5):  # syndicated news story
        orig = news.take()
        url = f"https://{SYNDICATE.domain}/news/story-{i}"
        add("exact", orig, _copy(orig, "web", orig.text, url=url, site=SYNDICATE))
    for _ in range(3):  # vendored copy of a stdlib module
        orig = code.take()
        add("exact", orig, _copy(orig, "code", orig.text, path=f"vendor/pylib/{orig.path}"))
    orig = books.take()
    add("exact", orig, _copy(orig, "books", orig.text, path=f"mirror/{orig.path.rsplit('/', 1)[-1]}"))

    for _ in range(5):
        orig = wiki.take()
        text, n = mutate(orig.text, rng)
        add("near", orig, _copy(orig, "wiki", text, url=orig.url + "?oldid=1"), n)
    for i in range(5):
        orig = news.take()
        text, n = mutate(orig.text, rng)
        add(
            "near",
            orig,
            _copy(orig, "web", text, url=f"https://{SYNDICATE.domain}/news/update-{i}", site=SYNDICATE),
            n,
        )
    for _ in range(3):
        orig = code.take()
        text, n = mutate(orig.text, rng, rate=0.005)
        add("near", orig, _copy(orig, "code", text, path=f"forks/{orig.path}"), n)
    orig = books.take()
    text, n = mutate(orig.text, rng, rate=0.003)
    stem = orig.path.rsplit("/", 1)[-1].removesuffix(".txt")
    add("near", orig, _copy(orig, "books", text, path=f"en/{stem}-second-edition.txt"), n)
    for _ in range(2):
        orig = papers.take()
        text, n = mutate(orig.text, rng)
        add("near", orig, _copy(orig, "papers", text, title=orig.title + " (revised)"), n)
    return plants
