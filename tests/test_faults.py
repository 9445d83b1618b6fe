"""Faults, for real: a driver killed with SIGKILL mid-pass resumes to the same bytes, and a
Ray worker killed mid-pass is retried without a document counted twice or lost."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pyarrow.dataset as pads
import pytest
import ray
from conftest import mix_config, write_config

from prep.pipeline.config import load_config
from prep.pipeline.runner import run
from prep.pipeline.sources import expand_paths

pytestmark = pytest.mark.slow

#: Stats that describe the machine or the attempt, not the data.
VARYING = {"seconds", "memory_plan", "resumed", "pass", "reused", "build_seconds", "driver"}


def _slice(tmp: Path, tokenizer: Path) -> dict:
    """configs/mix.yaml on one file of each source, outputs under `tmp`, with a given tokenizer:
    HF `tokenizers` BPE training breaks ties between equal pair counts in hash-map order, which
    differs between processes, so a tokenizer trained again after a crash may differ in a few
    merges (a fit that completed before the crash is reused, never retrained)."""
    data = mix_config(tmp)
    for src in data["sources"]:
        src["paths"] = expand_paths(src["paths"])[:1]
    data["mix"]["policy"] = "renormalise"
    data["tokenizer"] = {"path": str(tokenizer)}
    return data


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory, sample_dir) -> Path:
    """A byte-level BPE trained once on the sample's wiki text, shared by every run here."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = []
    for path in expand_paths([str(sample_dir / "wiki" / "*")])[:1]:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f][:300]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>"])
    tok.train_from_iterator(texts, trainer)
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    tok.save(str(path))
    return path


def _without(obj):
    if isinstance(obj, dict):
        return {k: _without(v) for k, v in obj.items() if k not in VARYING}
    if isinstance(obj, list):
        return [_without(v) for v in obj]
    return obj


def _products(out: Path) -> dict:
    """What must not change when a run is interrupted: shard and tokenizer bytes, documents,
    rejections and every count."""
    manifest = json.loads((out / "manifest.json").read_text())
    docs = pads.dataset(str(out / "documents"), format="parquet").to_table(columns=["id", "text"])
    rejected = pads.dataset(str(out / "rejected"), format="parquet").to_table(columns=["id", "stage"])
    return {
        "shards": [(s["path"], s["sha256"]) for s in manifest["shards"]],
        "tokenizer": manifest["tokenizer"]["sha256"],
        "documents": sorted(
            (r["id"], hashlib.sha256(r["text"].encode()).hexdigest()) for r in docs.to_pylist()
        ),
        "rejected": sorted((r["id"], r["stage"]) for r in rejected.to_pylist()),
        "stages": _without(json.loads((out / "stats.json").read_text())["stages"]),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sample_dir, default_lm, ray_session, tokenizer) -> dict:
    """The uninterrupted run of the slice."""
    tmp = tmp_path_factory.mktemp("reference")
    run(load_config(write_config(tmp / "ref.yaml", _slice(tmp, tokenizer))))
    return _products(tmp / "out")


def test_a_driver_killed_mid_pass_resumes_to_the_same_bytes(reference, tokenizer, tmp_path):
    cfg = write_config(tmp_path / "k.yaml", _slice(tmp_path, tokenizer))
    address = ray.get_runtime_context().gcs_address
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cmd = [sys.executable, "-m", "prep", "run", str(cfg), "--address", address]
    driver = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    killed_in = None
    assert driver.stderr is not None
    for line in driver.stderr:  # the third pass (dedup's fit and apply) has begun: kill it there
        if "pass 3/" in line and "computing" in line:
            time.sleep(2)
            driver.send_signal(signal.SIGKILL)
            killed_in = line.strip()
            break
    driver.wait(timeout=600)
    assert killed_in is not None and driver.returncode == -signal.SIGKILL
    assert not (tmp_path / "out").exists()  # nothing half-written where the output goes
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "reusing checkpoint" in resumed.stderr  # it resumed, it did not start over
    assert _products(tmp_path / "out") == reference


def _kill_one_worker(stop: threading.Event, killed: list[str]) -> None:
    """SIGKILL the first Ray worker seen running a pass's stage chain, once."""
    while not stop.is_set() and not killed:
        for p in psutil.process_iter(["pid", "cmdline"]):
            title = (p.info["cmdline"] or [""])[0]
            if title.startswith("ray::") and "StageChain" in title:
                os.kill(p.info["pid"], signal.SIGKILL)
                killed.append(title)
                return
        time.sleep(0.05)


def test_a_worker_killed_mid_pass_is_retried_and_every_document_counted_once(reference, tokenizer, tmp_path):
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_worker, args=(stop, killed), daemon=True)
    killer.start()
    try:
        run(load_config(write_config(tmp_path / "w.yaml", _slice(tmp_path, tokenizer))))
    finally:
        stop.set()
        killer.join()
    assert killed, "no stage worker was seen to kill"
    assert _products(tmp_path / "out") == reference
