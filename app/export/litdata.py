"""LitData / LitGPT token datasets, written from one shard: `{split}/chunk-{i}-{k}.bin`.

LitGPT pre-trains from LitData folders read with `StreamingDataset(DIR/train,
item_loader=TokensLoader(block_size=seq_len + 1))`; that loader reads each chunk as one flat
token array, so the items are token arrays (whole documents, end-of-text last, the shard's
integer type) written with `TokensLoader` as the writer's item loader, as LitGPT's own
`optimize` scripts do. Shard i of a split is writer rank i: its chunks are `chunk-{i}-{k}.bin`
and its chunk list `{i}.index.json`; `finish` merges the lists of a split into the
`index.json` the reader opens, in shard order (one entry per chunk, a few hundred bytes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Bytes of tokens per chunk file (LitData's unit of download and caching).
CHUNK_BYTES = 64 << 20
#: Tokens per item handed to the writer: runs of whole documents. TokensLoader reads a chunk
#: as one flat array, so items only set the writer's pace: one item per document cost ~35 µs
#: each (9.7 MB/s on the 1M run's shard); runs of documents write at the disk's pace.
ITEM_TOKENS = 1 << 20
INDEX = "index.json"
#: Where LitData's writer reads its rank (set per shard, as LitData's own optimize workers do).
RANK_VARIABLE = "DATA_OPTIMIZER_GLOBAL_RANK"


@contextmanager
def _writer(folder: Path, rank: int) -> Iterator:
    """LitData's writer as `rank`, which it reads from the environment (restored after: the
    variable also tells LitData's readers in this process which rank they are)."""
    from litdata.streaming.item_loader import TokensLoader  # the litdata extra (checked by the job)
    from litdata.streaming.writer import BinaryWriter

    before = os.environ.get(RANK_VARIABLE)
    os.environ[RANK_VARIABLE] = str(rank)
    try:
        writer = BinaryWriter(str(folder), chunk_bytes=CHUNK_BYTES, item_loader=TokensLoader())
        yield writer
        writer.done()
    finally:
        if before is None:
            os.environ.pop(RANK_VARIABLE, None)
        else:
            os.environ[RANK_VARIABLE] = before


def _items(table: pa.Table) -> Iterator[np.ndarray]:
    """Runs of whole documents of at most ITEM_TOKENS tokens (a longer document alone)."""
    for chunk in table.column("tokens").chunks:
        values = chunk.flatten().to_numpy(zero_copy_only=False)
        ends = np.cumsum(pc.list_value_length(chunk).to_numpy(zero_copy_only=False))
        doc, start = 0, 0
        while doc < len(ends):
            last = max(doc, int(np.searchsorted(ends, start + ITEM_TOKENS, side="right")) - 1)
            yield values[start : ends[last]]
            doc, start = last + 1, int(ends[last])


def write(table: pa.Table, prefix: Path) -> list[Path]:
    """The shard's chunks in `prefix.parent`, as writer rank `int(prefix.name)`."""
    folder, rank = prefix.parent, int(prefix.name)
    index = 0
    with _writer(folder, rank) as writer:
        for item in _items(table):
            writer[index] = item
            index += 1
    if not index:
        return []
    written = json.loads((folder / f"{rank}.{INDEX}").read_text())
    return [folder / c["filename"] for c in written["chunks"]]


def finish(building: Path, split_dirs: list[str]) -> list[Path]:
    """Each split's `index.json` from its shards' chunk lists (rank order); returns their paths."""
    out = []
    for name in split_dirs:
        folder = building / name
        ranks = sorted(folder.glob(f"*.{INDEX}"), key=lambda p: int(p.name.split(".")[0]))
        chunks, config = [], None
        for path in ranks:
            data = json.loads(path.read_text())
            if config is not None and data["config"] != config:
                raise ValueError(f"{path}: chunk config differs from the split's first shard")
            config = data["config"]
            chunks += data["chunks"]
            path.unlink()
        if config is None:  # a split whose shards hold no document: no LitData folder
            continue
        target = folder / INDEX
        target.write_text(json.dumps({"chunks": chunks, "config": config}, sort_keys=True))
        out.append(target)
    return out
