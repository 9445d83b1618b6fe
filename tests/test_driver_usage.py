"""The driver's recorded peak memory is its own, not its parent's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# A child that reports its own peak as stats.json records it, next to what ru_maxrss says.
REPORT = (
    "import json, resource; from prep.pipeline.driver_usage import DriverUsage; "
    "print(json.dumps({'peak': DriverUsage.now().peak_rss_mb, "
    "'ru_maxrss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
)

# A parent that holds (touches) 400 MiB, then starts the child as bench_scale starts `prep run`.
PARENT = (
    "import subprocess, sys; held = bytearray(400 << 20); "
    "[held.__setitem__(i, 1) for i in range(0, len(held), 4096)]; "
    f"sys.exit(subprocess.run([sys.executable, '-c', {REPORT!r}]).returncode)"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_peak_rss_is_the_driver_own_not_the_parent_that_started_it():
    out = subprocess.run([sys.executable, "-c", PARENT], capture_output=True, text=True, check=True)
    usage = json.loads(out.stdout)
    assert usage["ru_maxrss"] > 400, usage  # the kernel carries the parent's peak across exec
    assert usage["peak"] < 200, usage  # ours does not: importing prep's driver_usage is ~tens of MB


def test_peak_rss_follows_what_the_driver_itself_touches():
    code = (
        "from prep.pipeline.driver_usage import DriverUsage; before = DriverUsage.now().peak_rss_mb; "
        "held = bytearray(300 << 20); [held.__setitem__(i, 1) for i in range(0, len(held), 4096)]; "
        "print(DriverUsage.now().peak_rss_mb - before)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 290 <= float(out.stdout) <= 400
