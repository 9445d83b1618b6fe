"""The n-gram index of benchmark items: built once per run, read by every worker without copies.

Windows (GPT-3's and lm-eval's 13-gram overlap, per item):
- an item of at least `ngram` normalised words is indexed by all its `ngram`-word windows;
- an item of `min_words` to `ngram - 1` words is indexed whole, as one window of its own
  length. GPT-3 measured overlap with N-grams of N = min(13, the benchmark's 5th-percentile
  item length), never below 8 words because shorter N-grams collide by chance; taking each
  item's own length is that rule per item, and never matches a part of a short item;
- an item shorter than `min_words` is not indexed (counted as `skipped`);
- a window shared by more than `max_item_frequency` items is boilerplate ("which of the
  following is the best ..."), not evidence of one item: it is dropped (counted as `capped`).

A document contains an item when its matching windows cover at least `min_coverage` of the
item's question words or of its answer words (`confirm`). With 0 a single window is enough,
the GPT-3 / lm-eval rule; on the sample that flags a Wikipedia article for the 13 words a
TriviaQA question quotes from it, the Gettysburg Address and a bubble sort shared with MBPP.

The index is a handful of NumPy arrays (`to_shared`): the runner `ray.put`s them once and every
worker maps them zero-copy. `keys` is sorted, one entry per key and item, with parallel
`entries` (the item) and `offsets` (the window's first word in the item); a bit array over the
top bits of the keys rejects ~98% of a document's windows with one gather before the binary
search (with `searchsorted` on every window the lookup ran at 9 MB/s per core on the sample,
with the filter at 97 MB/s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prep.stages.decontam.ngrams import Words, all_gram_keys, gram_keys, window_ok, words
from prep.stages.decontam.registry import Item

_U64 = np.uint64
#: Bits of the prefilter per indexed key: ~1/32 of the windows of clean text pass it.
_BITS_PER_KEY = 32


@dataclass
class Hits:
    """One row per (document window, item) match."""

    doc: np.ndarray  # index into the texts looked up
    item: np.ndarray  # item number in the index
    word: np.ndarray  # the window's first word (index into the Words looked up)
    length: np.ndarray  # the window's length in words
    offset: np.ndarray  # the window's first word in the item

    def __len__(self) -> int:
        return len(self.doc)

    def take(self, rows: np.ndarray) -> Hits:
        return Hits(self.doc[rows], self.item[rows], self.word[rows], self.length[rows], self.offset[rows])


class BenchmarkIndex:
    def __init__(self, arrays: dict[str, np.ndarray], benchmarks: list[str], params: dict, summary: dict):
        self.arrays = arrays
        self.benchmarks = benchmarks
        self.params = params
        self.summary = summary
        self.keys = arrays["keys"]
        self.filter = arrays["filter"]
        self.shift = _U64(64 - params["filter_bits"])
        self.lengths = [int(k) for k in arrays["lengths"]]

    # ------------------------------------------------------------------ build

    @classmethod
    def build(
        cls,
        sources: Sequence[tuple[str, Sequence[Item]]],
        ngram: int = 13,
        min_words: int = 8,
        max_item_frequency: int = 10,
    ) -> BenchmarkIndex:
        """Index the items of `sources` ((benchmark name, items), one entry per benchmark)."""
        benchmarks = [name for name, _ in sources]
        items = [item for _, its in sources for item in its]
        bench = np.repeat(np.arange(len(sources), dtype=np.uint16), [len(its) for _, its in sources])
        w = words([item.text for item in items])
        count = np.bincount(w.doc, minlength=len(items))
        first = np.cumsum(count) - count
        question_chars = np.array([len(item.question) for item in items], dtype=np.int64)
        in_question = w.start < question_chars[w.doc]
        question_words = np.bincount(w.doc[in_question], minlength=len(items))
        key, owner, offset = _item_windows(w, count, first, ngram, min_words)
        per_key = np.diff(_run_starts(key), append=len(key))
        common = np.repeat(per_key > max_item_frequency, per_key)
        summary = _summary(benchmarks, bench, count, key, owner, common, ngram, min_words)
        key, owner, offset = key[~common], owner[~common], offset[~common]
        # Items shorter than `ngram` are probed by their first `min_words` words, so a document
        # is looked up at two window lengths, not at every length from min_words to ngram (the
        # lookup ran at 42 MB/s with six, 97 MB/s with two); a probe hit is then checked
        # against the whole item's key.
        length = np.minimum(count[owner], ngram)
        verify = (length > min_words) & (length < ngram)
        probe = key.copy()
        probe[verify] = gram_keys(w.hashes, first[owner[verify]], min_words)
        order = np.argsort(probe, kind="stable")
        checked = np.flatnonzero(verify[order])  # entries (in key order) whose item must be confirmed
        bits = _filter_bits(len(probe))
        arrays = {
            "keys": probe[order],
            "entries": owner[order],
            "offsets": offset[order],
            "check_rows": checked,
            "check_lens": length[order][checked].astype(np.uint8),
            "check_keys": key[order][checked],
            "filter": _filter(probe, bits),
            "lengths": np.array(sorted({ngram, *([min_words] if (length < ngram).any() else [])})),
            "bench": bench,
            "item_words": count.astype(np.uint32),
            "question_words": question_words.astype(np.uint32),
            **_pack_ids([item.item_id for item in items]),
        }
        params = {"ngram": ngram, "min_words": min_words, "max_item_frequency": max_item_frequency}
        return cls(arrays, benchmarks, {**params, "filter_bits": bits}, summary)

    # ------------------------------------------------------------------ sharing

    def to_shared(self) -> dict:
        """Plain arrays and lists: what the runner puts in the object store."""
        return {
            "arrays": self.arrays,
            "benchmarks": self.benchmarks,
            "params": self.params,
            "summary": self.summary,
        }

    @classmethod
    def from_shared(cls, shared: dict) -> BenchmarkIndex:
        return cls(shared["arrays"], shared["benchmarks"], shared["params"], shared["summary"])

    # ------------------------------------------------------------------ lookup

    @property
    def size(self) -> int:
        """Indexed keys (one per key and item)."""
        return len(self.keys)

    def item(self, number: int) -> tuple[str, str]:
        """(benchmark, item id) of an item number."""
        offsets = self.arrays["id_offsets"]
        raw = self.arrays["id_bytes"][offsets[number] : offsets[number + 1]].tobytes()
        return self.benchmarks[int(self.arrays["bench"][number])], raw.decode("utf-8")

    def lookup(self, w: Words) -> Hits:
        """Every (window, item) match of the words of some texts."""
        found: list[Hits] = []
        for k, keys in all_gram_keys(w, self.lengths):
            slots = keys >> self.shift
            maybe = (self.filter[slots >> _U64(6)] >> (slots & _U64(63))) & _U64(1)
            cand = np.flatnonzero(maybe)
            lo = np.searchsorted(self.keys, keys[cand])
            hit = self.keys[np.minimum(lo, len(self.keys) - 1)] == keys[cand]
            cand, lo = cand[hit], lo[hit]
            inside = window_ok(w, cand, k)
            cand, lo = cand[inside], lo[inside]
            if len(cand):
                n = np.searchsorted(self.keys, keys[cand], side="right") - lo
                entry = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
                found.append(self._verified(w, np.repeat(cand, n), entry, k))
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return Hits(empty, empty, empty, empty, empty)
        return Hits(*(np.concatenate([getattr(h, f) for h in found]) for f in Hits.__dataclass_fields__))

    def _verified(self, w: Words, word: np.ndarray, entry: np.ndarray, k: int) -> Hits:
        """The probe hits that stand: a short item's probe must be followed by the whole item."""
        checked = self.arrays["check_rows"]
        at = np.minimum(np.searchsorted(checked, entry), max(len(checked) - 1, 0))
        needs = checked[at] == entry if len(checked) else np.zeros(len(entry), dtype=bool)
        length = np.where(needs, self.arrays["check_lens"][at] if len(checked) else 0, 0).astype(np.int64)
        ok = ~needs
        for n in np.unique(length[needs]).tolist():
            rows = np.flatnonzero(length == n)
            rows = rows[window_ok(w, word[rows], n)]
            ok[rows] = gram_keys(w.hashes, word[rows], n) == self.arrays["check_keys"][at[rows]]
        word, entry, length = word[ok], entry[ok], np.where(length == 0, k, length)[ok]
        item = self.arrays["entries"][entry].astype(np.int64)
        return Hits(w.doc[word], item, word, length, self.arrays["offsets"][entry].astype(np.int64))

    def confirm(self, hits: Hits, min_coverage: float) -> Hits:
        """The hits of the (document, item) pairs whose windows cover at least `min_coverage` of
        the item's question words or of its answer words."""
        if min_coverage <= 0 or not len(hits):
            return hits
        order = np.lexsort((hits.item, hits.doc))
        hits = hits.take(order)
        cuts = np.flatnonzero((hits.doc[1:] != hits.doc[:-1]) | (hits.item[1:] != hits.item[:-1])) + 1
        keep = np.zeros(len(hits), dtype=bool)
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(hits)], strict=True):
            item = int(hits.item[lo])
            size, question = int(self.arrays["item_words"][item]), int(self.arrays["question_words"][item])
            depth = np.zeros(size + 1, dtype=np.int64)
            np.add.at(depth, hits.offset[lo:hi], 1)
            np.add.at(depth, np.minimum(hits.offset[lo:hi] + hits.length[lo:hi], size), -1)
            covered = np.cumsum(depth[:size]) > 0
            parts = [(covered[:question], question), (covered[question:], size - question)]
            keep[lo:hi] = any(n and part.sum() >= min_coverage * n for part, n in parts)
        return hits.take(np.flatnonzero(keep))


