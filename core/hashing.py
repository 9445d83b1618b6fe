"""Per-document random numbers that depend only on the document id and a salt.

Sampling decisions (which documents train the tokenizer, which are validation, which
are drawn for the mixture) are made with these, so they do not change with the number
of Ray workers or the order of blocks, and a re-run makes the same choices.
"""

from __future__ import annotations

import hashlib

import numpy as np


def unit_hash(ids: list[str], salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per id, fixed by the salt (blake2b, not Python's salted hash)."""
    out = np.empty(len(ids), dtype=np.float64)
    prefix = salt.encode() + b"\x00"
    for i, doc_id in enumerate(ids):
        digest = hashlib.blake2b(prefix + doc_id.encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little") / 2**64
    return out
