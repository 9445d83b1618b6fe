"""OUT/report.html and the terminal table of an ablation, from the ablate.json summary.

The page is self-contained like the run report (charts as embedded PNG, no script, nothing
fetched): the ranking, validation scores per domain and variant, the mixtures trained,
the regression's fit quality and the mixture it predicts to be best (not trained).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from prep.pipeline.html_page import figure, png, table, write_page


def _f(x: Any, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _ok(summary: dict) -> list[dict]:
    return sorted((v for v in summary["variants"] if v["status"] == "ok"), key=lambda v: v["rank"])


def ranking(summary: dict) -> str:
    ok, metric = _ok(summary), summary["metric"]
    domains = list(summary["overall"]["weights"])
    header = ["rank", "variant", "source", f"overall {metric}", *domains, "train loss", *(
        f"{d} share" for d in summary["domains"])]  # fmt: skip
    rows = [
        [v["rank"], v["name"], v["source"], _f(v["overall"]), *(_f(v["val"][d][metric]) for d in domains),
         _f(v["train_loss"]), *(f"{v['shares'][d]:.3f}" for d in summary["domains"])]
        for v in ok
    ]  # fmt: skip
    how = summary["overall"]["how"]
    note = {
        "mean": "the mean over domains",
        "tokens": "weighted by each domain's validation tokens",
        "base": "weighted by the base mixture's weights",
    }[how]
    body = [f"<h2>Ranking</h2><p class='note'>Validation {metric} per domain; overall is {note}. "
            "Lower is better. Shares are the training tokens each variant achieved.</p>",
            table(header, rows, left=3)]  # fmt: skip
    failed = [v for v in summary["variants"] if v["status"] != "ok"]
    if failed:
        body.append("<h2>Variants without a result</h2>")
        for v in failed:
            body.append(
                f"<p><b>{html.escape(v['name'])}</b>: {html.escape(v['status'])}</p>"
                f"<pre>{html.escape(v['reason'] or '')}</pre>"
            )
    return "".join(body)


def score_chart(summary: dict) -> str:
    ok, metric = _ok(summary), summary["metric"]
    if not ok:
        return ""
    domains = [*summary["overall"]["weights"], "overall"]
    fig, ax = figure(10, 3.6)
    width = 0.8 / len(ok)
    x = np.arange(len(domains))
    for i, v in enumerate(ok):
        values = [v["val"][d][metric] for d in domains[:-1]] + [v["overall"]]
        ax.bar(x + (i - (len(ok) - 1) / 2) * width, values, width, label=f"#{v['rank']} {v['name']}")
    low = min(min(v["val"][d][metric] for d in domains[:-1]) for v in ok)
    ax.set_ylim(bottom=max(0.0, low * 0.9))
    ax.set_xticks(x, domains)
    ax.set_ylabel(f"validation {metric}")
    ax.legend(fontsize=8, ncol=min(6, len(ok)), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return f"<h2>Validation {html.escape(metric)} per domain</h2>{png(fig)}"


def mixture_chart(summary: dict) -> str:
    rows = [(f"#{v['rank']} {v['name']}", v["shares"]) for v in _ok(summary)]
    reg = summary.get("regression") or {}
    if reg.get("fitted"):
        rows.append(("predicted best (not trained)", reg["predicted_best"]["weights"]))
    if not rows:
        return ""
    domains = summary["domains"]
    fig, ax = figure(10, 0.45 * len(rows) + 1.2)
    left = np.zeros(len(rows))
    for d in domains:
        share = np.array([r[1].get(d, 0.0) for r in rows])
        ax.barh([r[0] for r in rows], share, left=left, label=d)
        left += share
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of training tokens")
    ax.legend(fontsize=8, ncol=len(domains), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return f"<h2>Mixtures</h2>{png(fig)}"


def regression_section(summary: dict) -> str:
    reg = summary.get("regression") or {}
    if not reg.get("fitted"):
        return f"<h2>Regression</h2><p class='note'>{html.escape(reg.get('warning') or 'not fitted')}</p>"
    best = reg["predicted_best"]
    metric = summary["metric"]
    parts = [
        "<h2>Regression (RegMix style)</h2>",
        f"<p class='note'>Per-domain validation {metric} fitted as a ridge regression (alpha "
        f"{reg['alpha']}) on {'log(share + 0.01)' if reg['features'] == 'log' else 'the shares'} of "
        f"{reg['n_variants']} trained variants; {reg['params_per_domain']} parameters per domain.</p>",
    ]
    if reg["warning"]:
        parts.append(f"<p><b>Caution:</b> {html.escape(reg['warning'])}</p>")
    inputs = reg["inputs"]
    rows = [
        [d, _f(m["r2"], 3), _f(m["loo_rmse"]), _f(m["intercept"]), *(_f(m["coef"][x]) for x in inputs)]
        for d, m in reg["domains"].items()
    ]
    rows.append(["overall", "", _f(reg["loo_rmse_overall"]), "", *([""] * len(inputs))])
    parts.append(table(["domain", "R²", "LOO RMSE", "intercept", *(f"coef {x}" for x in inputs)], rows))
    parts.append(
        f"<h2>Predicted best mixture (not trained)</h2><p class='note'>Searched over "
        f"{best['candidates']:,} mixtures inside the range of shares the variants trained on "
        "(no extrapolation), then refined; train it before relying on it.</p>"
    )
    rows = [
        [d, f"{best['weights'][d]:.3f}", f"{lo:.3f} – {hi:.3f}"] for d, (lo, hi) in best["region"].items()
    ]
    parts.append(table(["domain", "weight", "searched range"], rows))
    rows = [[d, _f(v)] for d, v in best["domains"].items()] + [["overall", _f(best["overall"])]]
    parts.append(table(["domain", f"predicted {metric}"], rows, total=True))
    ok = _ok(summary)
    fig, ax = figure(4.5, 4)
    observed = [v["overall"] for v in ok]
    fitted = [reg["fitted_overall"][v["name"]] for v in ok]
    ax.scatter(observed, fitted)
    for v, x, y in zip(ok, observed, fitted, strict=True):
        ax.annotate(v["name"], (x, y), fontsize=7)
    lo, hi = min(observed + fitted), max(observed + fitted)
    ax.plot([lo, hi], [lo, hi], color="#999", lw=1)
    ax.set_xlabel(f"observed overall {metric}")
    ax.set_ylabel(f"fitted overall {metric}")
    parts.append(png(fig))
    return "".join(parts)


def data_section(summary: dict) -> str:
    val = summary.get("validation") or {}
    parts = ["<h2>Data</h2>"]
    ok = _ok(summary)
    if val:
        parts.append(
            f"<p class='note'>Every variant holds the same {sum(val['docs'].values()):,} validation "
            f"documents (ids checked identical across {val['variants']} variants; sha256 "
            f"{val['ids_sha256'][:16]}…); the proxies score each domain's documents up to "
            f"eval_tokens ({summary['proxy']['eval_tokens'] or 'all'}), the same ones for every variant.</p>"
        )
        scored = ok[0]["val"] if ok else {}
        rows = [
            [d, n, scored.get(d, {}).get("docs", "—"), scored.get(d, {}).get("tokens", "—")]
            for d, n in val["docs"].items()
        ]
        parts.append(table(["domain", "validation docs", "scored docs", "scored tokens"], rows))
    rows = []
    for v in summary["variants"]:
        reused = ", ".join(f"{p['label']} {'reused' if p['reused'] else 'computed'}" for p in v["passes"])
        seconds = v["seconds"]
        rows.append([v["name"], reused or "—", _f(seconds.get("remix"), 1), _f(seconds.get("train"), 1)])
    parts.append(table(["variant", "passes", "re-mix s", "proxy s"], rows, left=2))
    return "".join(parts)


def write_report(out: Path, summary: dict) -> Path:
    best = summary.get("best")
    reg = summary.get("regression") or {}
    kpis = [
        ("variants", str(len(summary["variants"]))),
        ("trained", str(sum(v["status"] == "ok" for v in summary["variants"]))),
        ("best", best or "—"),
    ]
    header = "".join(f'<div class="kpi"><b>{html.escape(v)}</b>{html.escape(k)}</div>' for k, v in kpis)
    proxy = summary["proxy"]
    shape = ", ".join(f"{k} {proxy[k]}" for k in ("model", "seq_len", "batch_size", "steps", "seed"))
    body = [
        f"<h1>prep ablation</h1><p class='note'>base {html.escape(str(summary['base']))}, "
        f"proxy {html.escape(shape)}, prep {html.escape(summary['prep_version'])}</p>{header}",
        ranking(summary),
        score_chart(summary),
        mixture_chart(summary),
        regression_section(summary) if reg else "",
        data_section(summary),
    ]
    return write_page(out / "report.html", "prep ablation", body)


def print_ranking(summary: dict, console: Console | None = None) -> None:
    """The ranking, failures and the predicted best mixture in the terminal."""
    console = console or Console()
    metric = summary["metric"]
    domains = list(summary["overall"]["weights"])
    ranking = Table(title=f"prep ablate: validation {metric} (lower is better)", title_justify="left")
    for name in ("rank", "variant", f"overall ({summary['overall']['how']})", *domains):
        ranking.add_column(name, justify="left" if name == "variant" else "right", no_wrap=name == "variant")
    for v in _ok(summary):
        ranking.add_row(
            str(v["rank"]), v["name"], _f(v["overall"]), *(_f(v["val"][d][metric]) for d in domains)
        )
    for v in summary["variants"]:
        if v["status"] != "ok":
            ranking.add_row("—", v["name"], v["status"], *([""] * len(domains)))
    console.print(ranking)
    for v in summary["variants"]:
        if v["status"] != "ok":
            console.print(f"{v['name']}: {v['status']}: {v['reason'] or ''}", markup=False, highlight=False)
    reg = summary.get("regression") or {}
    if reg.get("fitted"):
        best = reg["predicted_best"]
        mix = ", ".join(f"{d} {w:.3f}" for d, w in best["weights"].items())
        console.print(
            f"predicted best (not trained): {mix}; predicted overall {best['overall']:.4f}",
            markup=False,
            highlight=False,
        )
    if reg.get("warning"):
        console.print(f"regression: {reg['warning']}", markup=False, highlight=False)
