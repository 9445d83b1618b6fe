"""Connected components of the candidate-pair graph: in memory, or alternating large-star and
small-star rounds on Ray Data (Kiveris et al., "Connected Components in MapReduce and Beyond",
SoCC 2014), each step checkpointed so that an interrupted fit resumes at the step it was in.

Both give every node of a pair the smallest node of its component as label.

Distributed: a step groups the edges by one endpoint `u` (a sort shuffle on `u % partitions`,
then a vectorised pass per partition) and rewires `u`'s neighbourhood to its smallest member m:
- large-star: every neighbour v > u gets the edge (v, m), m = min(u and all neighbours);
- small-star: u and every neighbour v < u get the edge (., m), m = min(u and its lower neighbours).
When a round of both changes no edge, every component is a star around its smallest node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from prep.stages.dedup.steps import Steps, read, write

log = logging.getLogger("prep")

#: Called after each completed distributed step with (round, step name); tests raise from it
#: to simulate an interruption between iterations.
after_step: Callable[[int, str], None] | None = None


def in_memory(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, labels) for the nodes of the pairs: labels are each component's smallest node.

    scipy's C connected_components on the relabelled graph, not a Python union-find: ~0.3 s for
    5M pairs here, where a numpy union-find with pointer jumping needed several passes per round.
    """
    if len(src) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    nodes, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
    m = len(src)
    graph = coo_matrix(
        (np.ones(m, dtype=np.int8), (inverse[:m], inverse[m:])), shape=(len(nodes), len(nodes))
    )
    _, comp = connected_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, comp, nodes)
    return nodes, smallest[comp]


# --------------------------------------------------------------------------- distributed


def _directed(batch: pa.Table, step: str, partitions: int) -> pa.Table:
    """Edges as (u, v) rows grouped by u: both directions for large-star, (high, low) for small."""
    a = batch.column("src").to_numpy()
    b = batch.column("dst").to_numpy()
    if step == "large":
        u, v = np.concatenate([a, b]), np.concatenate([b, a])
    else:
        u, v = np.maximum(a, b), np.minimum(a, b)
    return pa.table({"_part": u % partitions, "u": u, "v": v})


def _star(batch: dict, step: str) -> pa.Table:
    """One star step over a partition of (u, v) rows; `new` marks edges the step changed."""
    u, v = batch["u"], batch["v"]
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    keep = np.ones(len(u), dtype=bool)
    keep[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v = u[keep], v[keep]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.append(starts, len(u)))
    first_v = v[starts]  # the smallest neighbour (v sorted within u)
    m = np.minimum(first_v, u[starts])
    mine = np.repeat(m, sizes)
    if step == "large":
        out = v > u
        src, dst = v[out], mine[out]
        new = (mine != u)[out]
    else:  # v < u for every row; u itself is rewired too
        src = np.concatenate([v, u[starts]])
        dst = np.concatenate([mine, m])
        new = np.concatenate([np.repeat(sizes >= 2, sizes), np.zeros(len(starts), dtype=bool)])
        out = src != dst
        src, dst, new = src[out], dst[out], new[out]
    return pa.table({"src": src.astype(np.int64), "dst": dst.astype(np.int64), "new": new})


def distributed(
    edges: Path, steps: Steps, partitions: int, max_rounds: int
) -> tuple[Path | None, dict[str, int]]:
    """Folder of the converged star edges (src: node, dst: its component's smallest node).

    Resumes after the last completed step found under `steps`.
    """
    current: Path | None = edges
    info = {"rounds": 0, "resumed_steps": 0, "steps": 0}
    for rnd in range(1, max_rounds + 1):
        changed = 0
        for step in ("large", "small"):
            name = f"cc-{rnd:03d}-{step}"
            source = current

            def work(tmp: Path, source: Path | None = source, step: str = step) -> dict:
                ds = read(source, ["src", "dst"]) if source is not None else None
                if ds is None:
                    return {"edges": 0, "changed": 0}
                ds = ds.map_batches(
                    _directed, batch_format="pyarrow", fn_kwargs={"step": step, "partitions": partitions}
                )
                out = ds.groupby("_part", num_partitions=partitions).map_groups(
                    _star, batch_format="numpy", fn_kwargs={"step": step}
                )
                out = out.materialize()
                n_changed = int(out.sum("new") or 0) if out.count() else 0
                n = write(out.select_columns(["src", "dst"]), tmp)
                return {"edges": n, "changed": n_changed}

            result, reused = steps.run(name, work)
            info["steps"] += 1
            info["resumed_steps"] += int(reused)
            log.info(
                "dedup: components round %d %s-star: %s%s",
                rnd,
                step,
                result,
                " (checkpoint)" if reused else "",
            )
            changed += result["changed"]
            current = steps.path(name) if result["edges"] else None
            if after_step is not None and not reused:
                after_step(rnd, step)
        info["rounds"] = rnd
        if changed == 0:
            return current, info
    raise RuntimeError(
        f"dedup: connected components did not converge in {max_rounds} rounds; "
        "raise components.max_iterations"
    )


def star_labels(batch: pa.Table) -> pa.Table:
    """(node, comp) rows from converged star edges: both ends, labelled with the centre."""
    a = batch.column("src").to_numpy()
    b = batch.column("dst").to_numpy()
    low = np.minimum(a, b)
    return pa.table({"node": np.concatenate([np.maximum(a, b), low]), "comp": np.concatenate([low, low])})


def ray_labels(folder: Path | None) -> ray.data.Dataset | None:
    """(node, comp) rows from converged star edges, as a Dataset (centres repeat: dedupe later)."""
    ds = read(folder, ["src", "dst"]) if folder is not None else None
    return None if ds is None else ds.map_batches(star_labels, batch_format="pyarrow")
