"""`prep verify OUT`: re-read every shard and check it against the manifest.

Checksums, document and token counts per shard, per split and per domain, the token
type, the end-of-text token closing every document, and that no document id is in
both the training and the validation shards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from prep.core.files import read_json, sha256_file
from prep.core.shards import read_shard


def verify(out: Path) -> tuple[list[str], dict]:
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
    want_type = tok["token_type"]
    ids: dict[str, set[str]] = {"train": set(), "val": set()}
    counted: dict[str, dict[str, list[int]]] = {"train": {}, "val": {}}
    for shard in manifest["shards"]:
        path = out / shard["path"]
        if not path.is_file():
            problems.append(f"{shard['path']}: missing")
            continue
        if sha256_file(path) != shard["sha256"]:
            problems.append(f"{shard['path']}: sha256 differs from the manifest")
            continue
        table = read_shard(path)
        tokens = table.column("tokens")
        if str(tokens.type.value_type) != want_type:
            problems.append(
                f"{shard['path']}: tokens are {tokens.type.value_type}, the manifest says {want_type}"
            )
        lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
        if table.num_rows != shard["docs"] or int(lengths.sum()) != shard["tokens"]:
            problems.append(
                f"{shard['path']}: {table.num_rows} docs / {int(lengths.sum())} tokens, "
                f"the manifest says {shard['docs']} / {shard['tokens']}"
            )
        if not _ends_with_eot(tokens, lengths, tok["eot_id"]):
            problems.append(f"{shard['path']}: a document does not end with the end-of-text token")
        ids[shard["split"]].update(table.column("id").to_pylist())
        per = counted[shard["split"]]
        for domain, n in zip(table.column("domain").to_pylist(), lengths, strict=True):
            slot = per.setdefault(domain, [0, 0])
            slot[0] += 1
            slot[1] += int(n)
    both = ids["train"] & ids["val"]
    if both:
        problems.append(f"{len(both)} document ids are in both train and val shards, e.g. {sorted(both)[:3]}")
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
        "train": {"docs": len(ids["train"]), "tokens": sum(v[1] for v in counted["train"].values())},
        "val": {"docs": len(ids["val"]), "tokens": sum(v[1] for v in counted["val"].values())},
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
