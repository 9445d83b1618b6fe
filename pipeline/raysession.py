"""Starting or joining Ray: a local Ray with this machine's cores, or a cluster."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray


def resolve_address(cli_address: str | None, config_address: str | None) -> str | None:
    """--address beats the config's ray.address, which beats RAY_ADDRESS; None = local Ray."""
    return cli_address or config_address or os.environ.get("RAY_ADDRESS") or None


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[None]:
    """Use the Ray already initialised in this process (tests, notebooks), or start/join one."""
    if ray.is_initialized():
        yield
        return
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = True
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    else:
        # An explicit local start: never silently join a cluster named by RAY_ADDRESS here.
        os.environ.pop("RAY_ADDRESS", None)
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    try:
        yield
    finally:
        ray.shutdown()


#: Remote arguments of the reads and writes around a pass's stage actors: no CPU slot. A Ray
#: Data read or write task keeps its slot while backpressured, so with one slot each the
#: actors of a 2-CPU machine got 1 of its 2 cores (40% of the CPU idle through langid+quality
#: at 10M documents, measured with /proc/stat). Their own work (Parquet decode and encode) is a
#: few % of the stages'; Ray Data still bounds them by object store memory.
IO_TASK_ARGS: dict = {"num_cpus": 0}


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_gpus() -> int:
    return int(ray.cluster_resources().get("GPU", 0))
