"""Reading a shard's tokens as flat arrays, a record batch at a time (no copy of the shard)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def token_chunks(table: pa.Table) -> Iterator[np.ndarray]:
    """Every token of the table in document order, one flat array per Arrow chunk."""
    for chunk in table.column("tokens").chunks:
        yield chunk.flatten().to_numpy(zero_copy_only=False)


def token_count(table: pa.Table) -> int:
    """Tokens in the table, every document's summed."""
    return int(pc.sum(pc.list_value_length(table.column("tokens"))).as_py() or 0)


def document_lengths(table: pa.Table) -> np.ndarray:
    """Tokens per document (row), int64."""
    return pc.list_value_length(table.column("tokens")).to_numpy(zero_copy_only=False).astype(np.int64)
