"""Faults, for real: a driver killed with SIGKILL mid-pass resumes to the same bytes. (A Ray
worker killed mid-pass is retried without a document counted twice or lost: that is proven on
the three-node cluster, tests/test_cluster.py, whose run loses a stage worker.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import ray
from conftest import write_config
from slice_run import products, slice_config

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
