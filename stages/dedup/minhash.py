"""MinHash signatures of word n-gram shingles, computed a whole batch of documents at a time.

Signatures are bit-for-bit those of datasketch 2.0.0 with ``scheme="affine64"`` given the same
shingles and :func:`shingle_hash` as its ``hashfunc``: the 64-bit input hash is pre-mixed with the
MurmurHash3 finalizer, then permutation k is ``a_k * h + b_k mod 2**64`` (``a_k`` odd, so a
bijection), with (a, b) drawn exactly as datasketch draws them from ``RandomState(seed)``.
We match affine64 because it is the scheme with 64-bit values: legacy keeps 32 bits of a
``(a * h + b) % (2**61 - 1)`` (which inflates similarity on large sets, and costs a modulo per
permutation) and affine32 (datasketch's default, so pass ``scheme="affine64"``; see
:attr:`MinHasher.datasketch_kwargs`) would truncate our 64-bit shingle hash. Its permutation
needs no modulo at all: the uint64 wrap-around is the modulus.

Why it is fast (figures from ``bench/bench_minhash.py`` on 24 MB of real text, one core):
- normalisation is one ``bytes.translate`` for ASCII documents and one code point table lookup
  in numpy for the others (``unicodedata.normalize`` only on the stretches that may change);
- words are hashed in numpy straight from the UTF-8 bytes of a group of documents (8-byte limbs
  read through an unaligned uint64 view), and n-gram hashes are a linear combination of word
  hashes, so no Python object is made per word or per shingle: ~25 ns per word, where
  ``str.split`` + ``xxhash.xxh3_64_intdigest`` per word cost ~150 ns;
- all shingle hashes of a batch are permuted together, a few permutations per numpy call over a
  chunk of the batch, and reduced per document with ``np.minimum.reduceat``: ~0.45 ns per
  shingle and permutation, datasketch's per-document broadcast ~2.7 ns.

Shingle hashes are deterministic across processes and machines (no salted ``hash``); the words
themselves depend on ``unicodedata`` (NFKC, categories), i.e. on the Python minor version for
characters added to Unicode in between.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

__all__ = [
    "MAX_HASH",
    "MinHasher",
    "Normalizer",
    "band_hashes",
    "estimate_jaccard",
    "fmix64",
    "optimal_bands_rows",
    "permutations",
    "shingle_hash",
    "string_hashes",
    "word_hash",
]

_M64 = (1 << 64) - 1
_U64 = np.uint64
#: Signature value of a permutation that saw no shingle (datasketch's empty value for affine64).
MAX_HASH = _U64(_M64)

# MurmurHash3 64-bit finalizer: the pre-mix datasketch applies to every input hash (affine64).
_FMIX_S = _U64(33)
_FMIX_M1 = 0xFF51AFD7ED558CCD
_FMIX_M2 = 0xC4CEB9FE1A85EC53


def _splitmix64(x: int) -> int:
    """Fixed pseudo-random 64-bit constants for our own hashing, reproducible anywhere."""
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


# Word hash: limbs (8 bytes, little-endian, zero-padded) combined as sum(l_i * LIMB_MUL**i),
# plus the byte length times LEN_MUL, then multiply-xorshift-multiply. N-gram hash:
# sum(word_j * NGRAM_MUL_j), all mod 2**64.
_LIMB_MUL = _splitmix64(1) | 1
_LEN_MUL = _splitmix64(2) | 1
_MIX_M1 = _splitmix64(3) | 1
_MIX_M2 = _splitmix64(4) | 1


def _ngram_mul(j: int) -> int:
    return _splitmix64(1000 + j) | 1


_NGRAM_MULS = [_ngram_mul(j) for j in range(64)]


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * _FMIX_M1) & _M64
    h ^= h >> 33
    h = (h * _FMIX_M2) & _M64
    return h ^ (h >> 33)


def fmix64(h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """MurmurHash3 finalizer on a uint64 array (wrapping arithmetic), in place when ``out is h``."""
    t = np.right_shift(h, _FMIX_S)
    h = np.bitwise_xor(h, t, out=out)
    np.multiply(h, _U64(_FMIX_M1), out=h)
    np.right_shift(h, _FMIX_S, out=t)
    np.bitwise_xor(h, t, out=h)
    np.multiply(h, _U64(_FMIX_M2), out=h)
    np.right_shift(h, _FMIX_S, out=t)
    return np.bitwise_xor(h, t, out=h)


@functools.lru_cache(maxsize=1 << 16)
def word_hash(word: str | bytes) -> int:
    """64-bit hash of one normalised word (the scalar twin of the vectorised batch hash).

    Cached: words repeat (Zipf), and this is what datasketch calls per shingle word.
    """
    data = word.encode("utf-8") if isinstance(word, str) else word
    x = int.from_bytes(data, "little")
    acc, mul = 0, 1
    while x:
        acc += (x & _M64) * mul
        x >>= 64
        mul = (mul * _LIMB_MUL) & _M64
    h = ((acc + len(data) * _LEN_MUL) * _MIX_M1) & _M64
    return ((h ^ (h >> 32)) * _MIX_M2) & _M64


def shingle_hash(shingle: str | bytes) -> int:
    """64-bit hash of a shingle: its normalised words joined by single spaces.

    This is the ``hashfunc`` to give datasketch to reproduce our signatures. It is deterministic
    (fixed constants, no salted ``hash``) and equals what :meth:`MinHasher.shingle_hashes`
    computes in bulk.
    """
    words = shingle.split()
    muls = _NGRAM_MULS if len(words) <= len(_NGRAM_MULS) else [_ngram_mul(j) for j in range(len(words))]
    return sum(word_hash(w) * m for w, m in zip(words, muls, strict=False)) & _M64


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of datasketch's affine64 scheme: a odd in [1, 2**64), b in [0, 2**64)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 63, num_perm, dtype=np.uint64) * _U64(2) + _U64(1)
    b = gen.randint(0, 1 << 64, num_perm, dtype=np.uint64)
    return a, b


# --------------------------------------------------------------------------- normalisation


# Character classes used by the normaliser, one code per code point.
_OTHER, _SPACE, _PUNCT, _DIGIT, _INVISIBLE = range(5)
# Code point table values: a code point, _DROP, or either with _UNSTABLE set (the character may
# change under the Unicode normal form, so the text must go through unicodedata.normalize).
_DROP = 0x7FFFFFFF
_UNSTABLE = 0x80000000
_HANGUL_V_T = [*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)]  # compose with a preceding jamo


@dataclass(frozen=True)
class _UnicodeData:
    classes: np.ndarray  # uint8 class per code point
    lower: np.ndarray  # uint32 simple lowercase mapping per code point
    assigned: list[int]  # code points with a category other than Cn, Co, Cs


@functools.lru_cache(maxsize=1)
def _unicode_data() -> _UnicodeData:
    """Per code point class and lowercase, from one scan of the running ``unicodedata`` (~0.3 s).

    ``re`` has no ``\\p{P}``: a regex with the ~8,000 punctuation ranges spelt out ran at
    ~200 ns per character here, ``NFKC`` + ``str.lower`` at ~9 ns; one table lookup in numpy
    does lowercasing and all deletions at ~2 ns.
    """
    category = unicodedata.category
    codes = {"Nd": _DIGIT, "Cc": _INVISIBLE, "Cf": _INVISIBLE, "Cs": _INVISIBLE}
    classes = np.zeros(sys.maxunicode + 1, dtype=np.uint8)
    lower = np.arange(sys.maxunicode + 1, dtype=np.uint32)
    assigned = []
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        cat = category(ch)
        if cat in ("Cn", "Co"):
            continue
        if ch.isspace():
            classes[cp] = _SPACE
        else:
            classes[cp] = _PUNCT if cat[0] in "PS" else codes.get(cat, _OTHER)
        if cat == "Cs":
            continue
        assigned.append(cp)
        low = ch.lower()
        lower[cp] = ord(low[0])  # simple mapping: U+0130 -> "i", not "i" + U+0307
    classes.setflags(write=False)
    lower.setflags(write=False)
    return _UnicodeData(classes, lower, assigned)


@functools.lru_cache(maxsize=4)
def _unstable(form: str) -> np.ndarray:
    """Code points that may change when a text containing them is put in ``form`` (bool).

    A text made only of other code points is already in that form (UAX #15 quick check: every
    character "Yes" and no combining marks to reorder), so it can skip ``unicodedata.normalize``.
    Flagged: characters that change alone, combining marks (ccc != 0), the second character of
    every canonical pair decomposition and the Hangul vowel/trailing jamo (they may compose).
    """
    flags = np.zeros(sys.maxunicode + 1, dtype=bool)
    flags[_HANGUL_V_T] = True
    for cp in _unicode_data().assigned:
        ch = chr(cp)
        if unicodedata.combining(ch) or not unicodedata.is_normalized(form, ch):
            flags[cp] = True
        parts = unicodedata.decomposition(ch).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            flags[int(parts[1], 16)] = True
    flags.setflags(write=False)
    return flags


# ASCII whitespace as str.split() sees it (it also splits on the separators \x1c-\x1f).
_ASCII_SPACE = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
_ASCII_PUNCT = bytes(c for c in range(128) if unicodedata.category(chr(c))[0] in "PS")
_ASCII_INVISIBLE = bytes(
    c for c in range(128) if unicodedata.category(chr(c)) == "Cc" and c not in _ASCII_SPACE
)
_DIGITS = b"0123456789"


@dataclass(frozen=True)
class Normalizer:
    """Text normalisation before shingling; words are then the whitespace-separated tokens.

    Defaults: NFKC, lowercase (Unicode simple case mapping, character by character, so U+0130
    becomes "i" and a final capital sigma "σ"), punctuation and symbols (Unicode categories P*
    and S*, which on ASCII is exactly ``string.punctuation``) removed, invisible characters (Cc,
    Cf, Cs: controls, soft hyphen, zero-width space, lone surrogates) removed, digits kept,
    whitespace runs collapsed. ``punctuation="space"`` replaces instead of deleting
    (``"end.Start"`` -> two words); ``digits="zero"`` maps every decimal digit (Nd) to ``0``.
    Words are whitespace-separated, so a run of CJK or Thai text without spaces is one word.
    """

    lowercase: bool = True
    unicode_form: Literal["NFKC", "NFC", "NFKD", "NFD"] | None = "NFKC"
    punctuation: Literal["remove", "space", "keep"] = "remove"
    digits: Literal["keep", "zero", "remove"] = "keep"
    strip_invisible: bool = True

    def __getstate__(self) -> dict[str, object]:
        # Leave the cached tables (4.4 MB) out of pickles, e.g. when Ray ships a stage to workers.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def __call__(self, text: str) -> str:
        """The normalised text, words separated by single spaces."""
        return " ".join(self.words(text))

    def words(self, text: str) -> list[str]:
        """The normalised words of ``text``."""
        return [w for w in self.to_bytes(text).decode("utf-8", "surrogatepass").split(" ") if w]

    def to_bytes(self, text: str) -> bytes:
        """Normalised UTF-8 bytes in which words are separated by runs of b" " (no other space).

        The result is one per-character map applied to the NFKC form of the text. ASCII text
        (``str.isascii`` is O(1); NFKC is the identity on it) takes one ``bytes.translate``;
        other text one lookup in a code point table, and ``unicodedata.normalize`` only when a
        character of it may change under NFKC. Both tables agree on ASCII.
        """
        if text.isascii():
            return self._ascii(text)
        table = self._codepoint_table
        mapped = table.take(
            np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4"), mode="clip"
        )
        if self.unicode_form and mapped.max() >= _UNSTABLE:
            text = self._normalize_unstable(text, mapped >= _UNSTABLE)
            mapped = table.take(
                np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4"), mode="clip"
            )
            mapped &= np.uint32(_DROP)
        mapped = mapped[mapped != _DROP]
        return mapped.tobytes().decode("utf-32-le", "surrogatepass").encode("utf-8", "surrogatepass")

    def _map_codepoints(self, text: str) -> np.ndarray:
        # take(mode="clip") skips the bounds check of fancy indexing: ~35% faster here.
        codepoints = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        return self._codepoint_table.take(codepoints, mode="clip")

    def _normalize_unstable(self, text: str, unstable: np.ndarray) -> str:
        """``unicodedata.normalize`` applied only to the stretches of ``text`` that may change.

        A character that is not flagged by ``_unstable`` is a normalisation boundary (UAX #15:
        quick check "Yes", combining class 0, never the second of a composition), so the form of
        the text is the concatenation of the forms of the pieces between such characters. Each
        run of flagged characters is normalised with the boundary character before it, which it
        may compose with. On the benchmark this made NFKC of the ~10% of non-ASCII documents
        that need it (mostly for U+2026) 15 ms faster than normalising them whole.
        """
        form = self.unicode_form
        assert form is not None
        flagged = np.flatnonzero(unstable)
        if 16 * len(flagged) > len(text):  # dense (combining scripts): one call is cheaper
            return unicodedata.normalize(form, text)
        cut = np.flatnonzero(np.diff(flagged) > 1)
        run_lo = np.concatenate([flagged[:1], flagged[cut + 1]]) - 1
        run_hi = np.concatenate([flagged[cut], flagged[-1:]]) + 1
        parts, pos = [], 0
        for lo, hi in zip(np.maximum(run_lo, 0).tolist(), run_hi.tolist(), strict=True):
            parts += [text[pos:lo], unicodedata.normalize(form, text[lo:hi])]
            pos = hi
        parts.append(text[pos:])
        return "".join(parts)

    def _ascii(self, text: str) -> bytes:
        table, delete = self._ascii_table
        return text.encode("ascii").translate(table, delete)

    @functools.cached_property
    def _ascii_table(self) -> tuple[bytes, bytes]:
        """(table, delete) for ``bytes.translate``: lowercasing, spaces, punctuation, digits at once."""
        table = bytearray(range(256))
        delete = bytearray()
        if self.lowercase:
            table[ord("A") : ord("Z") + 1] = bytes(range(ord("a"), ord("z") + 1))
        for c in _ASCII_SPACE:
            table[c] = ord(" ")
        if self.punctuation == "space":
            for c in _ASCII_PUNCT:
                table[c] = ord(" ")
        elif self.punctuation == "remove":
            delete += _ASCII_PUNCT
        if self.digits == "zero":
            for c in _DIGITS:
                table[c] = ord("0")
        elif self.digits == "remove":
            delete += _DIGITS
        if self.strip_invisible:
            delete += _ASCII_INVISIBLE
        return bytes(table), bytes(delete)

    @functools.cached_property
    def _codepoint_table(self) -> np.ndarray:
        """Code point -> replacement code point or _DROP, with _UNSTABLE (uint32, 4.4 MB, built once)."""
        data = _unicode_data()
        classes = data.classes
        table = data.lower.copy() if self.lowercase else np.arange(len(classes), dtype=np.uint32)
        table[classes == _SPACE] = ord(" ")
        if self.punctuation != "keep":
            table[classes == _PUNCT] = _DROP if self.punctuation == "remove" else ord(" ")
        if self.digits != "keep":
            table[classes == _DIGIT] = _DROP if self.digits == "remove" else ord("0")
        if self.strip_invisible:
            table[classes == _INVISIBLE] = _DROP
        if self.unicode_form:
            table[_unstable(self.unicode_form)] |= np.uint32(_UNSTABLE)
        return table


# --------------------------------------------------------------------------- batch kernels

# _LIMB_MASK[k] keeps the low k bytes of a limb (k = 0..8).
_LIMB_MASK = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)
_PAD = b" " * 8


@functools.lru_cache(maxsize=64)
def _limb_powers(n: int) -> np.ndarray:
    """LIMB_MUL**i mod 2**64 for i < n (grown by doubling, so few distinct sizes are cached)."""
    out = np.empty(n, dtype=np.uint64)
    out[0] = 1
    if n > 1:
        out[1:] = _LIMB_MUL
        np.multiply.accumulate(out, out=out)
    out.setflags(write=False)
    return out


def _word_spans(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end byte offsets of the space-separated words of ``buf`` (starts and ends with b" ")."""
    space = np.frombuffer(buf, dtype=np.uint8) == ord(" ")
    edges = np.flatnonzero(space[:-1] != space[1:]) + 1
    return edges[0::2], edges[1::2]


