"""Megatron-LM / NeMo indexed dataset (`.bin` + `.idx`), written from one shard.

The layout is Megatron-core's `_IndexWriter` (indexed_dataset.py): the `.bin` holds every
token back to back; the `.idx` holds a 9-byte magic, version 1, the dtype code, the sequence
and document counts, then the sequence lengths (int32), the byte offset of each sequence
(int64) and the document indices (int64: 0, then the number of sequences after each document).
One document is one sequence, as Megatron's preprocess_data.py writes with --append-eod.
Written here with numpy, so that the core install needs neither torch nor megatron-core; the
tests read it back with megatron-core's own `IndexedDataset`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pyarrow as pa

from prep.export.tokens import document_lengths, token_chunks

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
#: Megatron-core's DType codes (it has no uint32: a vocabulary over 65,535 is stored as int32).
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def token_dtype(tokens: pa.DataType) -> np.dtype:
    return np.dtype(np.uint16) if tokens == pa.uint16() else np.dtype(np.int32)


def write(table: pa.Table, prefix: Path) -> list[Path]:
    """`prefix.bin` and `prefix.idx` for the documents of `table`; returns both paths."""
    dtype = token_dtype(table.column("tokens").type.value_type)
    lengths = document_lengths(table)
    bin_path, idx_path = prefix.with_suffix(".bin"), prefix.with_suffix(".idx")
    with open(bin_path, "wb") as f:
        for chunk in token_chunks(table):
            f.write(chunk.astype(dtype, copy=False).tobytes())
    pointers = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths) > 1:
        pointers[1:] = np.cumsum(lengths[:-1].astype(np.int64)) * dtype.itemsize
    with open(idx_path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", VERSION))
        f.write(struct.pack("<B", DTYPE_CODES[dtype]))
        f.write(struct.pack("<Q", len(lengths)))  # sequences
        f.write(struct.pack("<Q", len(lengths) + 1))  # document indices
        f.write(lengths.astype(np.int32).tobytes())
        f.write(pointers.tobytes())
        f.write(np.arange(len(lengths) + 1, dtype=np.int64).tobytes())
    return [bin_path, idx_path]
