"""llm.c / nanoGPT token files, written from one shard.

llm.c's layout (dev/data/data_common.py `write_datafile`): a header of 256 int32 (magic,
version, number of tokens, zeros), then the tokens. GPT-2-sized vocabularies (<= 65,535) are
uint16 with magic 20240520 / version 1; larger ones uint32 with magic 20240801 / version 7,
as llm.c writes for LLaMA 3. Every document ends with the end-of-text token, as nanoGPT's
prepare.py appends it, so boundaries are where that token is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from prep.export.tokens import token_chunks, token_count

HEADER_INTS = 256
#: token dtype -> (magic, version), as llm.c names its two layouts.
LAYOUTS = {np.dtype(np.uint16): (20240520, 1), np.dtype(np.uint32): (20240801, 7)}


def write(table: pa.Table, prefix: Path) -> list[Path]:
    """`prefix.bin`; returns its path."""
    dtype = (
        np.dtype(np.uint16) if table.column("tokens").type.value_type == pa.uint16() else np.dtype(np.uint32)
    )
    n_tokens = token_count(table)
    if n_tokens >= 2**31:
        raise ValueError(f"{prefix}: {n_tokens:,} tokens do not fit llm.c's int32 token count")
    header = np.zeros(HEADER_INTS, dtype=np.int32)
    header[0], header[1] = LAYOUTS[dtype]
    header[2] = n_tokens
    path = prefix.with_suffix(".bin")
    with open(path, "wb") as f:
        f.write(header.tobytes())
        for chunk in token_chunks(table):
            f.write(chunk.astype(dtype, copy=False).tobytes())
    return [path]
