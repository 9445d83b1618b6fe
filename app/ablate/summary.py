"""ablate.json from the variants' results: scores per domain, the overall score and rank, the
best variant, and the RegMix-style regression with the mixture it predicts to be best.

Scores are the proxies' validation `loss` (nats per token; every variant shares one
tokenizer) or `bpb`; `overall` combines them with the same domain weights for trained and
predicted mixtures. The regression's inputs are the shares each variant *achieved* (what
its proxy trained on, after any renormalisation), not the weights it asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prep import __version__
from prep.ablate.config import Ablation, Variant
from prep.ablate.regression import fit_mixture, search_best


@dataclass
class VariantResult:
    """What the ablation learned about one variant, filled in as it goes."""

    variant: Variant
    data: Path  # the variant's prep output: manifest.json, shards/
    proxy: Path  # the proxy's run folder
    status: str = "pending"  # pending -> ok | infeasible (the mix cannot be met) | failed (the proxy)
    reason: str | None = None
    passes: list[dict] = field(default_factory=list)  # label, reused, seconds of each pass of its run
    mix: dict = field(default_factory=dict)  # the variant manifest's mix section
    val_ids: list[tuple[str, str]] = field(default_factory=list)  # (domain, id) in shard order
    summary: dict | None = None  # the proxy's summary.json
    seconds: dict[str, float] = field(default_factory=dict)

    def shares(self, domains: tuple[str, ...]) -> dict[str, float]:
        got = self.mix.get("domains", {})
        return {d: float(got.get(d, {}).get("share", 0.0)) for d in domains}


def domain_scores(r: VariantResult, metric: str) -> dict[str, float]:
    assert r.summary is not None
    return {d: float(m[metric]) for d, m in r.summary["val"]["domains"].items()}


def overall_weights(ab: Ablation, val_domains: list[str], val_tokens: dict[str, int]) -> np.ndarray:
    """How the per-domain scores add up to one number (the same for trained and predicted mixtures)."""
    how = ab.config.overall
    if how == "mean":
        w = np.ones(len(val_domains))
    elif how == "tokens":
        w = np.array([val_tokens[d] for d in val_domains], np.float64)
    else:
        assert ab.base_weights is not None
        w = np.array([ab.base_weights.get(d, 0.0) for d in val_domains], np.float64)
    return w / w.sum()


def regression(
    ab: Ablation, ok: list[VariantResult], val_domains: list[str], omega: np.ndarray | None
) -> dict:
    """Fit per-domain scores on the achieved shares; the best mixture it predicts, with caveats."""
    rc = ab.config.regression
    inputs = list(ab.domains)
    if len(ok) < 2 or omega is None:
        return {"fitted": False, "warning": f"{len(ok)} completed variant(s): at least 2 are needed to fit"}
    shares = np.array([[r.shares(ab.domains)[d] for d in inputs] for r in ok])
    scores = np.array([[domain_scores(r, ab.config.metric)[d] for d in val_domains] for r in ok])
    fit = fit_mixture(shares, scores, inputs, val_domains, rc.features, rc.alpha)
    best = search_best(fit, omega, shares, rc.candidates, rc.seed)
    warnings = []
    if not fit.trusted:
        warnings.append(
            f"{fit.n} variants for {fit.params_per_domain} parameters per domain: too few to trust the fit "
            f"(at least {2 * fit.params_per_domain} wanted); the predicted best is a hint, not a result."
        )
    overall = scores @ omega
    loo_overall = None
    if fit.loo_errors is not None:
        loo_overall = float(np.sqrt(np.mean((fit.loo_errors @ omega) ** 2)))
        if loo_overall >= overall.std():
            warnings.append(
                f"Leave-one-out error of the overall score ({loo_overall:.4f}) is not below the spread "
                f"between variants ({overall.std():.4f}): the fit predicts no better than their mean."
            )
    fitted = fit.predict(shares) @ omega
    return {
        "fitted": True,
        "features": rc.features,
        "alpha": rc.alpha,
        "inputs": inputs,
        "variants": [r.variant.name for r in ok],
        "n_variants": fit.n,
        "params_per_domain": fit.params_per_domain,
        "trusted": fit.trusted,
        "warning": " ".join(warnings) or None,
        "domains": {
            d: {
                "intercept": float(fit.intercept[j]),
                "coef": {x: float(fit.coef[j, i]) for i, x in enumerate(inputs)},
                "r2": fit.r2[d],
                "loo_rmse": fit.loo_rmse[d],
            }
            for j, d in enumerate(val_domains)
        },
        "loo_rmse_overall": loo_overall,
        "fitted_overall": {r.variant.name: float(v) for r, v in zip(ok, fitted, strict=True)},
        "predicted_best": {
            "label": "predicted best (not trained)",
            "weights": {d: float(x) for d, x in zip(inputs, best.shares, strict=True)},
            "domains": {d: float(x) for d, x in zip(val_domains, best.predicted, strict=True)},
            "overall": best.overall,
            "candidates": best.candidates,
            "region": {
                d: [float(lo), float(hi)] for d, lo, hi in zip(inputs, best.low, best.high, strict=True)
            },
        },
    }


def _variant_entry(ab: Ablation, r: VariantResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": r.variant.name,
        "source": r.variant.source,
        "status": r.status,
        "reason": r.reason,
        "weights": r.variant.weights or ab.base_weights or "natural shares",
        "data": str(r.data),
        "proxy": str(r.proxy),
        "passes": r.passes,
        "upstream_reused": all(p["reused"] for p in r.passes[:-1]) if r.passes else None,
        "seconds": r.seconds,
    }
    if r.mix:
        entry["shares"] = r.shares(ab.domains)
        entry["mix"] = {
            "target_tokens": r.mix.get("target_tokens"),
            "achieved_tokens": r.mix.get("achieved_tokens"),
            "epochs": {d: v.get("epochs") for d, v in sorted(r.mix.get("domains", {}).items())},
            "notes": r.mix.get("notes", []),
        }
    if r.status == "ok" and r.summary is not None:
        entry["val"] = r.summary["val"]["domains"]
        entry["val_all"] = {"loss": r.summary["val"]["loss"], "bpb": r.summary["val"]["bpb"]}
        for key, field_name in (
            ("train_loss", "train_loss"),
            ("tokens_trained", "tokens"),
            ("params", "params"),
        ):
            entry[key] = r.summary.get(field_name)
        entry["device"] = r.summary.get("device")
    return entry


def summarize(ab: Ablation, results: list[VariantResult], validation: dict, resources: dict) -> dict:
    """ablate.json: every variant with its mixture, scores and rank; the best; the regression."""
    ok = [r for r in results if r.status == "ok"]
    val = ok[0].summary["val"]["domains"] if ok and ok[0].summary else {}
    val_domains = sorted(val)
    omega = overall_weights(ab, val_domains, {d: int(m["tokens"]) for d, m in val.items()}) if ok else None
    overall = {}
    for r in ok:
        scores = domain_scores(r, ab.config.metric)
        overall[r.variant.name] = float(np.dot([scores[d] for d in val_domains], omega))
    ranked = sorted(overall, key=overall.__getitem__)
    variants = [_variant_entry(ab, r) for r in results]
    for entry in variants:
        if entry["name"] in overall:
            entry["overall"] = overall[entry["name"]]
            entry["rank"] = ranked.index(entry["name"]) + 1
    by_rank = sorted(ok, key=lambda r: overall[r.variant.name])
    proxy = ab.proxy_config(Path("-"), Path("-")).model_dump(mode="json", exclude={"data", "out"})
    return {
        "prep_version": __version__,
        "config": ab.config.model_dump(mode="json"),
        "config_path": ab.path,
        "base": ab.config.base,
        "domains": list(ab.domains),
        "metric": ab.config.metric,
        "overall": {
            "how": ab.config.overall,
            "weights": {} if omega is None else dict(zip(val_domains, map(float, omega), strict=True)),
        },
        "proxy": proxy,
        "resources_per_proxy": resources,
        "validation": validation,
        "variants": variants,
        "ranking": ranked,
        "best": ranked[0] if ranked else None,
        "regression": regression(ab, by_rank, val_domains, omega),
    }
