"""`prep benchmarks list`: which benchmarks are available, where from, and how big their index is."""

from __future__ import annotations

from prep.stages.decontam.config import Config
from prep.stages.decontam.index import BenchmarkIndex
from prep.stages.decontam.registry import BUNDLED

_COLUMNS = (
    ("benchmark", "benchmark"),
    ("splits", "splits"),
    ("items", "items"),
    ("whole", "short items (whole)"),
    ("skipped", "too short"),
    ("ngrams", "indexed n-grams"),
    ("capped", "common n-grams"),
    ("source", "source"),
)


def list_benchmarks(config: Config | None = None) -> list[dict]:
    """One row per bundled benchmark (installed or not) and per user benchmark of `config`,
    with item and n-gram counts of the index `config` would build (defaults without one)."""
    config = config or Config()
    available = [name for name, b in BUNDLED.items() if b.available()]
    sources = [(name, BUNDLED[name].items()) for name in available]
    sources += [(user.name, user.items()) for user in config.user_benchmarks]
    summary = BenchmarkIndex.build(sources, config.ngram, config.min_words, config.max_item_frequency).summary
    rows = []
    for name, bench in BUNDLED.items():
        row = {
            "benchmark": name,
            "splits": bench.splits,
            "source": bench.source(),
            "available": name in summary,
        }
        rows.append({**row, **summary.get(name, {})})
    for user in config.user_benchmarks:
        row = {"benchmark": user.name, "splits": "user", "source": user.path, "available": True}
        rows.append({**row, **summary[user.name]})
    return rows


def format_table(rows: list[dict]) -> str:
    """A plain-text table of `list_benchmarks` rows; missing packages are named."""
    cells = [[title for _, title in _COLUMNS]]
    for row in rows:
        if row["available"]:
            cells.append(
                [f"{row[key]:,}" if isinstance(row[key], int) else str(row[key]) for key, _ in _COLUMNS]
            )
        else:
            cells.append(
                [row["benchmark"], row["splits"], "-", "-", "-", "-", "-", f"not installed ({row['source']})"]
            )
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS) - 1)]
    numeric = {
        i for i, (key, _) in enumerate(_COLUMNS) if key in ("items", "whole", "skipped", "ngrams", "capped")
    }
    lines = []
    for line in cells:
        parts = [c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(line[:-1])]
        lines.append("  ".join([*parts, line[-1]]).rstrip())
    available = [r for r in rows if r["available"]]
    total_items = sum(r["items"] for r in available)
    total_ngrams = sum(r["ngrams"] for r in available)
    summary = f"{total_items:,} items, {total_ngrams:,} n-grams"
    lines.append(f"{len(available)} of {len(rows)} benchmarks available: {summary}")
    return "\n".join(lines)
