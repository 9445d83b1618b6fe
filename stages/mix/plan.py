"""The mixture plan: which documents are validation, and how often each training
document is sampled, so that each domain gets its share of the token budget.

Everything is decided by per-document hashes of (seed, id) and per-domain thresholds,
so the plan is a few numbers per domain (the `apply` workers need nothing else), does
not depend on how the data was split into blocks, and picks the same validation
documents for every mixture of the same documents.

- Validation: per domain, the `val_fraction` of documents (at least `val_min_docs`, and
  never all of them) with the smallest validation hash; chosen before any upsampling.
- Training: a domain that needs e = target / available epochs gets floor(e) copies of
  every document, plus one more copy of the documents with the smallest sampling hash
  whose tokens add up closest to the fractional part (downsampling is e < 1: whole
  documents without replacement).
- A target that needs more than `max_epochs` cannot be met: `error` stops the run with
  the table of targets; `renormalise` caps the domain at max_epochs and gives what is
  missing to the other domains in proportion to their weights.

`val_threshold` and `partial_threshold` state the two choices on a domain's arrays; the fit
(`fit.py`) makes exactly the same choices from histograms of the hashes and the few
documents near each cut (`threshold_between`, `partial_in_bin`), so that no per-document
list ever reaches the driver.
"""

from __future__ import annotations

import math

import numpy as np


class MixError(ValueError):
    """The mixture cannot be met with the data and the configured policy."""


def val_threshold(u_val: np.ndarray, fraction: float, min_docs: int) -> tuple[float, int]:
    """A threshold below which exactly the validation documents' hashes fall."""
    k = val_count(len(u_val), fraction, min_docs)
    if k == 0:
        return 0.0, 0
    ordered = np.sort(u_val)
    return float((ordered[k - 1] + ordered[k]) / 2), k


def partial_threshold(u_mix: np.ndarray, tokens: np.ndarray, want: float) -> tuple[float, int]:
    """The hash threshold whose documents (smallest hashes first) sum closest to `want`
    tokens, and that sum. Documents with a hash below the threshold are taken."""
    if want <= 0 or len(u_mix) == 0:
        return 0.0, 0
    order = np.argsort(u_mix, kind="stable")
    sums = np.concatenate([[0], np.cumsum(tokens[order])])  # sums[j]: the first j documents
    j = int(np.argmin(np.abs(sums - want)))
    threshold = float(u_mix[order[j]]) if j < len(order) else 1.0
    return threshold, int(sums[j])


def targets(
    weights: dict[str, float], available: dict[str, int], total: float, max_epochs: float, policy: str
):
    """Per-domain token targets; raises MixError (policy error) or renormalises."""
    caps = {d: available.get(d, 0) * max_epochs for d in weights}
    want = {d: total * w for d, w in weights.items()}
    short = {d: t for d, t in want.items() if t > caps[d] * (1 + 1e-9)}
    if not short:
        return want, []
    if policy == "error":
        raise MixError(_shortfall_message(want, available, caps, max_epochs))
    notes = []
    fixed: dict[str, float] = {}
    while True:  # water-filling: cap, then share what is missing among the rest by weight
        free = {d: w for d, w in weights.items() if d not in fixed}
        left = total - sum(fixed.values())
        norm = sum(free.values())
        want = {**fixed, **{d: left * w / norm for d, w in free.items()}} if norm > 0 else dict(fixed)
        over = [d for d in free if want[d] > caps[d] * (1 + 1e-9)]
        if not over:
            break
        for d in over:
            fixed[d] = caps[d]
            notes.append(f"{d}: capped at {max_epochs:g} epochs ({caps[d]:,.0f} tokens)")
        if len(fixed) == len(weights):
            want = dict(fixed)
            notes.append(f"every domain is capped: {sum(fixed.values()):,.0f} tokens instead of {total:,.0f}")
            break
    return want, notes


def _shortfall_message(want, available, caps, max_epochs) -> str:
    lines = [f"the mixture cannot be met with max_epochs {max_epochs:g} (mix.policy: error):"]
    lines.append(
        f"  {'domain':<12}{'target':>14}{'available':>14}{'max (x epochs)':>16}{'epochs needed':>15}"
    )
    for d in sorted(want):
        need = want[d] / available[d] if available.get(d) else math.inf
        mark = "  <- short" if want[d] > caps[d] * (1 + 1e-9) else ""
        lines.append(
            f"  {d:<12}{want[d]:>14,.0f}{available.get(d, 0):>14,}{caps[d]:>16,.0f}{need:>15.2f}{mark}"
        )
    lines.append(
        "  lower mix.target_tokens, raise mix.max_epochs, change mix.weights, or set mix.policy: renormalise"
    )
    return "\n".join(lines)


def val_count(n: int, fraction: float, min_docs: int) -> int:
    """How many of a domain's `n` documents are validation documents."""
    if n < 2 or fraction <= 0:
        return 0
    return min(max(min_docs, round(fraction * n)), n - 1)


def threshold_between(values: np.ndarray, below: int, k: int) -> float:
    """`val_threshold`'s cut from the values near it: `values` are every hash in the bins
    holding the k-th and (k+1)-th smallest, `below` the count of hashes in lower bins."""
    ordered = np.sort(values)
    return float((ordered[k - 1 - below] + ordered[k - below]) / 2)


def partial_in_bin(u_mix: np.ndarray, tokens: np.ndarray, before: int, want: float, upper: float):
    """`partial_threshold` from the one bin where the running token sum crosses `want`:
    `before` is the tokens of every document in lower bins, `u_mix`/`tokens` the documents of
    this bin, `upper` the bin's upper edge (the threshold when the whole bin is taken)."""
    order = np.argsort(u_mix, kind="stable")
    sums = before + np.concatenate([[0], np.cumsum(tokens[order])])
    j = int(np.argmin(np.abs(sums - want)))
    threshold = float(u_mix[order[j]]) if j < len(order) else upper
    return threshold, int(sums[j])


#: A domain whose drawn tokens miss its target by more than this share gets a note.
MISS_TOLERANCE = 0.10


def missed_targets(report: dict[str, dict], tolerance: float = MISS_TOLERANCE) -> list[str]:
    """Notes for the domains whose achieved tokens miss their target by more than `tolerance`.

    Documents are drawn whole, so a domain whose tokens sit in a few long documents can only
    come close by the size of the next one in sampling order (a 35,000-token target from a
    domain of 40 documents, one of them 200,000 tokens long, drew 9,417). Said, not hidden:
    cutting documents would change what a document is."""
    notes = []
    for d, r in sorted(report.items()):
        target, achieved = r["target_tokens"], r["achieved_tokens"]
        if target > 0 and abs(achieved - target) > tolerance * target:
            notes.append(
                f"{d}: drew {achieved:,} training tokens for a target of {target:,} "
                f"({achieved / target:.0%}): documents are drawn whole and this domain's "
                f"{r['train_docs']:,} training documents hold {r['available_tokens']:,} tokens"
            )
    return notes


def domain_report(counts: dict, target: float, full: int, partial: int) -> dict:
    """The manifest's line for one domain, from its counts and what was drawn."""
    available = counts["available_tokens"]
    achieved = full * available + partial
    return {
        "docs": counts["docs"],
        "val_docs": counts["val_docs"],
        "val_tokens": counts["val_tokens"],
        "train_docs": counts["docs"] - counts["val_docs"],
        "available_tokens": available,
        "target_tokens": round(target),
        "achieved_tokens": achieved,
        "epochs": round(achieved / available, 4) if available else 0.0,
    }
