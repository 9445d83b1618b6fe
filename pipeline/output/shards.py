"""OUT/shards/, OUT/tokenizer.json and the training part of OUT/manifest.json, written by Ray
workers.

Written from the output of the mix stage's pass: validation documents once, training
documents as many times as the mix drew them (`copies`), each copy with its `epoch`. Every
sample gets an order key, a seeded hash of (id, epoch) (validation: of the id), which is
uniform in [0, 1): cutting that range into P equal parts partitions the samples, and each
part is one Ray Data group, sorted by the key and written to its own files (a new file every
`shard_tokens` tokens) by the worker that holds it. P depends only on the data (one part per
~256 MB of tokens), so the shards are the same on a laptop and on any cluster; with P = 1
they are exactly a global sort cut every `shard_tokens` tokens.

The driver only names things: it renames the parts' files to `train-NNNNN.arrow` in (part,
file) order and assembles the manifest from the workers' per-file metadata (counts per
domain, sha256, a histogram of document lengths), one row per file. The tokens written per
domain are checked against what the mix planned, so a shard set never disagrees with its
manifest. A sample's tokens cross the shuffle once per copy, which is what the shards hold.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import ray

from prep.core.files import sha256_file
from prep.core.hashing import unit_hash
from prep.core.records import live_mask
from prep.core.shards import META_FIELDS, ShardWriter
from prep.pipeline.accounting import AccountingError

#: Columns read from the pass output to build shards (the text stays behind).
SHARD_INPUT = ("tokens", "split", "copies", *(f.name for f in META_FIELDS if f.name != "epoch"))

#: Bytes of tokens per part: what one worker sorts and writes at once.
PART_BYTES = 256 << 20

#: Document-length histogram edges (tokens, log-spaced) reported per domain for the report.
LENGTH_EDGES = np.logspace(0, 6, 49)


def parts_for(tokens: int, token_bytes: int) -> int:
    """How many parts a split of `tokens` tokens is cut into (never fewer than one)."""
    return max(1, math.ceil(tokens * token_bytes / PART_BYTES))


def samples(batch: pa.Table, split: str, seed: int, parts: int) -> pa.Table:
    """Ray Data UDF: the split's samples of a batch (a document drawn k times is k rows,
    epoch 0..k-1), each with its order key and part."""
    batch = batch.filter(pc.and_(live_mask(batch), pc.equal(batch.column("split"), split)))
    batch = batch.drop_columns(["_stage", "split"])
    if split == "train":
        copies = batch.column("copies").to_numpy(zero_copy_only=False).astype(np.int64)
        index = np.repeat(np.arange(batch.num_rows), copies)
        epoch = (np.arange(len(index)) - np.repeat(np.cumsum(copies) - copies, copies)).astype(np.int32)
        rows = batch.take(pa.array(index, pa.int64()))
        keys = [f"{i}#{e}" for i, e in zip(rows.column("id").to_pylist(), epoch.tolist(), strict=True)]
        order = unit_hash(keys, f"shuffle:{seed}")
    else:
        rows = batch
        epoch = np.zeros(rows.num_rows, np.int32)
        order = unit_hash(rows.column("id").to_pylist(), f"val:{seed}")
    rows = rows.drop_columns(["copies"]).append_column("epoch", pa.array(epoch, pa.int32()))
    part = np.minimum((order * parts).astype(np.int64), parts - 1)
    rows = rows.append_column("_order", pa.array(order, pa.float64()))
    return rows.append_column("_part", pa.array(part, pa.int64()))


def write_part(
    group: pa.Table, folder: str, split: str, vocab: int, shard_tokens: int, metadata: bool = False
) -> pa.Table:
    """Ray Data UDF over one part: sort it, write its files, return one metadata row per file."""
    if group.num_rows == 0:
        return pa.table({"meta": pa.array([], pa.string())})
    part = int(group.column("_part")[0].as_py())
    group = group.take(pc.sort_indices(group, sort_keys=[("_order", "ascending")]))
    group = group.drop_columns(["_order", "_part"])
    prefix = f"{split}-part{part:05d}"
    writer = ShardWriter(Path(folder), split, vocab, shard_tokens, prefix=prefix, metadata=metadata)
    writer.write(group)
    infos = writer.close()
    lengths = pc.list_value_length(group.column("tokens")).to_numpy(zero_copy_only=False)
    domains = group.column("domain").to_numpy(zero_copy_only=False)
    rows, start = [], 0
    for i, info in enumerate(infos):
        end = start + info.docs
        per: dict[str, list] = {}
        for d in np.unique(domains[start:end]).tolist():
            n = lengths[start:end][domains[start:end] == d]
            hist = np.histogram(n, bins=LENGTH_EDGES)[0]
            per[d] = [len(n), int(n.sum()), hist.tolist()]
        rows.append(json.dumps({"part": part, "index": i, **info.to_dict(), "domains": per}))
        start = end
    return pa.table({"meta": pa.array(rows, pa.string())})


def _write_split(
    source, out: Path, split: str, seed: int, vocab: int, shard_tokens: int, tokens: int, metadata: bool
):
    """Write one split's files; returns their metadata in final file order."""
    parts = parts_for(tokens, 2 if vocab <= 65535 else 4)
    rows = source.map_batches(
        samples, batch_format="pyarrow", fn_kwargs={"split": split, "seed": seed, "parts": parts}
    )
    metas = (
        rows.groupby("_part", num_partitions=parts)
        .map_groups(
            write_part,
            batch_format="pyarrow",
            fn_kwargs={
                "folder": str(out),
                "split": split,
                "vocab": vocab,
                "shard_tokens": shard_tokens,
                "metadata": metadata,
            },
        )
        .take_all()
    )
    return sorted((json.loads(m["meta"]) for m in metas), key=lambda m: (m["part"], m["index"]))


