"""The streaming half of dedup: per document, an exact hash and a MinHash signature.

Both are computed on normalised text in one pass over a batch; when exact and fuzzy share a
normalisation the text is normalised once. The columns only feed the fit and never reach the
output (`temporary_columns`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from prep.stages.dedup.minhash import MinHasher
from prep.stages.dedup.normalise import Normalizer

EXACT = "_dedup_exact"  # 16 bytes: blake2b-128 of the normalised text
SIGNATURE = "_dedup_sig"  # num_perm little-endian uint64 values (null when fuzzy is off)
SHINGLES = "_dedup_shingles"  # number of shingles (0: nothing left after normalisation)
BYTES = "_dedup_bytes"  # UTF-8 length of the text (the `longest` keep policy)

FIELDS = (
    pa.field(EXACT, pa.binary()),
    pa.field(SIGNATURE, pa.binary()),
    pa.field(SHINGLES, pa.int32()),
    pa.field(BYTES, pa.int64()),
)


def exact_hash(normalised: bytes, raw: str) -> bytes:
    """128 bits, so that a billion documents collide with odds ~1e-21, not ~3% as with 64.

    Words are re-joined by single spaces. A text with nothing left after normalisation (only
    punctuation, say) is hashed raw: "!!!" and "???" are not duplicates of each other.
    """
    data = b" ".join(normalised.split()) or b"\x00raw\x00" + raw.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


@dataclass
class Signer:
    exact_normalizer: Normalizer
    hasher: MinHasher | None  # None: fuzzy dedup off

    def sign(self, batch: pa.Table) -> tuple[pa.Table, dict]:
        texts = [t or "" for t in batch.column("text").to_pylist()]
        fuzzy_norm = self.hasher.normalizer if self.hasher else None
        exact_docs = [self.exact_normalizer.to_bytes(t) for t in texts]
        exact = [exact_hash(d, t) for d, t in zip(exact_docs, texts, strict=True)]
        n = len(texts)
        if self.hasher is not None:
            docs = (
                exact_docs if fuzzy_norm == self.exact_normalizer else [fuzzy_norm.to_bytes(t) for t in texts]
            )
            sigs, counts = self.hasher.signatures_of_normalised(docs)
            width = sigs.shape[1] * 8
            offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
            sig_col = pa.BinaryArray.from_buffers(
                pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(sigs.astype("<u8").tobytes())]
            )
            words = np.array([len(d.split()) for d in docs], dtype=np.int64)
        else:
            sig_col = pa.nulls(n, pa.binary())
            counts = np.zeros(n, dtype=np.int64)
            words = np.zeros(n, dtype=np.int64)
        lengths = [len(t.encode("utf-8", "surrogatepass")) for t in texts]
        table = batch
        for f, values in zip(
            FIELDS,
            (
                pa.array(exact, pa.binary()),
                sig_col,
                pa.array(counts, pa.int32()),
                pa.array(lengths, pa.int64()),
            ),
            strict=True,
        ):
            table = table.append_column(f, values)
        return table, self._metrics(batch, counts, words)

    def _metrics(self, batch: pa.Table, counts: np.ndarray, words: np.ndarray) -> dict:
        domains = batch.column("domain").to_pylist()
        signed: Counter = Counter(domains)
        metrics: dict = {"signed": dict(signed)}
        if self.hasher is not None:
            ngram = self.hasher.ngram
            short = Counter(d for d, w in zip(domains, words, strict=True) if 0 < w < ngram)
            empty = Counter(d for d, c in zip(domains, counts, strict=True) if c == 0)
            metrics["shorter_than_shingle"] = dict(short)
            metrics["no_shingles"] = dict(empty)
        return metrics
