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
normalisation (`normalise.py`) and word and shingle hashing (`hashes.py`) work on a whole
batch in numpy; then
- all shingle hashes of a batch are permuted together, a few permutations per numpy call over a
  chunk of the batch, and reduced per document with ``np.minimum.reduceat``: ~0.45 ns per
  shingle and permutation, datasketch's per-document broadcast ~2.7 ns.

Shingle hashes are deterministic across processes and machines (no salted ``hash``); the words
themselves depend on ``unicodedata`` (NFKC, categories), i.e. on the Python minor version for
characters added to Unicode in between.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prep.stages.dedup.hashes import MAX_HASH, batch_shingle_hashes, shingle_hash
from prep.stages.dedup.normalise import Normalizer


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of datasketch's affine64 scheme: a odd in [1, 2**64), b in [0, 2**64)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = gen.randint(0, 1 << 64, num_perm, dtype=np.uint64)
    return a, b


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
        return batch_shingle_hashes([self.normalizer.to_bytes(text)], self.ngram)[0]

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
        parts = [batch_shingle_hashes(docs[lo:hi], self.ngram, mix=True) for lo, hi in self._groups(docs)]
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
