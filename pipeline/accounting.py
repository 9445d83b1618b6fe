"""Counting docs and bytes in, kept and dropped per stage and domain, and checking the sums.

The counts travel with the data: each batch a worker writes carries, in the `_counts`
column of its first row, the counts and metrics of every step that batch went through
(JSON; null on every other row). A batch that Ray retries after a worker failure is written
again in place of the failed attempt, so its counts are never lost or counted twice, and no
worker waits on a central actor. After a pass, a Ray Data aggregation over the `_counts` and
`_stage` columns sums them (`summarise`); the driver receives one small dict per pass, whose
size depends on the domains, rules and metric bins, never on the number of documents.

The runner then checks the invariant of docs/design.md — in == kept + dropped for every stage
and domain, each stage's input equals the previous stage's output, and the rows on disk agree
with the counts — and fails the run loudly when any of it does not hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import ray

from prep.core.records import COUNTS_COLUMN


class AccountingError(RuntimeError):
    """Documents were lost or invented somewhere: the run must not produce output."""


def text_bytes(table: pa.Table) -> np.ndarray:
    """UTF-8 byte length of each row's text (0 for null)."""
    if table.num_rows == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = pc.binary_length(table.column("text"))
    return pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _empty_domain(width: int = 2) -> dict:
    return {"in": [0] * width, "kept": [0] * width, "dropped": [0] * width, "rules": {}}


