"""Interpolated modified Kneser-Ney n-gram models, estimated in-process and written as ARPA.

No `lmplz` exists where prep runs, yet the perplexity filter needs KenLM models trained on a
reference corpus. This module does lmplz's estimation (Heafield et al. 2013, with the discounts of
Chen & Goodman 1998) on integer-coded n-grams held in sorted numpy arrays, and writes an ARPA file
that `kenlm.Model` loads. Its own `NgramModel.logprob`/`score` reproduce what kenlm answers for
that file, so the estimate can be checked without kenlm and kenlm can be checked against it.
(kenlm's query code needs order >= 2; order-1 models are estimated and written all the same.)

How the n-grams are held: word ids are dense, with `<unk>`=0, `<s>`=1 and `</s>`=2. A unigram's id
is its word id. An order-k n-gram (k >= 2) is identified by its rank in the sorted array of keys
`prefix_id * V + last_word`, where `prefix_id` is the id of its first k-1 words and V the vocabulary
size; the arrays are therefore in lexicographic order of word ids, and a lookup is one binary search
per word.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
_UNK, _BOS, _EOS = 0, 1, 2

#: lmplz's `--discount_fallback` default: D1, D2, D3+ used when an order's counts-of-counts cannot
#: give Chen & Goodman discounts (tiny or artificial corpora).
FALLBACK_DISCOUNTS: tuple[float, float, float] = (0.5, 1.0, 1.5)

#: ARPA's stand-in for log10(0): the probability of `<s>`, which is never predicted.
LOG_ZERO = -99.0

_WRITE_CHUNK = 1 << 16


class _Vocab(dict):
    """Word → id that numbers new words on first sight, so counting is one dict lookup per token."""

    def __missing__(self, word: str) -> int:
        # Checked once per distinct word, not per token: ARPA separates words by whitespace.
        if not isinstance(word, str) or word.split() != [word]:
            raise ValueError(f"token {word!r} is not a non-empty string without whitespace")
        ident = len(self)
        self[word] = ident
        return ident


@dataclass(frozen=True, eq=False)
class NgramCounts:
    """Raw counts of every n-gram of orders 1..order, wrapped in `<s>` ... `</s>` per sentence.

    Per order (index k-1 holds order k): `keys[k-1]` sorted n-gram keys (None for unigrams, whose id
    is the word id), `counts[k-1]` raw counts and `suffix[k-1]` the id of the n-gram without its
    first word (None for unigrams), which is what continuation counts and interpolation need.
    """

    order: int
    vocab: tuple[str, ...]
    index: dict[str, int] = field(repr=False)
    keys: tuple[np.ndarray | None, ...] = field(repr=False)
    counts: tuple[np.ndarray, ...] = field(repr=False)
    suffix: tuple[np.ndarray | None, ...] = field(repr=False)
    tokens: int
    sentences: int

    def sizes(self) -> list[int]:
        """Number of distinct n-grams per order (unigrams include `<unk>`, `<s>` and `</s>`)."""
        return [len(c) for c in self.counts]


@dataclass(frozen=True, eq=False)
class NgramModel:
    """An estimated model: per order, the log10 probability and log10 backoff of each stored n-gram.

    The arrays are exactly what the ARPA file holds, so `logprob` answers as kenlm does for it.
    `discounts[k-1]` is (D1, D2, D3+) of order k; `fallback_orders` lists the orders whose
    counts-of-counts could not give discounts and got FALLBACK_DISCOUNTS instead.
    """

    order: int
    vocab: tuple[str, ...]
    index: dict[str, int] = field(repr=False)
    keys: tuple[np.ndarray | None, ...] = field(repr=False)
    log_prob: tuple[np.ndarray, ...] = field(repr=False)
    log_backoff: tuple[np.ndarray, ...] = field(repr=False)
    discounts: tuple[tuple[float, float, float], ...]
    fallback_orders: tuple[int, ...]

    @property
    def used_fallback(self) -> bool:
        """True when some order's discounts are the fixed fallback ones (worth a warning in logs)."""
        return bool(self.fallback_orders)

    def sizes(self) -> list[int]:
        """Number of n-grams per order, as in the ARPA `\\data\\` header."""
        return [len(p) for p in self.log_prob]

    def logprob(self, word: str, context: tuple[str, ...] = ()) -> float:
        """log10 P(word | context) under ARPA backoff, as kenlm computes it; unknown words are `<unk>`.

        `context` is in reading order (oldest first); only its last order-1 words matter.
        """
        ids = [self.index.get(w, _UNK) for w in context]
        return self._logprob_ids(self.index.get(word, _UNK), ids)

    def score(self, tokens: Sequence[str], bos: bool = True, eos: bool = True) -> float:
        """Total log10 probability of a sentence, like `kenlm.Model.score` on the joined tokens."""
        words = [self.index.get(w, _UNK) for w in tokens]
        if eos:
            words.append(_EOS)
        history = [_BOS] if bos else []
        total = 0.0
        for w in words:
            total += self._logprob_ids(w, history)
            history.append(w)
        return total

    def _find(self, ids: Sequence[int]) -> int:
        """Id of the stored n-gram `ids` (word ids, reading order), or -1 when it is not stored."""
        gram = ids[0]
        width = len(self.vocab)
        for k in range(1, len(ids)):
            keys = self.keys[k]
            key = gram * width + ids[k]
            pos = int(np.searchsorted(keys, key))
            if pos == len(keys) or int(keys[pos]) != key:
                return -1
            gram = pos
        return gram

    def _logprob_ids(self, word: int, history: list[int]) -> float:
        context = history[-(self.order - 1) :] if self.order > 1 else []
        # Longest stored n-gram ending in `word`: stored n-grams are closed under taking suffixes,
        # so the first miss ends the search.
        result = float(self.log_prob[0][word])
        matched = 0
        for j in range(1, len(context) + 1):
            gram = self._find([*context[-j:], word])
            if gram < 0:
                break
            result, matched = float(self.log_prob[j][gram]), j
        # Back off through every stored context longer than the match.
        for j in range(matched + 1, len(context) + 1):
            gram = self._find(context[-j:])
            if gram < 0:
                break
            result += float(self.log_backoff[j - 1][gram])
        return result


