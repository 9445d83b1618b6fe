"""The driver CPU that Ray Data's executor spends whatever the documents: per second, per task.

Run by hand (not a test):  python bench/bench_driver_floor.py

prep's driver runs each pass as one Ray Data execution. The bench_scale table shows the
driver's CPU following wall time, not documents; this separates the two costs on work that
is only `time.sleep` (no data to speak of), each case in a fresh process with a local Ray of
2 CPUs:

- idle: `ray.init` and nothing else (Ray's own threads in the driver);
- few long tasks: a read, a task map and an actor map (two actors) over 4 blocks of
  10 s each, then `write_parquet`: the executor's per-second floor;
- the same with progress bars off: what prep's progress display costs;
- many short blocks: 600 of 0.05 s each: the executor's cost per block (read+map, actor
  and write tasks), the floor taken off.

Each reports the driver's CPU seconds (its own rusage) during the execution only.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys

CASE = r"""
import json, resource, sys, tempfile, time
import ray
blocks, sleep_s, bars = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
ray.data.DataContext.get_current().enable_progress_bars = bars

class Work:
    def __call__(self, batch):
        time.sleep(sleep_s)
        return batch

def tag(batch):
    batch["y"] = batch["id"] * 2
    return batch

def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, time.time()

if blocks == 0:
    time.sleep(3)
    c0, t0 = usage()
    time.sleep(20)
    c1, t1 = usage()
else:
    ds = ray.data.range(blocks * 1000, override_num_blocks=blocks).map_batches(tag, batch_size=None)
    ds = ds.map_batches(Work, concurrency=2, batch_size=None, num_cpus=1)
    with tempfile.TemporaryDirectory() as out:
        c0, t0 = usage()
        ds.write_parquet(out)
        c1, t1 = usage()
print(json.dumps({"cpu_s": c1 - c0, "wall_s": t1 - t0}))
"""

CASES = [  # name, blocks, seconds per block, progress bars
    ("idle Ray driver", 0, 0.0, True),
    ("4 blocks x 10 s", 4, 10.0, True),
    ("4 blocks x 10 s, no progress bars", 4, 10.0, False),
    ("600 blocks x 0.05 s", 600, 0.05, True),
]


def run_case(blocks: int, sleep_s: float, bars: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CASE, str(blocks), str(sleep_s), "1" if bars else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    import ray

    print(f"{platform.processor() or platform.machine()}, Ray {ray.__version__}, local Ray of 2 CPUs\n")
    print("| case | wall | driver CPU | % of one core | driver CPU per block, floor removed |")
    print("|---|---|---|---|---|")
    floor = None  # the executor's CPU per wall-second, from the first case with few long blocks
    for name, blocks, sleep_s, bars in CASES:
        r = run_case(blocks, sleep_s, bars)
        rate = r["cpu_s"] / r["wall_s"]
        per_block = "—"
        if blocks and floor is None:
            floor = rate
        elif blocks > 100:
            per_block = f"{1000 * (r['cpu_s'] - floor * r['wall_s']) / blocks:.1f} ms"
        cells = [name, f"{r['wall_s']:.1f} s", f"{r['cpu_s']:.2f} s", f"{100 * rate:.1f}%", per_block]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
