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


def io_task_args() -> tuple[dict, dict]:
    """Keyword arguments of `read_parquet` and of `write_parquet` around a pass's stage actors:
    no CPU slot, at most one task a CPU at a time.

    A Ray Data read task keeps its CPU slot while it is backpressured, and the write operator
    wants one too, so the actor pool (one actor a CPU) of a 2-CPU machine got one actor: 40% of
    the CPU idle through langid+quality at 10M documents (/proc/stat). Without a slot, the
    concurrency cap is what bounds them: uncapped, the six reads of the rejected/ job started
    dozens of ~0.8 GB read workers at 3M documents (free memory 1.6 of 24 GB). Parquet decode
    and encode are a few % of the stages' work."""
    cap = cluster_cpus()
    return {"num_cpus": 0, "concurrency": cap}, {"ray_remote_args": {"num_cpus": 0}, "concurrency": cap}


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_gpus() -> int:
    return int(ray.cluster_resources().get("GPU", 0))
