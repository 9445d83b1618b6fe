r"""Normalised words of many texts at once, hashed, and the hashes of their word n-grams (NumPy).

Normalisation, the same for benchmark items and for documents:
- lowercase (Unicode simple case mapping, one character at a time);
- characters of the Unicode categories P (punctuation), S (symbols) and C (controls, format
  characters such as the soft hyphen or a zero-width space) are deleted where they stand, so
  "don't" is "dont" and "is/are" is "isare", as in lm-eval's janitor and GPT-3's filter (both
  strip punctuation), and exactly what the sample's punctuation variants do;
- words are split at whitespace (`str.isspace`): any run of spaces, tabs and newlines is one
  separator, and a token made only of deleted characters (" - ") is no word.
There is no Unicode normal form (NFKC): a benchmark copied with ligatures or full-width letters
is not recognised. Word boundaries are whitespace, so unsegmented CJK text is one long word.

Every text is mapped through one code point table (UTF-32 view of the Python string), so word
positions are character offsets into the original text: span removal needs no second tokenizer.
pyarrow's `utf8_lower` + a `[\p{P}\p{S}]` regex + `utf8_split_whitespace` ran at 61 MB/s per core
on the sample without hashing the words or keeping offsets; this runs at 66 MB/s with both.
Hashes are deterministic across processes (fixed constants, no salted `hash`), so an index
built in the driver matches documents hashed in any worker.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

_U64 = np.uint64
_M64 = (1 << 64) - 1
#: Table values for deleted characters and separators; others are the lowercase code point.
DROP = 0xFFFFFFFF
SPACE = 0x20

#: Code points hashed together as one 64-bit limb (two UTF-32 units).
_LIMB = 2
#: Words longer than this (base64 blobs, long URLs without punctuation) are hashed one by one in
#: Python: vectorised limb gathers would loop once per limb of the longest word.
_MAX_VECTOR_CHARS = 16 * _LIMB
#: Characters handled per NumPy call, so that a chunk's arrays stay in cache: on the sample, 63 MB/s
#: per core in chunks of 256 Ki characters, 45 MB/s with whole batches of 512 documents.
CHUNK_CHARS = 1 << 18


def _splitmix(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


_LIMB_MULS = np.array([_splitmix(100 + t) | 1 for t in range(_MAX_VECTOR_CHARS // _LIMB)], dtype=_U64)
_LEN_MUL = _U64(_splitmix(1) | 1)
#: An n-gram key is sum(word_j * GRAM_BASE**j): a polynomial, so that the keys of every window of
#: a text at any length come from one prefix sum, two operations per window and length (the keys
#: of lengths 8 and 13 for the sample: 1.3 GB/s of text per core; summing k products, 0.7 GB/s).
GRAM_BASE = _splitmix(2) | 1
_GRAM_INVERSE = pow(GRAM_BASE, -1, 1 << 64)


@functools.lru_cache(maxsize=8)
def _powers(base: int, n: int) -> np.ndarray:
    """base**i mod 2**64 for i < n (n rounded up to a power of two by the caller)."""
    out = np.full(n, base, dtype=_U64)
    out[0] = 1
    np.multiply.accumulate(out, out=out)
    out.setflags(write=False)
    return out


def _gram_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    size = 1 << max(10, (n - 1).bit_length())
    return _powers(GRAM_BASE, size)[:n], _powers(_GRAM_INVERSE, size)[:n]


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place: spreads every input bit over the output."""
    h ^= h >> _U64(33)
    h *= _U64(0xFF51AFD7ED558CCD)
    h ^= h >> _U64(33)
    h *= _U64(0xC4CEB9FE1A85EC53)
    h ^= h >> _U64(33)
    return h


@functools.cache
def char_table() -> np.ndarray:
    """Code point -> lowercase code point, SPACE or DROP (uint32, 4.4 MB; 0.2-0.5 s once per process)."""
    table = np.empty(sys.maxunicode + 1, dtype=np.uint32)
    category = unicodedata.category
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if ch.isspace():
            table[cp] = SPACE
        elif category(ch)[0] in "PSC":
            table[cp] = DROP
        else:
            table[cp] = ord(ch.lower()[0])  # U+0130 lowercases to two characters: keep "i"
    table.setflags(write=False)
    return table


@dataclass
class Words:
    """The words of several texts, back to back: text `doc[i]` holds word `i` at characters
    `start[i]:end[i]` (first to last kept character; deleted ones at the edges excluded)."""

    hashes: np.ndarray  # uint64
    doc: np.ndarray  # int64 index into the texts
    start: np.ndarray  # int64 character offsets into the text
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.hashes)