def _tokens(table: pa.Table) -> np.ndarray | None:
    if "n_tokens" not in table.column_names:
        return None
    return pc.fill_null(table.column("n_tokens"), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def count_batch(before: pa.Table, after: pa.Table, rules: Iterable[str | None]) -> dict:
    """Per-domain [docs, bytes] (and tokens, once documents are tokenized) in, kept, dropped
    and per rule for one stage on one batch.

    `before` is what entered the stage, `after` what it returned (same rows, same order;
    texts may have been rewritten): bytes in are measured before, bytes out after.
    """
    domains = before.column("domain").to_pylist()
    bytes_in, bytes_out = text_bytes(before), text_bytes(after)
    tokens_in, tokens_out = _tokens(before), _tokens(after)
    width = 3 if tokens_out is not None else 2
    zeros = np.zeros(len(domains), dtype=np.int64)
    tokens_in = zeros if tokens_in is None else tokens_in
    tokens_out = zeros if tokens_out is None else tokens_out
    out: dict[str, dict] = {}
    rows = zip(domains, rules, bytes_in, bytes_out, tokens_in, tokens_out, strict=True)
    for domain, rule, b_in, b_out, t_in, t_out in rows:
        d = out.setdefault(domain, _empty_domain(width))
        _add(d["in"], b_in, t_in)
        if rule is None:
            _add(d["kept"], b_out, t_out)
        else:
            _add(d["dropped"], b_out, t_out)
            _add(d["rules"].setdefault(rule, [0] * width), b_out, t_out)
    return out


def _add(slot: list[int], nbytes, ntokens) -> None:
    slot[0] += 1
    slot[1] += int(nbytes)
    if len(slot) > 2:
        slot[2] += int(ntokens)


def merge(into: Any, other: Any) -> Any:
    """Sum nested dicts / lists / numbers leaf by leaf (missing keys count as zero)."""
    if isinstance(other, dict):
        into = {} if into is None else into
        for k, v in other.items():
            into[k] = merge(into.get(k), v)
        return into
    if isinstance(other, list):
        if into is None:
            return list(other)
        if len(into) < len(other):
            into = into + [0] * (len(other) - len(into))
        return [a + b for a, b in zip(into, other + [0] * (len(into) - len(other)), strict=True)]
    return other if into is None else into + other


def attach_counts(table: pa.Table, entries: dict[str, tuple[dict, dict]]) -> pa.Table:
    """`table` with `_counts`: {step key: [counts, metrics]} as JSON on row 0, null elsewhere.
    An empty table carries nothing (nothing entered its steps)."""
    if COUNTS_COLUMN in table.column_names:
        table = table.drop_columns([COUNTS_COLUMN])
    values: list[str | None] = [None] * table.num_rows
    if table.num_rows:
        values[0] = json.dumps({k: [c, m] for k, (c, m) in entries.items()}, sort_keys=True)
    return table.append_column(pa.field(COUNTS_COLUMN, pa.string()), pa.array(values, pa.string()))


def _accumulate(acc: str, block: pa.Table) -> str:
    """Fold a block's rows into the JSON accumulator {rows, rejected: {stage: n}, steps}."""
    total = json.loads(acc)
    total["rows"] = total.get("rows", 0) + block.num_rows
    if "_stage" in block.column_names:
        for item in pc.value_counts(block.column("_stage").drop_null()).to_pylist():
            rejected = total.setdefault("rejected", {})
            rejected[item["values"]] = rejected.get(item["values"], 0) + item["counts"]
    if COUNTS_COLUMN in block.column_names:
        steps = total.setdefault("steps", {})
        for value in block.column(COUNTS_COLUMN).drop_null().to_pylist():
            for key, (counts, metrics) in json.loads(value).items():
                slot = steps.setdefault(key, [{}, {}])
                slot[0] = merge(slot[0], counts)
                slot[1] = merge(slot[1], metrics)
    return json.dumps(total)


def _merge_json(a: str, b: str) -> str:
    return json.dumps(merge(json.loads(a), json.loads(b)))


def summarise(folder: Path) -> dict:
    """Rows, rejected rows per stage and every step's stats of a pass output (the Parquet files
    in `folder`), summed by a Ray Data aggregation: {"rows", "rejected": {stage: n}, "steps"}.

    Ray Data is handed the folder, not a list of files: its threaded listing of many paths
    imports fsspec's HTTP filesystem from several threads at once, which fails when aiohttp
    is not installed."""
    from ray.data.aggregate import AggregateFn

    files = sorted(str(f) for f in folder.glob("*.parquet"))
    if not files:
        return {"rows": 0, "rejected": {}, "steps": {}}
    present = set(pads.dataset(files, format="parquet").schema.names)
    columns = [c for c in ("_stage", COUNTS_COLUMN) if c in present]
    agg = AggregateFn(
        init=lambda _key: "{}",
        merge=_merge_json,
        accumulate_block=_accumulate,
        name="summary",
    )
    ds = ray.data.read_parquet(str(folder), file_extensions=["parquet"])
    if columns:
        ds = ds.select_columns(columns)
    total = json.loads(ds.aggregate(agg)["summary"] or "{}")
    steps = {key: finish(c, m) for key, (c, m) in total.get("steps", {}).items()}
    return {"rows": total.get("rows", 0), "rejected": total.get("rejected", {}), "steps": steps}


def finish(domains: dict, metrics: dict) -> dict:
    """Turn [docs, bytes] pairs into the stats.json shape with totals."""

    def pair(p: list[int]) -> dict:
        counts = {"docs": int(p[0]), "bytes": int(p[1])}
        return {**counts, "tokens": int(p[2])} if len(p) > 2 else counts

    out_domains = {}
    total = _empty_domain()
    for domain in sorted(domains):
        d = domains[domain]
        total = merge(total, d)
        out_domains[domain] = {
            "in": pair(d["in"]),
            "kept": pair(d["kept"]),
            "dropped": pair(d["dropped"]),
            "rules": {r: pair(v) for r, v in sorted(d["rules"].items())},
        }
    return {
        "in": pair(total["in"]),
        "kept": pair(total["kept"]),
        "dropped": pair(total["dropped"]),
        "rules": {r: pair(v) for r, v in sorted(total["rules"].items())},
        "domains": out_domains,
        "metrics": metrics,
    }


def check_stage(name: str, stats: dict) -> None:
    """in == kept + dropped, per domain, and the rules add up to dropped."""
    for domain, d in {"(all)": stats, **stats["domains"]}.items():
        if d["in"]["docs"] != d["kept"]["docs"] + d["dropped"]["docs"]:
            raise AccountingError(
                f"stage {name}, domain {domain}: {d['in']['docs']} docs in but "
                f"{d['kept']['docs']} kept + {d['dropped']['docs']} dropped"
            )
        if sum(r["docs"] for r in d["rules"].values()) != d["dropped"]["docs"]:
            raise AccountingError(f"stage {name}, domain {domain}: drop reasons do not add up to dropped")


def check_chain(prev_name: str, prev: dict, name: str, stats: dict) -> None:
    """What a stage received is exactly what the stage before it kept, per domain."""
    domains = set(prev["domains"]) | set(stats["domains"])
    for domain in sorted(domains):
        kept = prev["domains"].get(domain, {}).get("kept", {"docs": 0})["docs"]
        got = stats["domains"].get(domain, {}).get("in", {"docs": 0})["docs"]
        if kept != got:
            raise AccountingError(
                f"domain {domain}: stage {prev_name} kept {kept} docs but stage {name} received {got}"
            )


def check_rows(what: str, expected: int, actual: int) -> None:
    if expected != actual:
        raise AccountingError(f"{what}: counted {expected} docs but {actual} rows are on disk")


def combine_phases(process: dict, apply: dict) -> dict:
    """One stage's stats from its `process` and `apply` phases (a global stage).

    Documents enter in `process` and leave `apply` kept; drops of both phases add up, so
    in == kept + dropped holds for the stage as a whole when it held for each phase.
    """

    def add(x: dict, y: dict) -> dict:
        return {k: x.get(k, 0) + y.get(k, 0) for k in dict.fromkeys([*x, *y])}

    def combined(p: dict, a: dict) -> dict:
        rules = {r: dict(v) for r, v in p["rules"].items()}
        for r, v in a["rules"].items():
            rules[r] = add(rules.get(r, {}), v)
        dropped = add(p["dropped"], a["dropped"])
        return {"in": p["in"], "kept": a["kept"], "dropped": dropped, "rules": dict(sorted(rules.items()))}

    zero = {"in": {"docs": 0, "bytes": 0}, "kept": {"docs": 0, "bytes": 0}}
    zero |= {"dropped": {"docs": 0, "bytes": 0}, "rules": {}}
    domains = sorted(set(process["domains"]) | set(apply["domains"]))
    out = combined(process, apply)
    out["domains"] = {
        d: combined(process["domains"].get(d, zero), apply["domains"].get(d, zero)) for d in domains
    }
    out["metrics"] = {**process["metrics"], **apply["metrics"]}
    out["phases"] = {"process": _totals(process), "apply": _totals(apply)}
    return out


def _totals(stats: dict) -> dict:
    return {k: stats[k] for k in ("in", "kept", "dropped")}
