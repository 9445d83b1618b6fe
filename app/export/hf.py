"""A Hugging Face `datasets` folder, written from one shard: `data/{split}-NNNNN-of-MMMMM.parquet`.

The file names follow the Hub's convention, so `datasets.load_dataset(DIR)` finds the `train`
and `validation` splits by itself. Columns: `input_ids` (the document's tokens, end-of-text
last, in the shard's integer type) and the shard's provenance columns as they are.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: prep's split names -> the Hub's.
SPLITS = {"train": "train", "val": "validation"}


def write(table: pa.Table, prefix: Path) -> list[Path]:
    """`prefix.parquet`; returns its path."""
    names = ["input_ids" if n == "tokens" else n for n in table.column_names]
    path = prefix.with_suffix(".parquet")
    # dictionaries only where values repeat: on the token lists they cost time and bytes (sample
    # shards: 92 MB/s and 3.2 MB without, 78 MB/s and 3.6 MB with, one core)
    repeats = [n for n in ("domain", "lang", "source", "ppl_bucket") if n in names]
    pq.write_table(
        table.rename_columns(names), path, compression="zstd", row_group_size=8192, use_dictionary=repeats
    )
    return [path]
