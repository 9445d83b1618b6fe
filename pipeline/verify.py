"""`prep verify OUT`: re-read every shard and check it against the manifest, on Ray.

Checksums, document and token counts per shard, per split and per domain, the token type,
the end-of-text token closing every document, and that no document id is in both the
training and the validation shards. Each shard is checked by a Ray task of its own; the ids
are hash-partitioned across workers for the disjointness check, so the verifying process
holds one small row per shard and per id bucket, never the ids.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from prep.core.files import read_json, sha256_file
from prep.core.hashing import unit_hash
from prep.core.shards import read_shard
from prep.pipeline.raysession import ray_session

#: Ids per bucket of the disjointness check (a bucket is sorted in one worker).
IDS_PER_BUCKET = 2_000_000


def check_shard(row: dict, eot: int, token_type: str) -> dict:
    """Ray Data UDF: one shard's problems and counts per domain."""
    path, problems = Path(row["file"]), []
    out = {"path": row["path"], "split": row["split"], "domains": "{}", "problems": "[]"}
    if not path.is_file():
        return {**out, "problems": json.dumps([f"{row['path']}: missing"])}
    if sha256_file(path) != row["sha256"]:
        return {**out, "problems": json.dumps([f"{row['path']}: sha256 differs from the manifest"])}
    table = read_shard(path)
    tokens = table.column("tokens")
    if str(tokens.type.value_type) != token_type:
        problems.append(f"{row['path']}: tokens are {tokens.type.value_type}, the manifest says {token_type}")
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
    if table.num_rows != row["docs"] or int(lengths.sum()) != row["tokens"]:
        problems.append(
            f"{row['path']}: {table.num_rows} docs / {int(lengths.sum())} tokens, "
            f"the manifest says {row['docs']} / {row['tokens']}"
        )
    if not _ends_with_eot(tokens, lengths, eot):
        problems.append(f"{row['path']}: a document does not end with the end-of-text token")
    domains = table.column("domain").to_numpy(zero_copy_only=False)
    per = {
        d: [int((domains == d).sum()), int(lengths[domains == d].sum())] for d in np.unique(domains).tolist()
    }
    return {**out, "domains": json.dumps(per), "problems": json.dumps(problems)}


def shard_ids(batch: pa.Table, buckets: int) -> pa.Table:
    """Ray Data UDF over shard rows: every document id of those shards, with its split and bucket."""
    parts = []
    for path, split in zip(batch.column("file").to_pylist(), batch.column("split").to_pylist(), strict=True):
        if not Path(path).is_file():
            continue
        ids = read_shard(Path(path)).column("id")
        bucket = np.minimum((unit_hash(ids.to_pylist(), "verify") * buckets).astype(np.int64), buckets - 1)
        parts.append(
            pa.table({"id": ids, "split": pa.array([split] * len(ids), pa.string()), "_bucket": bucket})
        )
    if not parts:
        empty = {"id": pa.array([], pa.string()), "split": pa.array([], pa.string())}
        return pa.table({**empty, "_bucket": pa.array([], pa.int64())})
    return pa.concat_tables(parts)


def check_bucket(group: pa.Table) -> pa.Table:
    """Ray Data UDF over one bucket: distinct ids per split, and ids in both (a few examples)."""
    train = set(group.filter(pc.equal(group.column("split"), "train")).column("id").to_pylist())
    val = set(group.filter(pc.equal(group.column("split"), "val")).column("id").to_pylist())
    both = sorted(train & val)
    row = {"train": len(train), "val": len(val), "both": len(both), "examples": both[:3]}
    return pa.table({"result": [json.dumps(row)]})


def verify(out: Path, address: str | None = None) -> tuple[list[str], dict]:
    """Problems found (empty when the output is sound) and what was counted."""
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        return [f"{manifest_path}: not found (is {out} the output of a prep run?)"], {}
    manifest = read_json(manifest_path)
    if "shards" not in manifest:
        return [f"{manifest_path}: the run wrote no shards (no tokenizer:/mix: sections)"], {}
    problems: list[str] = []
    tok = manifest["tokenizer"]
    tok_path = out / tok["path"]
    if not tok_path.is_file() or sha256_file(tok_path) != tok["sha256"]:
        problems.append(f"{tok_path}: missing or its sha256 differs from the manifest")
    rows = [{**s, "file": str(out / s["path"])} for s in manifest["shards"]]
    docs = sum(s["docs"] for s in rows)
    buckets = max(1, math.ceil(docs / IDS_PER_BUCKET))
    with ray_session(address):
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        shards = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
        checked = shards.map(check_shard, fn_kwargs={"eot": tok["eot_id"], "token_type": tok["token_type"]})
        results = checked.take_all()
        ids = shards.map_batches(shard_ids, batch_format="pyarrow", fn_kwargs={"buckets": buckets})
        per_bucket = (
            ids.groupby("_bucket", num_partitions=buckets)
            .map_groups(check_bucket, batch_format="pyarrow")
            .take_all()
        )
    counted: dict[str, dict[str, list[int]]] = {"train": {}, "val": {}}
    for r in sorted(results, key=lambda r: r["path"]):
        problems += json.loads(r["problems"])
        for domain, (n, t) in json.loads(r["domains"]).items():
            slot = counted[r["split"]].setdefault(domain, [0, 0])
            slot[0] += n
            slot[1] += t
    distinct = {"train": 0, "val": 0}
    both, examples = 0, []
    for b in (json.loads(r["result"]) for r in per_bucket):
        distinct["train"] += b["train"]
        distinct["val"] += b["val"]
        both += b["both"]
        examples += b["examples"]
    if both:
        problems.append(f"{both} document ids are in both train and val shards, e.g. {sorted(examples)[:3]}")
    for split, per in counted.items():
        expected = manifest["splits"][split]["domains"]
        for domain in sorted(set(per) | set(expected)):
            got = per.get(domain, [0, 0])
            want = expected.get(domain, {"docs": 0, "tokens": 0})
            if got != [want["docs"], want["tokens"]]:
                problems.append(
                    f"{split} {domain}: shards hold {got[0]} docs / {got[1]} tokens, manifest {want}"
                )
    summary = {
        "shards": len(manifest["shards"]),
        "train": {"docs": distinct["train"], "tokens": sum(v[1] for v in counted["train"].values())},
        "val": {"docs": distinct["val"], "tokens": sum(v[1] for v in counted["val"].values())},
    }
    return problems, summary


def _ends_with_eot(tokens, lengths: np.ndarray, eot: int) -> bool:
    if len(lengths) == 0:
        return True
    if (lengths == 0).any():
        return False
    flat = pc.list_flatten(tokens).to_numpy(zero_copy_only=False)
    ends = np.cumsum(lengths) - 1
    return bool((flat[ends] == eot).all())