def count_ngrams(sentences: Iterable[Sequence[str]], order: int) -> NgramCounts:
    """Count the n-grams of orders 1..order in one pass over the sentences (lists of tokens).

    Tokens become int32 ids as they stream in; the n-grams are then counted with sorts, not
    per-n-gram Python objects, which keeps a million tokens at order 5 to a few seconds.
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    order = int(order)
    vocab = _Vocab({UNK: _UNK, BOS: _BOS, EOS: _EOS})
    lookup = vocab.__getitem__
    stream = array("i")
    n_sentences = 0
    for sentence in sentences:
        if isinstance(sentence, str):
            raise TypeError("each sentence must be a list of tokens, not a string")
        stream.append(_BOS)
        stream.extend(map(lookup, sentence))
        stream.append(_EOS)
        n_sentences += 1
    tokens = np.frombuffer(stream, dtype=np.int32) if stream else np.zeros(0, np.int32)
    n_words = len(tokens) - 2 * n_sentences
    if n_words == 0:
        raise ValueError("no tokens to count: the input has no sentences, or only empty ones")
    if np.count_nonzero(tokens == _BOS) != n_sentences or np.count_nonzero(tokens == _EOS) != n_sentences:
        raise ValueError(f"sentences must not contain {BOS} or {EOS}: they are added around each sentence")
    keys, counts, suffix = _count_orders(tokens, len(vocab), order)
    return NgramCounts(
        order=order,
        vocab=tuple(vocab),
        index=dict(vocab),
        keys=keys,
        counts=counts,
        suffix=suffix,
        tokens=n_words,
        sentences=n_sentences,
    )


def _count_orders(tokens: np.ndarray, width: int, order: int) -> tuple[tuple, tuple, tuple]:
    """Per order: sorted keys, raw counts and suffix ids, built order by order from the previous one."""
    n = len(tokens)
    ends = np.flatnonzero(tokens == _EOS)
    # Distance from each position to the `</s>` of its sentence: an order-k window starting at p
    # stays inside the sentence iff to_end[p] >= k - 1.
    to_end = np.repeat(ends, np.diff(ends, prepend=-1)) - np.arange(n)
    keys: list[np.ndarray | None] = [None]
    counts = [np.bincount(tokens, minlength=width).astype(np.int64)]
    suffix: list[np.ndarray | None] = [None]
    ids = tokens.astype(np.int64)  # id of the (k-1)-gram starting at each position
    for k in range(2, order + 1):
        starts = np.flatnonzero(to_end >= k - 1)
        key = ids[starts] * width + tokens[starts + k - 1]
        uniq, first, inverse, cnt = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        keys.append(uniq)
        counts.append(cnt.astype(np.int64))
        suffix.append(ids[starts[first] + 1])
        ids = np.full(n, -1, dtype=np.int64)
        ids[starts] = inverse.reshape(-1)
    return tuple(keys), tuple(counts), tuple(suffix)


def estimate(counts: NgramCounts) -> NgramModel:
    """Interpolated modified Kneser-Ney estimate with lmplz's conventions, as ARPA-ready arrays.

    Each order's probabilities are interpolated with the next lower order, the unigrams with the
    uniform distribution over the vocabulary without `<s>`. The interpolation weight of a context is
    exactly its ARPA backoff, so the stored n-grams plus backoffs reproduce the interpolated model.
    """
    width = len(counts.vocab)
    prefixes = [np.zeros(width, dtype=np.int64)] + [k // width for k in counts.keys[1:]]
    suffixes = [np.zeros(width, dtype=np.int64), *counts.suffix[1:]]
    adjusted = _adjusted_counts(counts, prefixes)
    discounts, fallback = [], []
    for k, a in enumerate(adjusted, start=1):
        d, bad = _discounts(a)
        discounts.append(d)
        if bad:
            fallback.append(k)

    lower = np.array([1.0 / (width - 1)])  # uniform over the vocabulary without <s>
    log_prob, log_backoff = [], []
    for k in range(1, counts.order + 1):
        n_contexts = 1 if k == 1 else len(adjusted[k - 2])
        prob, gamma, has_ext = _interpolate(
            adjusted[k - 1], prefixes[k - 1], suffixes[k - 1], discounts[k - 1], lower, n_contexts
        )
        if k > 1:
            log_backoff.append(_log10(gamma, has_ext))
        log_prob.append(np.minimum(0.0, np.log10(prob)))
        lower = prob
    log_prob[0][_BOS] = LOG_ZERO
    log_backoff.append(np.zeros(len(log_prob[-1])))
    return NgramModel(
        order=counts.order,
        vocab=counts.vocab,
        index=counts.index,
        keys=counts.keys,
        log_prob=tuple(log_prob),
        log_backoff=tuple(log_backoff),
        discounts=tuple(discounts),
        fallback_orders=tuple(fallback),
    )


def _adjusted_counts(counts: NgramCounts, prefixes: list[np.ndarray]) -> list[np.ndarray]:
    """Kneser-Ney adjusted counts: raw at the top order and for n-grams that start with `<s>`
    (nothing can precede them), elsewhere the number of distinct words seen to the left."""
    first = np.arange(len(counts.vocab))  # first word of each n-gram, order by order
    adjusted = []
    for k in range(1, counts.order + 1):
        if k > 1:
            first = first[prefixes[k - 1]]
        raw = counts.counts[k - 1]
        if k == counts.order:
            a = raw.copy()
        else:
            a = np.bincount(counts.suffix[k], minlength=len(raw)).astype(np.int64)
            starts_bos = first == _BOS
            a[starts_bos] = raw[starts_bos]
        if k == 1:
            a[_BOS] = 0  # <s> is never predicted, so it takes no unigram mass
        adjusted.append(a)
    return adjusted


def _discounts(adjusted: np.ndarray) -> tuple[tuple[float, float, float], bool]:
    """Chen & Goodman's D1, D2, D3+ from counts-of-counts, or the fallback when they are undefined."""
    n = np.bincount(adjusted[(adjusted >= 1) & (adjusted <= 4)], minlength=5).astype(np.float64)
    if n[1] == 0 or n[2] == 0 or n[3] == 0:
        return FALLBACK_DISCOUNTS, True
    y = n[1] / (n[1] + 2 * n[2])
    d = tuple(float(j - (j + 1) * y * n[j + 1] / n[j]) for j in (1, 2, 3))
    if any(not 0.0 <= d[j - 1] <= j for j in (1, 2, 3)):
        return FALLBACK_DISCOUNTS, True
    return (d[0], d[1], d[2]), False


