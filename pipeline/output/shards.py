"""OUT/shards/, OUT/tokenizer.json and the training part of OUT/manifest.json.

Written from the output of the mix stage's pass: validation documents once, training
documents as many times as the mix drew them (`copies`), each copy with its `epoch`.
Training samples are put in a seeded order by a hash of (id, epoch) and a Ray Data sort,
so documents are shuffled across shards the same way whatever the cluster; files are
cut every `shard_tokens` tokens. The tokens written per domain are checked against what
the mix planned, so a shard set never disagrees with its manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import ray

from prep.core.files import sha256_file
from prep.core.hashing import unit_hash
from prep.core.shards import META_FIELDS, ShardWriter
from prep.pipeline.accounting import AccountingError
from prep.pipeline.raysession import cluster_cpus

#: Columns read from the pass output to build shards (the text stays behind).
SHARD_INPUT = ("tokens", "split", "copies", *(f.name for f in META_FIELDS if f.name != "epoch"))


def _expand(batch: pa.Table, seed: int) -> pa.Table:
    """One row per training sample (a document drawn k times becomes k rows, epoch 0..k-1),
    with the key that orders samples across shards."""
    copies = batch.column("copies").to_numpy(zero_copy_only=False).astype(np.int64)
    index = np.repeat(np.arange(batch.num_rows), copies)
    epoch = (
        np.concatenate([np.arange(c, dtype=np.int32) for c in copies])
        if len(copies)
        else np.zeros(0, np.int32)
    )
    rows = batch.take(pa.array(index, pa.int64())).drop_columns(["copies", "split"])
    rows = rows.append_column("epoch", pa.array(epoch, pa.int32()))
    keys = [f"{doc_id}#{e}" for doc_id, e in zip(rows.column("id").to_pylist(), epoch.tolist(), strict=True)]
    return rows.append_column("_order", pa.array(unit_hash(keys, f"shuffle:{seed}"), pa.float64()))


def _live(batch: pa.Table, split: str) -> pa.Table:
    mask = pc.and_(pc.is_null(batch.column("_stage")), pc.equal(batch.column("split"), split))
    return batch.filter(mask).drop_columns(["_stage"])


def _write_split(ds: ray.data.Dataset, writer: ShardWriter) -> dict[str, list[int]]:
    """Write a sorted dataset through the writer; [docs, tokens] per domain as written."""
    per_domain: dict[str, list[int]] = {}
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=4096):
        table = batch.drop_columns([c for c in ("_order",) if c in batch.column_names])
        writer.write(table)
        lengths = pc.list_value_length(table.column("tokens")).to_numpy(zero_copy_only=False)
        for domain, n in zip(table.column("domain").to_pylist(), lengths, strict=True):
            slot = per_domain.setdefault(domain, [0, 0])
            slot[0] += 1
            slot[1] += int(n)
    return per_domain


#: Bytes of pass output per sort partition.
PARTITION_BYTES = 256 << 20


def _boundaries(data_dir: Path) -> list[float]:
    """Sort partitions cut at fixed points of the uniform `_order` key: no sampling pass, and
    as many partitions as the data needs (Ray's default, 200 when it cannot count the input
    blocks, cost ~5 s of task overhead per split on the sample)."""
    size = sum(f.stat().st_size for f in data_dir.glob("*.parquet"))
    n = max(cluster_cpus(), -(-size // PARTITION_BYTES))
    return [i / n for i in range(1, n)]


def write_shards(
    out: Path, data_dir: Path, tokenizer: dict, tokenizer_file: Path, mix: dict, seed: int
) -> dict:
    """Write the shards and the tokenizer; returns the manifest's training part."""
    shutil.rmtree(out / "shards", ignore_errors=True)
    present = set(pads.dataset(str(data_dir), format="parquet").schema.names)
    columns = [c for c in (*SHARD_INPUT, "_stage") if c in present]
    source = ray.data.read_parquet(str(data_dir)).select_columns(columns)
    vocab = int(tokenizer["vocab_size"])
    shard_tokens = int(mix["shard_tokens"])

    boundaries = _boundaries(data_dir)
    train = source.map_batches(lambda b: _expand(_live(b, "train"), seed), batch_format="pyarrow")
    train_writer = ShardWriter(out, "train", vocab, shard_tokens)
    written = {"train": _write_split(train.sort("_order", boundaries=boundaries), train_writer)}

    def val_order(b: pa.Table) -> pa.Table:
        rows = _live(b, "val").drop_columns(["copies"])
        rows = rows.append_column("epoch", pa.array(np.zeros(rows.num_rows, np.int32)))
        return rows.append_column("_order", pa.array(unit_hash(rows.column("id").to_pylist(), f"val:{seed}")))

    val_writer = ShardWriter(out, "val", vocab, shard_tokens)
    written["val"] = _write_split(
        source.map_batches(val_order, batch_format="pyarrow").sort("_order", boundaries=boundaries),
        val_writer,
    )
    shards = [s.to_dict() for s in train_writer.close() + val_writer.close()]
    _check_against_plan(written, mix["domains"])

    shutil.copyfile(tokenizer_file, out / "tokenizer.json")
    return {
        "tokenizer": {
            "path": "tokenizer.json",
            "sha256": sha256_file(out / "tokenizer.json"),
            **{k: tokenizer[k] for k in ("vocab_size", "eot_id", "pad_id")},
            "token_type": "uint16" if vocab <= 65535 else "uint32",
        },
        "shards": shards,
        "splits": {
            split: {
                "docs": sum(v[0] for v in per.values()),
                "tokens": sum(v[1] for v in per.values()),
                "domains": {d: {"docs": v[0], "tokens": v[1]} for d, v in sorted(per.items())},
            }
            for split, per in written.items()
        },
    }


def _check_against_plan(written: dict[str, dict[str, list[int]]], plan: dict[str, dict]) -> None:
    for domain, p in plan.items():
        train = written["train"].get(domain, [0, 0])[1]
        val = written["val"].get(domain, [0, 0])[0]
        if train != p["achieved_tokens"] or val != p["val_docs"]:
            raise AccountingError(
                f"shards for domain {domain}: {train:,} training tokens and {val} validation documents "
                f"written, but the mix planned {p['achieved_tokens']:,} and {p['val_docs']}"
            )
