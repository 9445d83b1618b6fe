"""Faults, for real: a driver killed with SIGKILL mid-pass resumes to the same bytes, and a
Ray worker killed mid-pass is retried without a document counted twice or lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import ray
from conftest import write_config
from slice_run import products, slice_config

from prep.pipeline.config import load_config
from prep.pipeline.runner import run

pytestmark = pytest.mark.slow


def test_a_driver_killed_mid_pass_resumes_to_the_same_bytes(slice_reference, slice_tokenizer, tmp_path):
    cfg = write_config(tmp_path / "k.yaml", slice_config(tmp_path, slice_tokenizer))
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
    assert products(tmp_path / "out") == slice_reference


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


def test_a_worker_killed_mid_pass_is_retried_and_every_document_counted_once(
    slice_reference, slice_tokenizer, tmp_path
):
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_worker, args=(stop, killed), daemon=True)
    killer.start()
    try:
        run(load_config(write_config(tmp_path / "w.yaml", slice_config(tmp_path, slice_tokenizer))))
    finally:
        stop.set()
        killer.join()
    assert killed, "no stage worker was seen to kill"
    assert products(tmp_path / "out") == slice_reference
