"""CCNet's head/middle/tail buckets: perplexity percentiles of this run's own documents.

Percentiles need every score, so they are a barrier; the fit reads only the `ppl`,
`lang` and `domain` columns (never the text). It holds no score per document: Ray workers
count scores in fine log10 bins, the driver keeps groups x 6,000 counts and reads back
only the scores of the few bins the percentiles fall in (`fit_cutoffs`), so the cutoffs
equal `numpy.percentile` over every score at any corpus size. A group smaller than
`min_docs` borrows the cutoffs of its language pooled over domains; a language with too
few documents even then gets no bucket.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prep.core.aggregate import sum_blocks
from prep.core.records import group_key, group_keys

BUCKETS = ("head", "middle", "tail")
#: log10(perplexity) histogram bins reported to stats: [0, 0.1), [0.1, 0.2), ... [5.9, inf).
HIST_BINS = 60
HIST_WIDTH = 0.1


class BucketConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    percentiles: list[float] = Field(default=[30.0, 60.0], min_length=2, max_length=2)
    by: list[Literal["lang", "domain"]] = Field(default=["lang", "domain"], min_length=1)
    min_docs: int = Field(default=20, ge=1)  # smaller groups use their language's pooled cutoffs
    keep: list[Literal["head", "middle", "tail"]] = Field(default=list(BUCKETS), min_length=1)

    @field_validator("percentiles")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if not 0 < v[0] < v[1] < 100:
            raise ValueError("two increasing percentiles strictly between 0 and 100, e.g. [30, 60]")
        return v


#: Fit histogram: log10(perplexity) in bins of 0.001 over [0, 6) (the last bin takes the rest).
FIT_BINS = 6000
FIT_WIDTH = 0.001


def _fit_bins(ppl: np.ndarray) -> np.ndarray:
    return np.clip((np.log10(np.maximum(ppl, 1.0)) / FIT_WIDTH).astype(np.int64), 0, FIT_BINS - 1)


def _scored_rows(batch: pa.Table, by: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The perplexities of a batch's scored rows with their group and language keys."""
    ppl = batch.column("ppl").to_numpy(zero_copy_only=False).astype(np.float64)
    keys = np.array(group_keys(batch, by), dtype=object)
    lang_keys = np.array([la or "?" for la in batch.column("lang").to_pylist()], dtype=object)
    scored = ~np.isnan(ppl)
    return ppl[scored], keys[scored], lang_keys[scored]


def _histograms(batch: pa.Table, by: list[str]) -> dict:
    """One block's counts per bin, per group and per language: what the fit sums."""
    ppl, keys, langs = _scored_rows(batch, by)
    bins = _fit_bins(ppl)
    return {
        kind: {k: np.bincount(bins[names == k], minlength=FIT_BINS) for k in set(names)}
        for kind, names in (("group", keys), ("lang", langs))
    }


def _order_statistics(n: int, percentiles: list[float]) -> list[tuple[int, int, float]]:
    """numpy's linear method: per percentile, the two ranks it interpolates between and the weight."""
    out = []
    for q in np.asarray(percentiles, dtype=np.float64) / 100:
        virtual = q * (n - 1)
        lo = int(np.floor(virtual))
        out.append((lo, min(lo + 1, n - 1), float(virtual - lo)))
    return out


def _lerp(a: float, b: float, t: float) -> float:
    """numpy.percentile's interpolation, the same float operations (bit-identical cutoffs)."""
    diff = np.float64(b) - np.float64(a)
    return float(np.float64(b) - diff * (1 - t)) if t >= 0.5 else float(np.float64(a) + diff * t)


