"""Which documents receive planted PII and benchmark items: seeded choices among eligible ones."""

from __future__ import annotations

import random

from prep.sample.model import Doc


def choose(docs: list[Doc], k: int, rng: random.Random, min_words: int = 120) -> list[Doc]:
    """k distinct unplanted documents with at least `min_words` words (fewer if there are not enough)."""
    pool = [d for d in docs if not d.planted and len(d.text.split()) >= min_words]
    return rng.sample(pool, min(k, len(pool)))


def by_lang(docs: list[Doc], lang: str) -> list[Doc]:
    return [d for d in docs if d.lang == lang]


def by_kind(docs: list[Doc], *kinds: str) -> list[Doc]:
    return [d for d in docs if d.kind in kinds]