def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1])


def _item_windows(w: Words, count: np.ndarray, first: np.ndarray, ngram: int, min_words: int):
    """(key, item, first word in the item) of every indexed window, sorted by key, once per key
    and item: all `ngram`-word windows of long items, the whole of items of `min_words` to
    `ngram - 1` words."""
    keys, owners, offsets = [], [], []
    for _, found in all_gram_keys(w, [ngram]):
        starts = np.flatnonzero(window_ok(w, np.arange(len(found)), ngram))
        keys.append(found[starts])
        owners.append(w.doc[starts])
        offsets.append(starts - first[w.doc[starts]])
    short = np.flatnonzero((count >= min_words) & (count < ngram))
    for length in np.unique(count[short]).tolist():
        whole = short[count[short] == length]
        keys.append(gram_keys(w.hashes, first[whole], length))
        owners.append(whole)
        offsets.append(np.zeros(len(whole), dtype=np.int64))
    key = np.concatenate([np.zeros(0, dtype=_U64), *keys])
    owner = np.concatenate([np.zeros(0, dtype=np.int64), *owners]).astype(np.uint32)
    offset = np.concatenate([np.zeros(0, dtype=np.int64), *offsets]).astype(np.uint32)
    order = np.lexsort((offset, owner, key))
    key, owner, offset = key[order], owner[order], offset[order]
    fresh = np.ones(len(key), dtype=bool)
    fresh[1:] = (key[1:] != key[:-1]) | (owner[1:] != owner[:-1])
    return key[fresh], owner[fresh], offset[fresh]


