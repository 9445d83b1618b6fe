"""Scale: the pipeline of configs/mix.yaml on N short real-text documents, N = 100k, 1M, 10M.

For each N: the corpus (bench/scale_corpus.py: the sample's text recombined into short
documents, built offline and cached), a Ray head started on this machine (`ray start
--head`), and `prep run` joining it with `--address`, so that the driver is the `prep`
process alone. Measured, per pass and in total:

- wall time (stats.json: each pass's seconds; total: the process);
- the driver process's own CPU seconds and peak RSS (stats.json records both per pass, from
  the driver's own rusage; the total is the process's, read from /proc while it runs);
- the peak RSS of any single Ray worker process (every `ray::` process, polled);
- bytes Ray spilled to disk (`ray memory --stats-only` before the head stops).

    python bench/bench_scale.py --docs 100000 1000000 10000000 --root /tmp/prep-scale

Results go to ROOT/results.json and a markdown table on stdout (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_corpus import SHARES, build  # noqa: E402

from prep.pipeline.driver_usage import vmhwm_mb  # noqa: E402

PORT = 6391


def config_for(corpus: Path, out: Path, n_docs: int) -> Path:
    """configs/mix.yaml with the corpus as its sources and a budget that grows with N."""
    cfg = yaml.safe_load((REPO / "configs" / "mix.yaml").read_text())
    cfg["sources"] = [
        {"name": d, "domain": d, "format": "jsonl", "paths": [str(corpus / d / "*.jsonl.zst")]}
        for d in SHARES
    ]
    for entry in cfg["stages"]:
        for spec in entry.get("quality", {}).get("perplexity", {}).values():
            spec["dir"] = str(REPO / spec["dir"])
    cfg["run"] = {"output": str(out / "out"), "work_dir": str(out / "cache"), "seed": 0}
    cfg["mix"].update(target_tokens=n_docs * 40, policy="renormalise", shard_tokens=50_000_000)
    path = out / "scale.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


class Watch(threading.Thread):
    """Polls the driver's peak RSS (VmHWM) and CPU, and every Ray worker's RSS."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.driver_peak = 0.0  # MiB
        self.driver_cpu = 0.0
        self.worker_peak = 0
        self.worker_name = ""
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            try:
                self.driver_peak = max(self.driver_peak, vmhwm_mb(self.proc.pid) or 0.0)
                t = self.proc.cpu_times()
                self.driver_cpu = t.user + t.system
            except psutil.Error:
                pass
            for p in psutil.process_iter(["cmdline", "memory_info"]):
                cmd = p.info["cmdline"] or []
                mem = p.info["memory_info"]
                if cmd and cmd[0].startswith("ray::") and mem is not None and mem.rss > self.worker_peak:
                    self.worker_peak = mem.rss
                    self.worker_name = cmd[0]
            time.sleep(0.5)


def spilled_bytes(address: str, env: dict) -> int:
    out = subprocess.run(
        ["ray", "memory", "--stats-only", "--address", address], capture_output=True, text=True, env=env
    ).stdout
    m = re.search(r"Spilled (\d+) MiB", out)
    return int(m.group(1)) << 20 if m else 0


def run_one(n_docs: int, root: Path, sample: Path) -> dict:
    corpus = build(n_docs, root, sample)
    out = root / f"run-{n_docs}"
    out.mkdir(parents=True, exist_ok=True)
    cfg = config_for(corpus, out, n_docs)
    address = f"127.0.0.1:{PORT}"
    # One user on one machine: no token between the head and the driver (as tests/test_cluster.py).
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DISABLE_USAGE_STATS": "1"}
    env.pop("RAY_ADDRESS", None)
    # Its own temp dir, so that stopping it ends this head only (`ray stop` ends every Ray here).
    temp_dir = f"/tmp/prep-bench-{os.getpid()}"
    subprocess.run(
        [
            "ray",
            "start",
            "--head",
            f"--port={PORT}",
            f"--num-cpus={os.cpu_count()}",
            "--include-dashboard=false",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={temp_dir}",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        t0 = time.time()
        log = open(out / "prep.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "prep", "run", str(cfg), "--fresh", "--address", address],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        watch = Watch(proc.pid)
        watch.start()
        rc = proc.wait()
        watch.stop = True
        wall = time.time() - t0
        spilled = spilled_bytes(address, env)
    finally:
        subprocess.run(["pkill", "-TERM", "-f", temp_dir], check=False)
        time.sleep(3)
        subprocess.run(["pkill", "-KILL", "-f", temp_dir], check=False)
    if rc != 0:
        raise SystemExit(f"prep run failed for N={n_docs}: see {out / 'prep.log'}")
    stats = json.loads((out / "out" / "stats.json").read_text())
    return {
        "docs": n_docs,
        "bytes": stats["stages"][0]["in"]["bytes"],
        "wall_s": round(wall, 1),
        "driver_cpu_s": round(watch.driver_cpu, 1),
        "driver_peak_rss_mb": round(watch.driver_peak),
        "worker_peak_rss_mb": round(watch.worker_peak / 2**20),
        "worker_peak_process": watch.worker_name,
        "spilled_mb": spilled >> 20,
        "stages": {
            s["name"]: {"seconds": s["seconds"], "in": s["in"]["docs"], "kept": s["kept"]["docs"]}
            for s in stats["stages"]
        },
        "driver": stats["driver"],  # per pass and for the outputs, from the driver's own rusage
    }


def table(results: list[dict]) -> str:
    lines = [
        "| docs | text | wall | driver CPU | driver peak RSS | worker peak RSS | spilled |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['docs']:,} | {r['bytes'] / 1e6:,.0f} MB | {r['wall_s']:,.0f} s | {r['driver_cpu_s']} s "
            f"| {r['driver_peak_rss_mb']:,} MB | {r['worker_peak_rss_mb']:,} MB | {r['spilled_mb']:,} MB |"
        )
    names = list(dict.fromkeys(name for r in results for name in r["stages"]))
    lines += ["", "| stage | " + " | ".join(f"{r['docs']:,}" for r in results) + " |"]
    lines.append("|---|" + "---|" * len(results))
    for name in names:  # a stage a run did not have (an older config): a dash
        cells = [f"{r['stages'][name]['seconds']:,.0f} s" if name in r["stages"] else "—" for r in results]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description="prep at 100k, 1M and 10M documents")
    p.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    p.add_argument("--root", default="/tmp/prep-scale")
    p.add_argument("--sample", default=str(REPO / "data" / "sample"))
    args = p.parse_args()
    root = Path(args.root)
    results_path = root / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else []
    for n in args.docs:
        r = run_one(n, root, Path(args.sample))
        results = [x for x in results if x["docs"] != n] + [r]
        results.sort(key=lambda x: x["docs"])
        results_path.write_text(json.dumps(results, indent=1))
        print(json.dumps(r, indent=1), flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
