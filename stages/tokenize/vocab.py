"""Loading a tokenizer.json, finding its special tokens, and encoding into Arrow lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

#: End-of-text tokens of common tokenizer families, in the order they are looked for.
EOT_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>")
PAD_CANDIDATES = ("<|pad|>", "<pad>", "[PAD]")


def load(path: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def describe(tokenizer) -> dict:
    """Vocabulary size and the ids of the end-of-text and padding tokens (None if absent)."""
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    eot = next((vocab[t] for t in EOT_CANDIDATES if t in vocab), None)
    pad = next((vocab[t] for t in PAD_CANDIDATES if t in vocab), None)
    size = max(tokenizer.get_vocab_size(with_added_tokens=True), max(vocab.values()) + 1)
    return {"vocab_size": int(size), "eot_id": eot, "pad_id": pad}


def encode(tokenizer, texts: list[str | None], eot: int) -> pa.ListArray:
    """Token ids of each text followed by the end-of-text token, as list<uint32>.

    The Arrow list is built from one flat numpy array and the offsets (no per-token
    Python objects after the tokenizer returns); `encode_batch_fast` skips the offsets
    and alignments prep does not use.
    """
    fast = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    encodings = fast([t or "" for t in texts], add_special_tokens=False)
    lengths = np.fromiter((len(e.ids) + 1 for e in encodings), dtype=np.int64, count=len(encodings))
    offsets = np.zeros(len(encodings) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.empty(int(offsets[-1]), dtype=np.uint32)
    for i, e in enumerate(encodings):
        start, end = offsets[i], offsets[i + 1] - 1
        flat[start:end] = e.ids
        flat[end] = eot
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.uint32()))