def _summary(benchmarks, bench, count, key, owner, common, ngram: int, min_words: int) -> dict:
    """Per benchmark: items, how they are indexed, distinct n-grams kept and capped as common."""
    nb = len(benchmarks)
    run = np.cumsum(np.concatenate([[False], key[1:] != key[:-1]])) if len(key) else key.astype(np.int64)
    pairs = np.sort(run * nb + bench[owner], kind="stable")  # nearly sorted already: cheap
    pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])] if len(pairs) else pairs
    pair_common = common[np.searchsorted(run, pairs // nb)]
    matchable = np.zeros(len(bench), dtype=bool)
    matchable[owner[~common]] = True
    indexed = count >= min_words
    columns = {
        "items": np.ones(len(bench), dtype=bool),
        "whole": indexed & (count < ngram),
        "skipped": ~indexed,
        "unmatchable": indexed & ~matchable,
    }
    counts = {name: np.bincount(bench[mask], minlength=nb) for name, mask in columns.items()}
    counts["ngrams"] = np.bincount(pairs[~pair_common] % nb, minlength=nb)
    counts["capped"] = np.bincount(pairs[pair_common] % nb, minlength=nb)
    return {name: {c: int(v[b]) for c, v in counts.items()} for b, name in enumerate(benchmarks)}


def _filter(keys: np.ndarray, bits: int) -> np.ndarray:
    """Bit array over the top `bits` bits of the keys."""
    slots = keys >> _U64(64 - bits)
    table = np.zeros(1 << (bits - 6), dtype=_U64)
    np.bitwise_or.at(table, slots >> _U64(6), _U64(1) << (slots & _U64(63)))
    return table


def _filter_bits(n_keys: int) -> int:
    return int(min(36, max(16, int(np.ceil(np.log2(max(n_keys, 1) * _BITS_PER_KEY))))))


def _pack_ids(ids: list[str]) -> dict[str, np.ndarray]:
    """Item ids as one UTF-8 blob and offsets: zero-copy in the object store, decoded on a hit."""
    raw = [i.encode("utf-8") for i in ids]
    offsets = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in raw], out=offsets[1:])
    return {"id_bytes": np.frombuffer(b"".join(raw), dtype=np.uint8), "id_offsets": offsets}