def _word_hashes(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Vectorised :func:`word_hash` of every word span of ``buf`` (which has 8 bytes of padding)."""
    # Unaligned little-endian uint64 view at every byte offset: limb i of a word is one gather.
    view = np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    length = ends - starts
    acc = view[starts] & _LIMB_MASK[np.minimum(length, 8)]
    # 17% of the words of the benchmark have a second limb, 3% a third: limb 1 is done here,
    # the rest flattened (a per-limb loop would run once per 8 bytes of the longest token).
    long1 = np.flatnonzero(length > 8)
    if long1.size:
        start1, length1 = starts[long1] + 8, length[long1] - 8
        limb1 = view[start1] & _LIMB_MASK[np.minimum(length1, 8)]
        long2 = np.flatnonzero(length1 > 8)
        if long2.size:
            limb1[long2] += _long_word_tail(view, start1[long2], length1[long2])
        limb1 *= _U64(_LIMB_MUL)
        acc[long1] += limb1
    np.add(acc, length.astype(np.uint64) * _U64(_LEN_MUL), out=acc)
    return _mix_word(acc)


def _mix_word(h: np.ndarray) -> np.ndarray:
    """Multiply-xorshift-multiply, in place: half the passes of fmix64 (word hashes only feed a
    linear n-gram combination that datasketch's fmix64 mixes again; ~5 ms less on the benchmark)."""
    np.multiply(h, _U64(_MIX_M1), out=h)
    np.bitwise_xor(h, h >> _U64(32), out=h)
    return np.multiply(h, _U64(_MIX_M2), out=h)


def _long_word_tail(view: np.ndarray, starts: np.ndarray, length: np.ndarray) -> np.ndarray:
    """sum(l_i * LIMB_MUL**i for i >= 1) of words longer than one limb, all limbs flattened."""
    extra = (length + 7) // 8 - 1
    first = np.cumsum(extra) - extra
    owner = np.repeat(np.arange(len(starts)), extra)
    limb = np.arange(int(extra.sum())) - np.repeat(first, extra) + 1
    left = length[owner] - 8 * limb
    vals = view[starts[owner] + 8 * limb] & _LIMB_MASK[np.minimum(left, 8)]
    size = 1 << int(limb.max()).bit_length()
    vals *= _limb_powers(size)[limb]
    return np.add.reduceat(vals, first)


def _ngram_hashes(
    wh: np.ndarray, first: np.ndarray, count: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of every document in order, and the number per document.

    ``wh`` holds the word hashes of all documents back to back; document d owns
    ``wh[first[d] : first[d] + count[d]]``. A document with fewer than ``n`` words has one
    shingle of all its words, an empty one has none.
    """
    m = len(wh)
    padded = np.concatenate([wh, np.zeros(n - 1, dtype=np.uint64)])
    sh = padded[:m] * _U64(_ngram_mul(0))
    tmp = np.empty_like(sh)
    for j in range(1, n):
        np.multiply(padded[j : j + m], _U64(_ngram_mul(j)), out=tmp)
        sh += tmp
    valid = np.ones(m, dtype=bool)
    tail = (first + count)[:, None] - np.arange(1, n)[None, :]  # starts too close to the doc end
    valid[tail[tail >= first[:, None]]] = False
    short = np.flatnonzero((count > 0) & (count < n))
    if short.size:
        idx = first[short, None] + np.arange(n - 1)[None, :]
        keep = np.arange(n - 1)[None, :] < count[short, None]
        muls = np.array([_ngram_mul(j) for j in range(n - 1)], dtype=np.uint64)
        words = np.where(keep, padded[idx], _U64(0))
        sh[first[short]] = (words * muls).sum(axis=1, dtype=np.uint64)
        valid[first[short]] = True
    per_doc = np.where(count >= n, count - n + 1, np.minimum(count, 1))
    return sh[valid], per_doc


def _batch_shingle_hashes(docs: Sequence[bytes], n: int, mix: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of normalised documents, in order, and the count per document.

    ``mix`` applies datasketch's fmix64 pre-mix while the hashes are still in cache.
    """
    buf = b" " + b" ".join(docs) + _PAD
    starts, ends = _word_spans(buf)
    doc_start = np.ones(len(docs), dtype=np.int64)
    np.cumsum([len(d) + 1 for d in docs[:-1]], out=doc_start[1:])
    doc_start[1:] += 1
    first = np.searchsorted(starts, doc_start)
    count = np.diff(first, append=len(starts))
    hashes, per_doc = _ngram_hashes(_word_hashes(buf, starts, ends), first, count, n)
    return (fmix64(hashes, out=hashes) if mix else hashes), per_doc


# --------------------------------------------------------------------------- MinHasher


class MinHasher:
    """MinHash signatures of word n-gram shingles, equal to datasketch affine64 ones.

    Calls share no mutable state, so one instance can serve several threads.
    """

    #: Tuning, measured on the benchmark (flat within ~5% for chunks of 16-64 Ki shingles and
    #: groups of 2-16 permutations; 8 Ki x 1 was 2x slower from per-call overhead).
    chunk_shingles = 1 << 16
    perm_group = 4
    #: Normalised text hashed at once: stage 1 took 80 ms at 256 KiB, 138 ms at 16 KiB (per-call
    #: overhead) and 81 ms at 512 KiB.
    group_bytes = 1 << 18

    def __init__(
        self, num_perm: int = 112, ngram: int = 5, seed: int = 1, normalizer: Normalizer | None = None
    ) -> None:
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        if ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {ngram}")
        self.num_perm = num_perm
        self.ngram = ngram
        self.seed = seed
        self.normalizer = normalizer or Normalizer()
        self.a, self.b = permutations(num_perm, seed)

    @property
    def datasketch_kwargs(self) -> dict[str, object]:
        """``datasketch.MinHash(**kwargs)`` that reproduces our signatures from :meth:`shingles`."""
        return {"num_perm": self.num_perm, "seed": self.seed, "hashfunc": shingle_hash, "scheme": "affine64"}

    def normalize(self, text: str) -> str:
        return self.normalizer(text)

    def shingles(self, text: str) -> list[str]:
        """The shingles of ``text`` as strings (what datasketch is fed to reproduce a signature)."""
        words = self.normalizer.words(text)
        n = self.ngram
        if len(words) < n:
            return [" ".join(words)] if words else []
        return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]

    def shingle_hashes(self, text: str) -> np.ndarray:
        """Hashes of the shingles of ``text`` in order (duplicates kept); ``shingle_hash`` of each."""
        return _batch_shingle_hashes([self.normalizer.to_bytes(text)], self.ngram)[0]

    def shingle_set(self, text: str) -> np.ndarray:
        """The sorted distinct shingle hashes of ``text`` (what exact Jaccard compares)."""
        return np.unique(self.shingle_hashes(text))

    def jaccard(self, a_text: str, b_text: str) -> float:
        """Exact Jaccard similarity of the two shingle sets (compared by 64-bit hash).

        Two documents without any shingle are identical sets: 1.0.
        """
        a = np.unique(self.shingle_hashes(a_text))
        b = np.unique(self.shingle_hashes(b_text))
        union = len(a) + len(b)
        if union == 0:
            return 1.0
        inter = len(np.intersect1d(a, b, assume_unique=True))
        return inter / (union - inter)

    def signature(self, text: str) -> np.ndarray:
        """The signature of one document (use :meth:`signatures` for many: it is much faster)."""
        return self.signatures([text])[0][0]

    def signatures(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Signatures ``(len(texts), num_perm)`` uint64 and shingle counts ``(len(texts),)`` int64.

        A document with no shingle (empty after normalisation) has count 0 and the all-``MAX_HASH``
        signature, as an empty datasketch MinHash; such rows all collide in LSH, so callers should
        set them aside by their count.
        """
        return self.signatures_of_normalised([self.normalizer.to_bytes(t) for t in texts])

    def signatures_of_normalised(self, docs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`signatures` of texts already passed through ``normalizer.to_bytes`` (the dedup
        stage normalises once for the exact hash and the signature)."""
        sigs = np.full((len(docs), self.num_perm), MAX_HASH, dtype=np.uint64)
        if not docs:
            return sigs, np.zeros(0, dtype=np.int64)
        # Groups keep the word-level arrays small enough for the caches (see group_bytes).
        parts = [_batch_shingle_hashes(docs[lo:hi], self.ngram, mix=True) for lo, hi in self._groups(docs)]
        hashes = np.concatenate([h for h, _ in parts])
        counts = np.concatenate([c for _, c in parts])
        rows = np.flatnonzero(counts)
        if rows.size:
            sigs[rows] = self._min_permuted(hashes, counts[rows]).T
        return sigs, counts

    def _groups(self, docs: list[bytes]) -> list[tuple[int, int]]:
        """Consecutive document ranges of about ``group_bytes`` (at least one document each)."""
        bounds, lo, size = [], 0, 0
        for i, d in enumerate(docs):
            size += len(d) + 1
            if size >= self.group_bytes:
                bounds.append((lo, i + 1))
                lo, size = i + 1, 0
        if lo < len(docs):
            bounds.append((lo, len(docs)))
        return bounds

    def _min_permuted(self, mixed: np.ndarray, per_doc: np.ndarray) -> np.ndarray:
        """Per-document minimum of every permutation of ``mixed``: ``(num_perm, n_docs)``.

        Chunks of at most ``chunk_shingles`` (cut at document boundaries when possible) keep the
        products in L2; a document longer than a chunk is folded in with ``np.minimum``.
        """
        seg = np.zeros(len(per_doc), dtype=np.int64)
        np.cumsum(per_doc[:-1], out=seg[1:])
        total = len(mixed)
        out = np.full((self.num_perm, len(per_doc)), MAX_HASH, dtype=np.uint64)
        g = self.perm_group
        ab = [(self.a[k : k + g, None], self.b[k : k + g, None]) for k in range(0, self.num_perm, g)]
        tmp = np.empty((g, min(total, self.chunk_shingles)), dtype=np.uint64)
        c0 = 0
        while c0 < total:
            c1 = min(total, c0 + self.chunk_shingles)
            if c1 < total:
                last = seg[np.searchsorted(seg, c1, side="right") - 1]
                c1 = last if last > c0 else c1
            s_lo = int(np.searchsorted(seg, c0, side="right")) - 1
            s_hi = int(np.searchsorted(seg, c1, side="left"))
            local = seg[s_lo:s_hi] - c0
            fresh = local[0] == 0  # the chunk starts a document: write, else fold into it
            local[0] = 0
            self._chunk_min(ab, mixed[c0:c1], local, out[:, s_lo:s_hi], tmp[:, : c1 - c0], fresh)
            c0 = c1
        return out

    @staticmethod
    def _chunk_min(
        ab: list[tuple[np.ndarray, np.ndarray]],
        h: np.ndarray,
        local: np.ndarray,
        out: np.ndarray,
        tmp: np.ndarray,
        fresh: bool,
    ) -> None:
        """out[k, d] (min=) min over document d's shingles in h of a_k * h + b_k.

        Our own loop instead of datasketch's (n, num_perm) broadcast per document: three passes
        (multiply, add, reduceat) per permutation over a chunk of the whole batch, a group of
        permutations per numpy call; ~0.45 ns per shingle and permutation against ~2.7 ns.
        """
        k = 0
        for a, b in ab:
            t = tmp[: len(a)]
            np.multiply(h, a, out=t)
            np.add(t, b, out=t)
            rows = out[k : k + len(a)]
            if fresh:
                np.minimum.reduceat(t, local, axis=1, out=rows)
            else:
                np.minimum(rows, np.minimum.reduceat(t, local, axis=1), out=rows)
            k += len(a)


# --------------------------------------------------------------------------- similarity and LSH


def string_hashes(data: bytes, offsets: np.ndarray) -> np.ndarray:
    """64-bit :func:`word_hash` of each ``data[offsets[i]:offsets[i + 1]]``, vectorised.

    Meant for Arrow string columns (their data buffer and offsets): the dedup stage looks document
    ids up with it, ~40x faster than hashing each id in Python.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    if len(offsets) < 2:
        return np.zeros(0, dtype=np.uint64)
    base = int(offsets[0])
    buf = bytes(data[base : int(offsets[-1])]) + _PAD
    return _word_hashes(buf, offsets[:-1] - base, offsets[1:] - base)


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Fraction of equal signature values (datasketch's estimator), row-wise for 2-D inputs."""
    eq = np.asarray(a) == np.asarray(b)
    return eq.mean(axis=-1)


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One deterministic 64-bit key per band per document: ``(n_docs, bands)`` uint64.

    Band i hashes values ``[i*rows, (i+1)*rows)`` with a chain of fmix64 steps started from a
    band-specific constant, so equal keys in different bands do not mean equal values.
    """
    sig = np.asarray(signatures, dtype=np.uint64)
    if sig.ndim != 2 or bands < 1 or rows < 1 or bands * rows > sig.shape[1]:
        raise ValueError(f"need bands * rows <= num_perm, got {bands} * {rows} for shape {sig.shape}")
    cols = sig[:, : bands * rows].reshape(len(sig), bands, rows)
    keys = np.empty((len(sig), bands), dtype=np.uint64)
    keys[:] = np.array([_splitmix64(2000 + i) for i in range(bands)], dtype=np.uint64)
    for j in range(rows):
        np.bitwise_xor(keys, cols[:, :, j], out=keys)
        fmix64(keys, out=keys)
    return keys


def _gauss_integral(
    func: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, nodes: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Integral of each row of ``func`` over [lo, hi] by Gauss-Legendre quadrature."""
    s = (hi - lo) / 2 * nodes + (hi + lo) / 2
    return (hi - lo) / 2 * (func(s) @ weights)


def optimal_bands_rows(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive + negative areas, as datasketch's LSH.

    Same rule and scan order as ``datasketch.lsh._optimal_param``; the integrands are polynomials
    of degree ``b * r <= num_perm``, so Gauss-Legendre with ``num_perm // 2 + 1`` nodes integrates
    them exactly, vectorised over r; scipy's adaptive ``quad`` per (b, r), as datasketch does,
    took 3.5x longer (2.9 s against 0.83 s for 200 threshold/num_perm pairs up to 256).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=np.float64)[:, None]

        def p_candidate(s: np.ndarray, r: np.ndarray = r, b: int = b) -> np.ndarray:
            return 1.0 - (1.0 - s[None, :] ** r) ** b

        fp = _gauss_integral(p_candidate, 0.0, threshold, nodes, weights)
        fn = _gauss_integral(lambda s, pc=p_candidate: 1.0 - pc(s), threshold, 1.0, nodes, weights)
        err = fp * false_positive_weight + fn * false_negative_weight
        i = int(np.argmin(err))
        if err[i] < best:
            best, opt = float(err[i]), (b, i + 1)
    return opt
