"""OUT/report.html: one self-contained page (charts as embedded PNG, no script, no
network) built from stats.json, manifest.json and the shards.

Sections appear when the run has what they show: the funnel, languages, perplexity,
the quality classifier, duplicates, PII, contamination, the mixture, the shards and document lengths.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from prep.core.files import read_json
from prep.pipeline.html_page import figure, png, table, write_page
from prep.pipeline.summary import classifier_score_range, human_bytes


def _n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def _stage(stats: dict, name: str) -> dict | None:
    return next((s for s in stats["stages"] if s["name"] == name), None)


def funnel(stats: dict) -> str:
    rows = []
    for s in stats["stages"]:
        for domain, d in [("all", s), *sorted(s["domains"].items())]:
            ranked = sorted(d["rules"].items(), key=lambda kv: -kv[1]["docs"])
            reasons = ", ".join(f"{r} {v['docs']:,}" for r, v in ranked)
            rows.append(
                [
                    s["name"] if domain == "all" else "",
                    domain,
                    _n(d["in"]["docs"]),
                    _n(d["kept"]["docs"]),
                    _n(d["dropped"]["docs"]),
                    human_bytes(d["in"]["bytes"]),
                    human_bytes(d["kept"]["bytes"]),
                    _n(d["kept"]["tokens"]) if "tokens" in d["kept"] else "—",
                    reasons,
                ]
            )
    header = [
        "stage",
        "domain",
        "docs in",
        "kept",
        "dropped",
        "bytes in",
        "bytes kept",
        "tokens kept",
        "drop reasons",
    ]
    rows_html = table(header, rows, left=2, text_last=True)
    fig, ax = figure(9, 3.4)
    domains = sorted(stats["stages"][0]["domains"])
    names = [s["name"] for s in stats["stages"]]
    bottom = np.zeros(len(names))
    for domain in domains:
        kept = np.array(
            [s["domains"].get(domain, {}).get("kept", {}).get("docs", 0) for s in stats["stages"]]
        )
        ax.bar(names, kept, bottom=bottom, label=domain)
        bottom += kept
    ax.set_ylabel("documents kept")
    ax.set_title("documents kept after each stage, by domain")
    if domains:  # an empty input has no domain to name
        ax.legend(fontsize=8, ncol=len(domains))
    return f"<h2>Funnel</h2>{png(fig)}{rows_html}"


def languages(stats: dict) -> str:
    langid = _stage(stats, "langid")
    per = (langid or {}).get("metrics", {}).get("languages")
    if not per:
        return ""
    totals: dict[str, int] = {}
    for counts in per.values():
        for lang, n in counts.items():
            totals[lang] = totals.get(lang, 0) + n
    top = sorted(totals, key=lambda k: -totals[k])[:15]
    fig, ax = figure(9, 3)
    bottom = np.zeros(len(top))
    for domain, counts in sorted(per.items()):
        values = np.array([counts.get(lang, 0) for lang in top])
        ax.bar(top, values, bottom=bottom, label=domain)
        bottom += values
    ax.set_ylabel("documents")
    ax.set_title("languages found by langid (before its filter), top 15")
    ax.legend(fontsize=8)
    rows = [[lang, _n(totals[lang])] for lang in top]
    return f"<h2>Languages</h2>{png(fig)}{table(['language', 'documents'], rows)}"


def perplexity(stats: dict) -> str:
    quality = _stage(stats, "quality")
    metrics = (quality or {}).get("metrics", {})
    hists = metrics.get("ppl_histogram", {}).get("domain")
    fit = metrics.get("fit")
    if not hists or not fit:
        return ""
    bins = fit["ppl_histogram_bins"]
    edges = bins["log10_start"] + bins["width"] * np.arange(bins["count"])
    fig, ax = figure(9, 3.2)
    for domain, counts in sorted(hists.items()):
        if sum(counts):
            ax.step(10**edges, counts, where="post", label=domain)
    ax.set_xscale("log")
    ax.set_xlabel("perplexity")
    ax.set_ylabel("documents")
    ax.set_title("perplexity of scored documents, by domain")
    ax.legend(fontsize=8)
    rows = []
    for group, docs in sorted(fit["group_docs"].items()):
        cuts = fit["cutoffs"].get(group)
        shown = [f"{c:,.1f}" for c in cuts] if cuts else ["(too few)", "(too few)"]
        rows.append([group, _n(docs), *shown])
    p = fit["percentiles"]
    buckets = metrics.get("buckets", {})
    brows = [
        [d, *(_n(c.get(b, 0)) for b in ("head", "middle", "tail", "none"))]
        for d, c in sorted(buckets.items())
    ]
    return (
        f"<h2>Perplexity</h2>{png(fig)}"
        f"{table(['language|domain', 'docs', f'p{p[0]:g}', f'p{p[1]:g}'], rows)}"
        f"{table(['domain', 'head', 'middle', 'tail', 'unscored'], brows)}"
    )


def classifier(stats: dict) -> str:
    """Score histograms per domain, what each keep policy dropped, top-percent cutoffs."""
    stage = _stage(stats, "classifier")
    metrics = (stage or {}).get("metrics", {})
    hists = metrics.get("score_histogram")
    if not hists:
        return ""
    low, high = classifier_score_range(metrics)
    fig, ax = figure(9, 3.0)
    for domain, counts in sorted(hists.items()):
        edges = low + (high - low) * np.arange(len(counts)) / len(counts)
        ax.step(edges, counts, where="post", label=domain)
    ax.set_xlabel("classifier score (a label's probability, or a regressor's value)")
    ax.set_ylabel("documents")
    ax.set_title("quality classifier scores, by domain (before the keep policy)")
    ax.legend(fontsize=8)
    rows = [
        [d, _n(v["in"]["docs"]), _n(v["kept"]["docs"]), _n(v["dropped"]["docs"])]
        for d, v in sorted(stage["domains"].items())
        if d in hists
    ]
    parts = [f"<h2>Quality classifier</h2>{png(fig)}", table(["domain", "scored", "kept", "dropped"], rows)]
    fit = metrics.get("fit")
    if fit:
        cut = fit["cutoff_score"]
        groups = [
            [g, _n(n), f"{cut[g]:.4g}" if g in cut else f"pooled {fit['pooled_cutoff_score']:.4g}"]
            for g, n in sorted(fit["group_docs"].items())
        ]
        parts.append(table([f"group (top {fit['keep_top']:g}% kept)", "docs", "lowest score kept"], groups))
    return "".join(parts)


def duplicates(stats: dict) -> str:
    dedup = _stage(stats, "dedup")
    if not dedup:
        return ""
    fit = dedup.get("metrics", {}).get("fit", {})
    rules = {r: v["docs"] for r, v in dedup["rules"].items()}
    removed = ", ".join(f"{r} {n:,}" for r, n in sorted(rules.items())) or "none"
    parts = [f"<h2>Duplicates</h2><p>removed: {removed}</p>"]
    hist = fit.get("cluster_size_histogram") or fit.get("cluster_sizes")
    if isinstance(hist, dict) and hist:
        sizes = sorted(hist, key=_bin_start)  # "2", ..., "8", "9-16", "17-32", ...
        fig, ax = figure(9, 2.8)
        ax.bar(range(len(sizes)), [hist[s] for s in sizes])
        ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
        ax.set_xlabel("cluster size")
        ax.set_ylabel("clusters")
        ax.set_yscale("log")
        ax.set_title("duplicate cluster sizes")
        parts.append(png(fig))
    largest = fit.get("largest_clusters")
    if largest:
        rows = [[c.get("cluster", c.get("id", "")), _n(c.get("size", 0))] for c in largest[:10]]
        parts.append(table(["largest clusters (kept document id)", "size"], rows))
    per_domain = [
        [d, _n(v["dropped"]["docs"]), human_bytes(v["dropped"]["bytes"])]
        for d, v in sorted(dedup["domains"].items())
    ]
    parts.append(table(["domain", "docs removed", "bytes removed"], per_domain))
    return "".join(parts)


def pii(stats: dict) -> str:
    stage = _stage(stats, "pii")
    if not stage:
        return ""
    metrics = stage.get("metrics", {})
    totals: dict[str, int] = {}
    for found in metrics.get("found", {}).values():  # {domain: {entity: n}}, secrets as SECRET_<TYPE>
        for entity, n in found.items():
            totals[entity] = totals.get(entity, 0) + int(n)
    if not totals:
        return "<h2>PII</h2><p>no PII found</p>"
    names = sorted(totals, key=lambda k: -totals[k])
    fig, ax = figure(9, 2.8)
    ax.barh(names[::-1], [totals[n] for n in names[::-1]])
    ax.set_xlabel("values replaced")
    ax.set_title("PII by entity type (counts only)")
    return f"<h2>PII</h2>{png(fig)}{table(['entity', 'count'], [[n, _n(totals[n])] for n in names])}"


def contamination(stats: dict) -> str:
    stage = _stage(stats, "decontam")
    if not stage:
        return ""
    metrics = stage.get("metrics", {})
    hits = metrics.get("hits_per_benchmark") or metrics.get("benchmarks") or {}
    flat = {b: (sum(v.values()) if isinstance(v, dict) else v) for b, v in hits.items()}
    if not flat:
        return "<h2>Benchmark contamination</h2><p>no benchmark text found</p>"
    names = sorted(flat, key=lambda k: -flat[k])
    fig, ax = figure(9, 2.8)
    ax.bar(names, [flat[n] for n in names])
    ax.set_ylabel("documents hit")
    ax.set_title("contamination hits per benchmark")
    rows_html = table(["benchmark", "hits"], [[n, _n(flat[n])] for n in names])
    return f"<h2>Benchmark contamination</h2>{png(fig)}{rows_html}"


def mixture(manifest: dict) -> str:
    mix = manifest.get("mix")
    if not mix:
        return ""
    domains = sorted(mix["domains"])
    target = [mix["domains"][d]["target_tokens"] for d in domains]
    achieved = [mix["domains"][d]["achieved_tokens"] for d in domains]
    fig, ax = figure(9, 3)
    x = np.arange(len(domains))
    ax.bar(x - 0.2, target, 0.4, label="target")
    ax.bar(x + 0.2, achieved, 0.4, label="achieved")
    ax.set_xticks(x, domains)
    ax.set_ylabel("training tokens")
    ax.set_title("mixture: target vs achieved tokens per domain")
    ax.legend(fontsize=8)
    rows = [
        [
            d,
            f"{r['weight']:.3f}",
            f"{r['share']:.3f}",
            _n(r["target_tokens"]),
            _n(r["achieved_tokens"]),
            _n(r["available_tokens"]),
            f"{r['epochs']:.2f}",
            _n(r["val_docs"]),
            _n(r["val_tokens"]),
        ]
        for d, r in sorted(mix["domains"].items())
    ]
    rows.append(
        ["all", "1.000", "1.000", _n(mix["target_tokens"]), _n(mix["achieved_tokens"]), "", "", "", ""]
    )
    header = [
        "domain",
        "weight",
        "share",
        "target",
        "achieved",
        "available",
        "epochs",
        "val docs",
        "val tokens",
    ]
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in mix.get("notes", []))
    return f"<h2>Mixture</h2>{png(fig)}{table(header, rows, total=True)}{notes}"


def shards(manifest: dict) -> str:
    if "shards" not in manifest:
        return ""
    rows = [
        [s["path"], s["split"], _n(s["docs"]), _n(s["tokens"]), s["sha256"][:16]] for s in manifest["shards"]
    ]
    tok = manifest["tokenizer"]
    head = (
        f"<p>tokenizer <code>{html.escape(tok['path'])}</code>: vocabulary {tok['vocab_size']:,}, "
        f"tokens stored as {tok['token_type']}, sha256 {tok['sha256'][:16]}…</p>"
    )
    chart = ""
    histogram = manifest.get("length_histogram", {})
    if histogram.get("train"):  # summed per domain by the workers that wrote the shards
        fig, ax = figure(9, 3)
        edges = np.array(histogram["edges"])
        for d, counts in sorted(histogram["train"].items()):
            ax.stairs(np.array(counts), edges, label=d)
        ax.set_xscale("log")
        ax.set_xlabel("tokens per document (training samples)")
        ax.set_ylabel("documents")
        ax.set_title("document lengths")
        ax.legend(fontsize=8)
        chart = "<h2>Document lengths</h2>" + png(fig)
    return f"<h2>Shards</h2>{head}{table(['file', 'split', 'docs', 'tokens', 'sha256'], rows)}{chart}"


def _bin_start(label: str) -> int:
    """The smallest size in a histogram bin: `"7"` -> 7, `"9-16"` -> 9."""
    return int(label.split("-", 1)[0])


def write_report(out: Path) -> Path:
    """Build OUT/report.html from the run's files; returns its path."""
    stats = read_json(out / "stats.json")
    manifest = read_json(out / "manifest.json") if (out / "manifest.json").is_file() else {}
    docs = stats["output"]["documents"]
    kpis = [
        ("documents read", _n(stats["stages"][0]["in"]["docs"])),
        ("kept", _n(docs["docs"])),
        ("rejected", _n(stats["output"]["rejected"]["docs"])),
        ("text kept", human_bytes(docs["bytes"])),
    ]
    if "splits" in manifest:
        kpis += [
            ("training tokens", _n(manifest["splits"]["train"]["tokens"])),
            ("shards", _n(len(manifest["shards"]))),
        ]
    header = "".join(f'<div class="kpi"><b>{html.escape(v)}</b>{html.escape(k)}</div>' for k, v in kpis)
    body = [
        f"<h1>prep report</h1><p class='note'>config {html.escape(str(stats.get('config')))}, "
        f"prep {html.escape(stats.get('prep_version', ''))}</p>{header}",
        funnel(stats),
        languages(stats),
        perplexity(stats),
        classifier(stats),
        duplicates(stats),
        pii(stats),
        contamination(stats),
        mixture(manifest),
        shards(manifest),
    ]
    return write_page(out / "report.html", "prep report", body)
