"""64-bit hashes of words and word n-gram shingles, one at a time or a whole batch at once.

The batch kernels hash words in numpy straight from the UTF-8 bytes of a group of documents
(8-byte limbs read through an unaligned uint64 view), and a shingle's hash is a linear
combination of its words' hashes, so no Python object is made per word or per shingle: ~25 ns
per word, where `str.split` + `xxhash.xxh3_64_intdigest` per word cost ~150 ns
(bench/bench_minhash.py). `word_hash` and `shingle_hash` are the scalar twins: what datasketch
is given as `hashfunc` to reproduce prep's signatures. Constants are fixed, never a salted
`hash`, so hashes agree across processes and machines.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

_M64 = (1 << 64) - 1
_U64 = np.uint64
#: Signature value of a permutation that saw no shingle (datasketch's empty value for affine64).
MAX_HASH = _U64(_M64)

# MurmurHash3 64-bit finalizer: the pre-mix datasketch applies to every input hash (affine64).
_FMIX_S = _U64(33)
_FMIX_M1 = 0xFF51AFD7ED558CCD
_FMIX_M2 = 0xC4CEB9FE1A85EC53


def splitmix64(x: int) -> int:
    """Fixed pseudo-random 64-bit constants for our own hashing, reproducible anywhere."""
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


# Word hash: limbs (8 bytes, little-endian, zero-padded) combined as sum(l_i * LIMB_MUL**i),
# plus the byte length times LEN_MUL, then multiply-xorshift-multiply. N-gram hash:
# sum(word_j * NGRAM_MUL_j), all mod 2**64.
_LIMB_MUL = splitmix64(1) | 1
_LEN_MUL = splitmix64(2) | 1
_MIX_M1 = splitmix64(3) | 1
_MIX_M2 = splitmix64(4) | 1


def _ngram_mul(j: int) -> int:
    return splitmix64(1000 + j) | 1


_NGRAM_MULS = [_ngram_mul(j) for j in range(64)]


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


def batch_shingle_hashes(docs: Sequence[bytes], n: int, mix: bool = False) -> tuple[np.ndarray, np.ndarray]:
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
