"""What the driver process itself spent: CPU seconds and peak resident memory.

The driver only plans, names and aggregates, so both must stay flat as the corpus grows
(docs/benchmarks.md, scale). CPU comes from the process's own rusage (every thread of the
driver, Ray's in-process core worker included; no child process); the peak from the kernel's
high-water mark of this process's own address space. Both cost microseconds and are recorded
per pass in stats.json's `driver` entry.

Why not `ru_maxrss` for the peak: Linux carries it across fork and exec, so a `prep run`
started by a process that held 816 MB reported 816 MB for every pass of the 10M benchmark
while its own high-water mark (VmHWM) was 535 MB.
"""

from __future__ import annotations

import re
import resource
import sys
from dataclasses import dataclass
from pathlib import Path


def vmhwm_mb(pid: int | str = "self") -> float | None:
    """A process's own peak resident set in MiB (VmHWM, from /proc: Linux); None without it."""
    try:
        m = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def peak_rss_mb() -> float:
    """This process's own peak resident set in MiB: VmHWM where /proc has it (Linux), else
    ru_maxrss (macOS reports it in bytes, the BSDs in KiB; it may include a parent's peak)."""
    hwm = vmhwm_mb()
    if hwm is not None:
        return hwm
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


@dataclass(frozen=True)
class DriverUsage:
    cpu_s: float  # user + system CPU seconds since the process started
    peak_rss_mb: float  # the process's own peak resident set so far

    @classmethod
    def now(cls) -> DriverUsage:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return cls(r.ru_utime + r.ru_stime, peak_rss_mb())

    def since(self, start: DriverUsage) -> dict:
        """CPU spent since `start` and the peak so far, rounded for stats.json."""
        return {"cpu_s": round(self.cpu_s - start.cpu_s, 2), "peak_rss_mb": round(self.peak_rss_mb)}
