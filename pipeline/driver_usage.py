"""What the driver process itself spent: CPU seconds and peak resident memory.

The driver only plans, names and aggregates, so both must stay flat as the corpus grows
(docs/benchmarks.md, scale). They are read from the process's own rusage (every thread of
the driver, Ray's in-process core worker included; no child process), which costs a
microsecond, and recorded per pass in stats.json's `driver` entry.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass


@dataclass(frozen=True)
class DriverUsage:
    cpu_s: float  # user + system CPU seconds since the process started
    peak_rss_mb: float  # the process's peak resident set so far (Linux: ru_maxrss in KiB)

    @classmethod
    def now(cls) -> DriverUsage:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return cls(r.ru_utime + r.ru_stime, r.ru_maxrss / 1024)

    def since(self, start: DriverUsage) -> dict:
        """CPU spent since `start` and the peak so far, rounded for stats.json."""
        return {"cpu_s": round(self.cpu_s - start.cpu_s, 2), "peak_rss_mb": round(self.peak_rss_mb)}
