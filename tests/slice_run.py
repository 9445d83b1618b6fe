"""One file of each sample source through configs/mix.yaml: the run the cluster and fault tests
repeat under a fault or on another Ray, and what of its output must come out the same."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pyarrow.dataset as pads
from conftest import mix_config

from prep.pipeline.sources import expand_paths

#: Stats that describe the machine or the attempt, not the data.
VARYING = {"seconds", "memory_plan", "resumed", "pass", "reused", "build_seconds", "driver"}


def slice_config(tmp: Path, tokenizer: Path) -> dict:
    """configs/mix.yaml on one file of each source, outputs under `tmp`, with a given tokenizer:
    HF `tokenizers` BPE training breaks ties between equal pair counts in hash-map order, which
    differs between processes, so a tokenizer trained in another process (after a crash, on
    another node) may differ in a few merges."""
    data = mix_config(tmp)
    for src in data["sources"]:
        src["paths"] = expand_paths(src["paths"])[:1]
    data["mix"]["policy"] = "renormalise"  # a slice has too little web and books for the 2M budget
    data["tokenizer"] = {"path": str(tokenizer)}
    return data


def train_tokenizer(sample_dir: Path, folder: Path) -> Path:
    """A byte-level BPE trained on 300 of the sample's wiki articles: `folder/tokenizer.json`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    path = expand_paths([str(sample_dir / "wiki" / "*")])[0]
    with gzip.open(path, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f][:300]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>"]))
    tok.save(str(folder / "tokenizer.json"))
    return folder / "tokenizer.json"


def _without(obj):
    if isinstance(obj, dict):
        return {k: _without(v) for k, v in obj.items() if k not in VARYING}
    if isinstance(obj, list):
        return [_without(v) for v in obj]
    return obj


def products(out: Path) -> dict:
    """What a run produced, independent of file names and row order: shard and tokenizer bytes,
    documents, rejections and every count."""
    manifest = json.loads((out / "manifest.json").read_text())
    docs = pads.dataset(str(out / "documents"), format="parquet").to_table(columns=["id", "text", "lang"])
    rejected = pads.dataset(str(out / "rejected"), format="parquet").to_table(columns=["id", "stage", "rule"])
    return {
        "shards": [(s["path"], s["sha256"]) for s in manifest["shards"]],
        "tokenizer": manifest["tokenizer"]["sha256"],
        "documents": sorted(
            (r["id"], hashlib.sha256(r["text"].encode()).hexdigest(), r["lang"]) for r in docs.to_pylist()
        ),
        "rejected": sorted((r["id"], r["stage"], r["rule"]) for r in rejected.to_pylist()),
        "stages": _without(json.loads((out / "stats.json").read_text())["stages"]),
    }


def _under(process: psutil.Process, marker: str) -> bool:
    """Whether a parent of `process` (its raylet) was started with `marker` in its command line."""
    try:
        return any(marker in " ".join(p.cmdline()) for p in process.parents())
    except psutil.Error:
        return False


def kill_one_worker(stop: threading.Event, killed: list[str], under: str) -> None:
    """SIGKILL the first Ray worker seen running a pass's stage chain whose raylet's command
    line holds `under` (a cluster's temp dir: never a worker of another Ray), once."""
    while not stop.is_set() and not killed:
        for p in psutil.process_iter(["pid", "cmdline"]):
            title = (p.info["cmdline"] or [""])[0]
            if title.startswith("ray::") and "StageChain" in title and _under(p, under):
                os.kill(p.info["pid"], signal.SIGKILL)
                killed.append(title)
                return
        time.sleep(0.05)
