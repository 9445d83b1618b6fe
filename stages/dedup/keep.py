"""The keep policy: one document per cluster, and a decision row for every member.

Order within a cluster (the first is kept):
- `first`: document id, with the trailing record number compared as a number
  (`wiki/a.jsonl.gz:9` before `wiki/a.jsonl.gz:10`): the first record of the first file in
  path order, the same whatever the number of workers or blocks;
- `longest`: most UTF-8 bytes first;
- `lowest_ppl`: lowest perplexity first (documents without one last).
Ties are broken by the `first` order, so the choice is deterministic.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DECISION_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("file", pa.string()),  # the pass output file of the document: decisions are stored per file
        ("domain", pa.string()),
        ("cluster", pa.string()),  # the kept document's id
        ("size", pa.int64()),
        ("keep", pa.bool_()),
        ("match", pa.string()),  # dropped rows: "exact" (same exact hash as the kept one) or "near"
    ]
)

_ID = r"^(?P<prefix>.*):(?P<num>[0-9]{1,18})$"


def id_order(ids: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """(prefix, record number) sort keys of document ids; -1 when an id has no record number."""
    parts = pc.extract_regex(ids, _ID)
    prefix = pc.coalesce(pc.struct_field(parts, "prefix"), ids)
    num = pc.coalesce(pc.cast(pc.struct_field(parts, "num"), pa.int64()), pa.scalar(-1, pa.int64()))
    return prefix, num


def decide(members: pa.Table, policy: str, exact_enabled: bool) -> pa.Table:
    """Decision rows for `members` (columns comp, id, file, domain, bytes, ppl, ex1, ex2), each
    comp a whole cluster of two or more documents."""
    if members.num_rows == 0:
        return DECISION_SCHEMA.empty_table()
    ids = members.column("id")
    prefix, num = id_order(ids)
    keys = {"comp": members.column("comp"), "prefix": prefix, "num": num}
    sort: list[tuple[str, str, str]] = [("comp", "ascending", "at_end")]
    if policy == "longest":
        keys["rank"] = pc.negate(members.column("bytes"))
        sort.append(("rank", "ascending", "at_end"))
    elif policy == "lowest_ppl":
        ppl = pc.cast(members.column("ppl"), pa.float64())
        keys["rank"] = pc.if_else(pc.is_nan(ppl), pa.scalar(None, pa.float64()), ppl)
        sort.append(("rank", "ascending", "at_end"))  # no perplexity: last
    sort += [("prefix", "ascending", "at_end"), ("num", "ascending", "at_end")]
    order = pc.sort_indices(pa.table(keys), sort_keys=sort)
    m = members.take(order)
    comp = m.column("comp").to_numpy()
    starts = np.flatnonzero(np.r_[True, comp[1:] != comp[:-1]])
    sizes = np.diff(np.append(starts, len(comp)))
    head = np.repeat(starts, sizes)
    ids_sorted = m.column("id")
    kept_id = ids_sorted.take(pa.array(head))
    keep = np.zeros(len(comp), dtype=bool)
    keep[starts] = True
    ex1, ex2 = m.column("ex1").to_numpy(), m.column("ex2").to_numpy()
    same = (ex1 == ex1[head]) & (ex2 == ex2[head]) & exact_enabled
    match = np.where(keep, None, np.where(same, "exact", "near"))
    return pa.Table.from_arrays(
        [
            ids_sorted,
            m.column("file"),
            m.column("domain"),
            kept_id,
            pa.array(np.repeat(sizes, sizes), pa.int64()),
            pa.array(keep),
            pa.array(match.tolist(), pa.string()),
        ],
        schema=DECISION_SCHEMA,
    )


def histogram(sizes: np.ndarray) -> dict[str, int]:
    """Clusters per size: exact up to 8 members, then powers of two ("9-16", "17-32", ...)."""
    out: dict[str, int] = {}
    for s in sorted(sizes.tolist()):
        if s <= 8:
            label = str(s)
        else:
            hi = 1 << int(s - 1).bit_length()
            label = f"{hi // 2 + 1}-{hi}"
        out[label] = out.get(label, 0) + 1
    return out