def _interpolate(
    adjusted: np.ndarray,
    prefix: np.ndarray,
    suffix: np.ndarray,
    discount: tuple[float, float, float],
    lower: np.ndarray,
    n_contexts: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One order: interpolated probabilities, per-context interpolation weights (gamma), and which
    contexts have any continuation (the others are no context and keep backoff 0)."""
    d = np.array((0.0, *discount))[np.minimum(adjusted, 3)]
    denominator = np.bincount(prefix, weights=adjusted, minlength=n_contexts)
    has_ext = denominator > 0
    gamma = np.divide(
        np.bincount(prefix, weights=d, minlength=n_contexts),
        denominator,
        out=np.zeros(n_contexts),
        where=has_ext,
    )
    prob = (adjusted - d) / denominator[prefix] + gamma[prefix] * lower[suffix]
    return prob, gamma, has_ext


def _log10(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """log10 where mask holds (0 elsewhere), with ARPA's -99 for an exact zero."""
    out = np.zeros(len(values))
    positive = mask & (values > 0)
    out[positive] = np.log10(values[positive])
    out[mask & ~positive] = LOG_ZERO
    return out


def write_arpa(model: NgramModel, path: str | os.PathLike[str]) -> None:
    """Write the model as an ARPA file; the file appears complete or not at all (temp + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
            _write_body(model, out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_body(model: NgramModel, out: TextIO) -> None:
    out.write("\\data\\\n")
    for k, size in enumerate(model.sizes(), start=1):
        out.write(f"ngram {k}={size}\n")
    for k in range(1, model.order + 1):
        out.write(f"\n\\{k}-grams:\n")
        size = len(model.log_prob[k - 1])
        for lo in range(0, size, _WRITE_CHUNK):
            hi = min(size, lo + _WRITE_CHUNK)
            out.write(_format_lines(model, k, lo, hi))
    out.write("\n\\end\\\n")


def _format_lines(model: NgramModel, k: int, lo: int, hi: int) -> str:
    """ARPA lines of the order-k n-grams lo..hi-1; the top order has no backoff column."""
    fields = [map("{:.6f}".format, model.log_prob[k - 1][lo:hi].tolist()), _ngram_texts(model, k, lo, hi)]
    if k < model.order:
        fields.append(map("{:.6f}".format, model.log_backoff[k - 1][lo:hi].tolist()))
    return "\n".join(map("\t".join, zip(*fields, strict=True))) + "\n"


def _ngram_texts(model: NgramModel, k: int, lo: int, hi: int) -> list[str]:
    """The words of order-k n-grams lo..hi-1, space-separated, recovered from the key chain."""
    width = len(model.vocab)
    if k == 1:
        return list(model.vocab[lo:hi])
    columns = []
    grams = np.arange(lo, hi)
    for j in range(k, 1, -1):
        key = model.keys[j - 1][grams]
        columns.append(key % width)
        grams = key // width
    columns.append(grams)
    words = [map(model.vocab.__getitem__, col.tolist()) for col in reversed(columns)]
    return list(map(" ".join, zip(*words, strict=True)))
