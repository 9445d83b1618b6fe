"""Terminal summaries: the per-stage funnel table at the end of a run and `prep report`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _reasons(rules: dict, limit: int = 3) -> str:
    top = sorted(rules.items(), key=lambda kv: -kv[1]["docs"])[:limit]
    more = len(rules) - len(top)
    text = ", ".join(f"{r} {v['docs']:,}" for r, v in top)
    return text + (f", +{more} more" if more > 0 else "")


def funnel_table(stats: dict) -> Table:
    """Docs and bytes in/out of every stage, per domain, with the main drop reasons."""
    table = Table(title="prep: documents through each stage", title_justify="left")
    for col, justify in (
        ("stage", "left"),
        ("domain", "left"),
        ("docs in", "right"),
        ("kept", "right"),
        ("dropped", "right"),
        ("bytes in", "right"),
        ("bytes kept", "right"),
        ("drop reasons", "left"),
        ("", "left"),
    ):
        table.add_column(col, justify=justify)
    for stage in stats["stages"]:
        mark = "reused" if stage.get("reused") else f"{stage.get('seconds', 0):.1f}s"
        rows = [("all", stage), *sorted(stage["domains"].items())]
        for i, (domain, d) in enumerate(rows):
            table.add_row(
                stage["name"] if i == 0 else "",
                domain,
                f"{d['in']['docs']:,}",
                f"{d['kept']['docs']:,}",
                f"{d['dropped']['docs']:,}",
                human_bytes(d["in"]["bytes"]),
                human_bytes(d["kept"]["bytes"]),
                _reasons(d["rules"]),
                mark if i == 0 else "",
                end_section=i == len(rows) - 1,
            )
    return table


def language_table(stats: dict) -> Table | None:
    """Documents per language and domain, as seen by the langid stage (before its filter)."""
    langid = next((s for s in stats["stages"] if s["name"] == "langid"), None)
    if not langid or not langid["metrics"].get("languages"):
        return None
    per_domain = langid["metrics"]["languages"]
    totals: dict[str, int] = {}
    for counts in per_domain.values():
        for lang, n in counts.items():
            totals[lang] = totals.get(lang, 0) + n
    top = sorted(totals, key=lambda k: -totals[k])[:12]
    table = Table(title="languages (langid, before filtering)", title_justify="left")
    table.add_column("domain")
    for lang in top:
        table.add_column(lang, justify="right")
    table.add_column("other", justify="right")
    for domain in sorted(per_domain):
        counts = per_domain[domain]
        other = sum(n for lang, n in counts.items() if lang not in top)
        table.add_row(domain, *(f"{counts.get(lang, 0):,}" for lang in top), f"{other:,}")
    return table


def quality_table(stats: dict) -> Table | None:
    """Perplexity buckets per domain and the cutoffs of each language/domain group."""
    quality = next((s for s in stats["stages"] if s["name"] == "quality"), None)
    fit = (quality or {}).get("metrics", {}).get("fit")
    if not fit:
        return None
    table = Table(title="perplexity (quality): buckets and cutoffs", title_justify="left")
    for col in ("group", "docs", f"p{fit['percentiles'][0]:g}", f"p{fit['percentiles'][1]:g}"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for bucket in ("head", "middle", "tail", "none"):
        table.add_column(bucket, justify="right")
    by_domain = quality["metrics"].get("buckets", {})
    for group, docs in sorted(fit["group_docs"].items()):
        cuts = fit["cutoffs"].get(group)
        shown = [f"{c:,.0f}" for c in cuts] if cuts else ["(few)", "(few)"]
        table.add_row(group, f"{docs:,}", *shown, "", "", "", "")
    for domain, counts in sorted(by_domain.items()):
        table.add_row(
            f"[bold]{domain}[/bold] (all)",
            "",
            "",
            "",
            *(f"{counts.get(b, 0):,}" for b in ("head", "middle", "tail", "none")),
        )
    return table


def classifier_score_range(metrics: dict) -> tuple[float, float]:
    """The range the classifier's score histograms span ([0, 1]; a regressor's [0, 5] or its
    `score_range`), which the stage records as the key of `score_range`."""
    key = next(iter(metrics.get("score_range") or {}), "0,1")
    low, high = (float(x) for x in key.split(","))
    return low, high


def classifier_table(stats: dict) -> Table | None:
    """Scored, kept and dropped per domain, and the median score bin."""
    stage = next((s for s in stats["stages"] if s["name"] == "classifier"), None)
    hists = (stage or {}).get("metrics", {}).get("score_histogram")
    if not hists:
        return None
    table = Table(title="quality classifier: scores and drops", title_justify="left")
    for col in ("domain", "scored", "kept", "dropped", "median score"):
        table.add_column(col, justify="left" if col == "domain" else "right")
    low, high = classifier_score_range(stage["metrics"])
    for domain, counts in sorted(hists.items()):
        d = stage["domains"].get(domain, {})
        half, seen, median = sum(counts) / 2, 0, ""
        width = (high - low) / len(counts)
        for i, c in enumerate(counts):
            seen += c
            if seen >= half and c:
                median = f"{low + i * width:.2f}-{low + (i + 1) * width:.2f}"
                break
        table.add_row(
            domain,
            f"{sum(counts):,}",
            f"{d.get('kept', {}).get('docs', 0):,}",
            f"{d.get('dropped', {}).get('docs', 0):,}",
            median,
        )
    return table


def mixture_table(manifest: dict) -> Table | None:
    """Target vs achieved training tokens per domain, epochs, and the validation split."""
    mix = manifest.get("mix")
    if not mix:
        return None
    table = Table(title="mixture (training tokens)", title_justify="left")
    for col in ("domain", "weight", "share", "target", "achieved", "epochs", "val docs", "val tokens"):
        table.add_column(col, justify="left" if col == "domain" else "right")
    for domain, r in sorted(mix["domains"].items()):
        table.add_row(
            domain,
            f"{r['weight']:.3f}",
            f"{r['share']:.3f}",
            f"{r['target_tokens']:,}",
            f"{r['achieved_tokens']:,}",
            f"{r['epochs']:.2f}",
            f"{r['val_docs']:,}",
            f"{r['val_tokens']:,}",
        )
    table.add_row("all", "", "", f"{mix['target_tokens']:,}", f"{mix['achieved_tokens']:,}", "", "", "")
    return table


def _print_unreadable(stats: dict, console: Console, limit: int = 10) -> None:
    """The input files a reader could not read to their end (stats.json lists them all)."""
    read = next((s for s in stats["stages"] if s["name"] == "read"), None)
    files = (read or {}).get("metrics", {}).get("unreadable_files", [])
    if not files:
        return
    console.print(f"unreadable files: {len(files)} (one unreadable_file row each in rejected/)")
    for f in files[:limit]:
        console.print(f"  {f['reason']}", markup=False, highlight=False)
    if len(files) > limit:
        console.print(f"  +{len(files) - limit} more in stats.json")


def print_summary(stats: dict, console: Console | None = None, manifest: dict | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:  # logs and pipes: do not squeeze the table into 80 columns
        console.width = max(console.width, 150)
    console.print(funnel_table(stats))
    for extra in (
        language_table(stats),
        quality_table(stats),
        classifier_table(stats),
        mixture_table(manifest or {}),
    ):
        if extra is not None:
            console.print(extra)
    _print_unreadable(stats, console)
    out = stats["output"]
    console.print(
        f"kept {out['documents']['docs']:,} documents ({human_bytes(out['documents']['bytes'])}), "
        f"rejected {out['rejected']['docs']:,}"
    )
    for note in (manifest or {}).get("mix", {}).get("notes", []):
        console.print(f"mix: {note}")
    if manifest and "shards" in manifest:
        train = manifest["splits"]["train"]
        console.print(
            f"shards: {len(manifest['shards'])} files, {train['tokens']:,} training tokens, "
            f"{manifest['splits']['val']['tokens']:,} validation tokens"
        )