def _limb_hashes(units: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """sum(limb_t * LIMB_MULS[t]) + length * LEN_MUL, mixed, for words of <= _MAX_VECTOR_CHARS
    code points of `units` (uint32, padded so that a limb may read past the last word)."""
    view = np.ndarray((len(units) - 1,), dtype="<u8", buffer=units, strides=(4,))
    acc = lengths.astype(_U64) * _LEN_MUL
    live = np.arange(len(starts))
    for t in range((int(lengths.max(initial=0)) + _LIMB - 1) // _LIMB):
        live = live[lengths[live] > t * _LIMB]
        limb = view[starts[live] + t * _LIMB]
        odd = np.flatnonzero(lengths[live] == t * _LIMB + 1)  # one code point left: drop the next
        limb[odd] &= _U64(0xFFFFFFFF)
        acc[live] += limb * _LIMB_MULS[t]
    return fmix64(acc)


def _long_hash(units: np.ndarray) -> int:
    return int.from_bytes(hashlib.blake2b(units.tobytes(), digest_size=8).digest(), "little")


def _chunk_words(texts: Sequence[str], table: np.ndarray) -> Words:
    cps = np.frombuffer("\n".join(texts).encode("utf-32-le", "surrogatepass"), dtype="<u4")
    mapped = table.take(cps, mode="clip")
    kept = np.flatnonzero(mapped != DROP)
    units = np.empty(len(kept) + _LIMB, dtype=np.uint32)
    units[: len(kept)] = mapped[kept]
    units[len(kept) :] = SPACE
    space = np.empty(len(kept) + 2, dtype=bool)
    space[0] = space[-1] = True
    np.equal(units[: len(kept)], SPACE, out=space[1:-1])
    edges = np.flatnonzero(space[:-1] != space[1:])
    first, after = edges[0::2], edges[1::2]  # word = units[first:after]
    lengths = after - first
    hashes = np.empty(len(first), dtype=_U64)
    short = lengths <= _MAX_VECTOR_CHARS
    hashes[short] = _limb_hashes(units, first[short], lengths[short])
    for i in np.flatnonzero(~short).tolist():
        hashes[i] = _long_hash(units[first[i] : after[i]])
    text_start = np.zeros(len(texts), dtype=np.int64)
    np.cumsum([len(t) + 1 for t in texts[:-1]], out=text_start[1:])
    start = kept[first]
    doc = np.searchsorted(text_start, start, side="right") - 1
    return Words(hashes, doc, start - text_start[doc], kept[after - 1] + 1 - text_start[doc])


def words(texts: Sequence[str]) -> Words:
    """The normalised words of `texts`, hashed, in order (text by text)."""
    table = char_table()
    parts: list[Words] = []
    begin, size = 0, 0
    for i, text in enumerate([*texts, None]):
        if text is None or (size and size + len(text) > CHUNK_CHARS):
            if i > begin:
                part = _chunk_words(texts[begin:i], table)
                part.doc += begin
                parts.append(part)
            begin, size = i, 0
        if text is not None:
            size += len(text) + 1
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Words(np.zeros(0, dtype=_U64), empty, empty, empty)
    return Words(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("hashes", "doc", "start", "end")))


def gram_keys(hashes: np.ndarray, starts: np.ndarray, k: int) -> np.ndarray:
    """Keys of the k-word windows beginning at `starts` (each must have k words after it)."""
    powers, _ = _gram_powers(k)
    acc = np.zeros(len(starts), dtype=_U64)
    for j in range(k):
        acc += hashes[starts + j] * powers[j]
    return acc


def all_gram_keys(w: Words, lengths: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """(k, keys) for each k in `lengths`: keys[i] is the key of words i .. i + k - 1. Windows that
    cross from one text into the next are junk, for the caller to drop (`window_ok`) once it has
    found a match: cheaper than masking every window."""
    m = len(w)
    powers, inverse = _gram_powers(m + 1)
    prefix = np.zeros(m + 1, dtype=_U64)
    np.cumsum(w.hashes * powers[:m], out=prefix[1:])
    for k in lengths:
        if k <= m:
            yield k, (prefix[k:] - prefix[: m - k + 1]) * inverse[: m - k + 1]


def window_ok(w: Words, starts: np.ndarray, k: int) -> np.ndarray:
    """Whether the k-word windows at `starts` lie inside one text."""
    ends = starts + k - 1
    ok = ends < len(w)
    ok[ok] = w.doc[starts[ok]] == w.doc[ends[ok]]
    return ok