def write_shards(
    out: Path, data_dir: Path, tokenizer: dict, tokenizer_file: Path, mix: dict, seed: int
) -> dict:
    """Write the shards and the tokenizer; returns the manifest's training part."""
    shutil.rmtree(out / "shards", ignore_errors=True)
    present = set(pads.dataset(str(data_dir), format="parquet").schema.names)
    metadata = bool(mix.get("shard_metadata"))
    wanted = (*SHARD_INPUT, "_stage", *(("metadata",) if metadata else ()))
    columns = [c for c in wanted if c in present]
    source = ray.data.read_parquet(str(data_dir)).select_columns(columns)
    vocab = int(tokenizer["vocab_size"])
    shard_tokens = int(mix["shard_tokens"])
    val_tokens = sum(int(d.get("val_tokens", 0)) for d in mix["domains"].values())
    written: dict[str, dict[str, list[int]]] = {}
    lengths: dict[str, np.ndarray] = {}
    shards = []
    for split, tokens in (("train", int(mix["achieved_tokens"])), ("val", val_tokens)):
        per_domain: dict[str, list[int]] = {}
        files = _write_split(source, out, split, seed, vocab, shard_tokens, tokens, metadata)
        if not files:  # an empty split still has one (empty) file, as before
            files = [_empty_file(out, split, vocab, shard_tokens, metadata)]
        for n, f in enumerate(files):
            final = f"shards/{split}-{n:05d}.arrow"
            (out / f["path"]).rename(out / final)
            shards.append({"path": final, **{k: f[k] for k in ("split", "docs", "tokens", "sha256")}})
            for d, (docs, toks, hist) in f.get("domains", {}).items():
                slot = per_domain.setdefault(d, [0, 0])
                slot[0] += docs
                slot[1] += toks
                if split == "train":
                    lengths[d] = lengths.get(d, 0) + np.array(hist, dtype=np.int64)
        written[split] = per_domain
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
        "length_histogram": {
            "edges": LENGTH_EDGES.tolist(),
            "train": {d: h.tolist() for d, h in sorted(lengths.items())},
        },
    }


def _empty_file(out: Path, split: str, vocab: int, shard_tokens: int, metadata: bool) -> dict:
    writer = ShardWriter(out, split, vocab, shard_tokens, prefix=f"{split}-empty", metadata=metadata)
    info = writer.close()[0]
    return {**info.to_dict(), "domains": {}}


def _check_against_plan(written: dict[str, dict[str, list[int]]], plan: dict[str, dict]) -> None:
    for domain, p in plan.items():
        train = written["train"].get(domain, [0, 0])[1]
        val = written["val"].get(domain, [0, 0])[0]
        if train != p["achieved_tokens"] or val != p["val_docs"]:
            raise AccountingError(
                f"shards for domain {domain}: {train:,} training tokens and {val} validation documents "
                f"written, but the mix planned {p['achieved_tokens']:,} and {p['val_docs']}"
            )
