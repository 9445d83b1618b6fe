"""A three-node Ray cluster on this machine gives the same output as the local run: the same
shards, byte for byte, the same documents and rejections, the same stats; and it does so
though one of its stage workers is SIGKILLed mid-pass (Ray retries the task: no document may
be counted twice or lost)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import write_config
from slice_run import kill_one_worker, products, slice_config

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def three_node_cluster(tmp_path):
    """`ray start --head` plus two `ray start --address` on this machine (loopback only), each
    node with one CPU and its own raylet and object store."""
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    temp_dir = f"/tmp/prep-rc-{os.getpid()}"  # short: Ray's socket paths have a length limit
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DISABLE_USAGE_STATS": "1"}
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    head = [
        ray_bin,
        "start",
        "--head",
        f"--port={port}",
        "--include-dashboard=false",
        f"--temp-dir={temp_dir}",
    ]
    try:
        subprocess.run(head + common, env=env, check=True, capture_output=True, timeout=120)
        for _ in range(2):
            subprocess.run(
                [ray_bin, "start", f"--address=127.0.0.1:{port}", *common],
                env=env,
                check=True,
                capture_output=True,
                timeout=120,
            )
        yield f"127.0.0.1:{port}", env, temp_dir
    finally:
        # `ray stop` would also stop the test session's own Ray: end only this cluster's processes.
        subprocess.run(["pkill", "-TERM", "-f", temp_dir], check=False)
        time.sleep(3)
        subprocess.run(["pkill", "-KILL", "-f", temp_dir], check=False)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_three_node_cluster_that_loses_a_worker_matches_local_run(
    tmp_path, slice_reference, slice_tokenizer, three_node_cluster
):
    address, env, temp_dir = three_node_cluster
    cluster_cfg = write_config(tmp_path / "cluster.yaml", slice_config(tmp_path / "cluster", slice_tokenizer))
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_one_worker, args=(stop, killed, temp_dir), daemon=True)
    killer.start()
    try:
        status = subprocess.run(
            [sys.executable, "-m", "prep", "run", str(cluster_cfg), "--address", address],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        stop.set()
        killer.join()
    assert status.returncode == 0, status.stderr[-3000:]
    assert killed, "no stage worker of the cluster was seen to kill"
    nodes = subprocess.run(
        [sys.executable, "-c", f"import ray; ray.init(address='{address}'); print(len(ray.nodes()))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert nodes.stdout.strip().splitlines()[-1] == "3"
    local, cluster = slice_reference, products(tmp_path / "cluster" / "out")
    assert cluster["shards"] == local["shards"] and local["shards"]
    assert cluster["tokenizer"] == local["tokenizer"]
    assert cluster["documents"] == local["documents"]
    assert cluster["rejected"] == local["rejected"]
    assert cluster["stages"] == local["stages"]
    assert local["documents"] and local["rejected"]
