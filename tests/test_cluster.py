"""A two-node Ray cluster on this machine gives the same output as the local run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from conftest import mix_config, write_config

from prep.pipeline.config import load_config
from prep.pipeline.runner import run

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_file_per_source(data: dict) -> dict:
    """A smaller slice of the sample: one file of each source."""
    from prep.pipeline.sources import expand_paths

    for src in data["sources"]:
        src["paths"] = expand_paths(src["paths"])[:1]
    data["mix"]["policy"] = "renormalise"  # a slice has too little web and books for the 2M budget
    return data


def _digest(out: Path) -> dict:
    """What a run produced, independent of file names and row order."""
    docs = pads.dataset(str(out / "documents"), format="parquet").to_table()
    rejected = pads.dataset(str(out / "rejected"), format="parquet").to_table()
    stats = json.loads((out / "stats.json").read_text())
    # the decisions, not timings or memory plans (dedup's metrics hold both)
    counts = [
        {k: s[k] for k in ("name", "in", "kept", "dropped", "rules", "domains")} for s in stats["stages"]
    ]
    return {
        "documents": sorted(
            (r["id"], hashlib.sha256(r["text"].encode()).hexdigest(), r["lang"])
            for r in docs.select(["id", "text", "lang"]).to_pylist()
        ),
        "rejected": sorted((r["id"], r["stage"], r["rule"]) for r in rejected.to_pylist()),
        "stages": counts,
    }


@pytest.fixture
def two_node_cluster(tmp_path):
    """`ray start --head` plus a second `ray start --address` on this machine (loopback only)."""
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
        subprocess.run(
            [ray_bin, "start", f"--address=127.0.0.1:{port}", *common],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield f"127.0.0.1:{port}", env
    finally:
        # `ray stop` would also stop the test session's own Ray: end only this cluster's processes.
        subprocess.run(["pkill", "-TERM", "-f", temp_dir], check=False)
        time.sleep(3)
        subprocess.run(["pkill", "-KILL", "-f", temp_dir], check=False)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_two_node_cluster_matches_local_run(tmp_path, sample_dir, default_lm, ray_session, two_node_cluster):
    address, env = two_node_cluster
    local_cfg = write_config(tmp_path / "local.yaml", _first_file_per_source(mix_config(tmp_path / "local")))
    run(load_config(local_cfg))

    cluster_data = _first_file_per_source(mix_config(tmp_path / "cluster"))
    cluster_cfg = write_config(tmp_path / "cluster.yaml", cluster_data)
    status = subprocess.run(
        [sys.executable, "-m", "prep", "run", str(cluster_cfg), "--address", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert status.returncode == 0, status.stderr[-3000:]
    nodes = subprocess.run(
        [sys.executable, "-c", f"import ray; ray.init(address='{address}'); print(len(ray.nodes()))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert nodes.stdout.strip().splitlines()[-1] == "2"
    local, cluster = _digest(tmp_path / "local" / "out"), _digest(tmp_path / "cluster" / "out")
    assert cluster["documents"] == local["documents"]
    assert cluster["rejected"] == local["rejected"]
    assert cluster["stages"] == local["stages"]
    assert local["documents"] and local["rejected"]