def fit_cutoffs(data, config: BucketConfig) -> tuple[dict, dict]:
    """State for `assign` (per group and per language, the perplexities at the two
    percentiles) and what was seen, for stats.

    Exact (equal to `numpy.percentile` over every score) without gathering the scores: Ray
    Data sums per-block log10 histograms (0.001 wide) per group and language, the driver
    finds the bins that hold the ranks each percentile interpolates between, and only the
    scores in those bins are read back, at most a few bins per group.
    """
    by = list(config.by)
    hists = sum_blocks(data, lambda b: _histograms(b, by), "ppl_histograms") or {}
    groups: dict[str, np.ndarray] = hists.get("group", {})
    by_lang: dict[str, np.ndarray] = hists.get("lang", {})
    docs = {key: int(h.sum()) for key, h in sorted(groups.items())}
    wanted = {("group", k): h for k, h in groups.items() if h.sum() >= config.min_docs}
    wanted |= {("lang", k): h for k, h in by_lang.items() if h.sum() >= config.min_docs}
    plans = {}  # (kind, key) -> its order statistics, the bin of each rank, cumulative counts
    needed: dict[tuple[str, str], set[int]] = {}
    for slot, hist in wanted.items():
        stats = _order_statistics(int(hist.sum()), config.percentiles)
        cum = np.cumsum(hist)
        ranks = {r for lo, hi, _ in stats for r in (lo, hi)}
        bins = {r: int(np.searchsorted(cum, r, side="right")) for r in ranks}
        plans[slot] = (stats, bins, cum)
        needed[slot] = set(bins.values())
    values = _values_in_bins(data, by, needed)
    cutoffs: dict[str, list[float]] = {}
    pooled: dict[str, list[float]] = {}
    for (kind, key), (stats, bins, cum) in sorted(plans.items()):
        at = {r: _ranked(values[(kind, key, b)], r, int(cum[b - 1]) if b else 0) for r, b in bins.items()}
        cuts = [_lerp(at[lo], at[hi], t) for lo, hi, t in stats]
        (cutoffs if kind == "group" else pooled)[key] = cuts
    small = sorted(k for k in docs if k not in cutoffs)
    metrics = {
        "percentiles": list(config.percentiles),
        "by": by,
        "group_docs": docs,
        "cutoffs": cutoffs,
        "language_cutoffs": pooled,
        "small_groups": small,
        "ppl_histogram_bins": {"log10_start": 0.0, "width": HIST_WIDTH, "count": HIST_BINS},
    }
    return {"cutoffs": cutoffs, "language_cutoffs": pooled}, metrics


def _ranked(sorted_cell: np.ndarray, rank: int, below: int) -> float:
    """The value of a rank from the sorted values of its bin and the count of lower bins."""
    return float(sorted_cell[rank - below])


def _values_in_bins(data, by: list[str], needed: dict[tuple[str, str], set[int]]) -> dict:
    """The sorted perplexities of the (group or language, bin) cells the percentiles fall in."""
    if not needed:
        return {}
    group_cells = {(k, b) for (kind, k), bins in needed.items() if kind == "group" for b in bins}
    lang_cells = {(k, b) for (kind, k), bins in needed.items() if kind == "lang" for b in bins}

    def pick(batch: pa.Table) -> dict:
        ppl, keys, langs = _scored_rows(batch, by)
        bins = _fit_bins(ppl)
        cells: dict[tuple[str, str, int], list[float]] = {}
        for value, key, lang, b in zip(ppl, keys, langs, bins, strict=True):
            for kind, k, wanted in (("group", key, group_cells), ("lang", lang, lang_cells)):
                if (k, int(b)) in wanted:
                    cells.setdefault((kind, k, int(b)), []).append(float(value))
        return cells

    cells = sum_blocks(data, pick, "ppl_cells") or {}  # lists concatenate in any order: sorted below
    return {cell: np.sort(np.array(v, dtype=np.float64)) for cell, v in cells.items()}


def assign(table: pa.Table, by: list[str], state: dict) -> list[str | None]:
    """The bucket of each row (None: no perplexity, or no cutoffs for its group)."""
    cutoffs, language_cutoffs = state["cutoffs"], state["language_cutoffs"]
    ppl = table.column("ppl").to_numpy(zero_copy_only=False).astype(np.float64)
    langs = table.column("lang").to_pylist()
    domains = table.column("domain").to_pylist()
    out: list[str | None] = []
    for value, lang, domain in zip(ppl, langs, domains, strict=True):
        cuts = cutoffs.get(group_key(lang, domain, by)) or language_cutoffs.get(lang or "?")
        if np.isnan(value) or cuts is None:
            out.append(None)
        else:
            out.append(BUCKETS[int(np.searchsorted(cuts, value, side="right"))])
    return out


def histogram(ppl: np.ndarray) -> list[int]:
    """Counts of log10(perplexity) in HIST_BINS bins of HIST_WIDTH (NaN left out)."""
    values = np.log10(ppl[~np.isnan(ppl)])
    bins = np.clip((values / HIST_WIDTH).astype(np.int64), 0, HIST_BINS - 1)
    return np.bincount(bins, minlength=HIST_BINS).tolist()
