"""Which scored documents the classifier keeps: by threshold, by GPT-3's Pareto draw, or the
top percent of each (language, domain) group.

A regression head's raw values (FineWeb-Edu's 0-5) use the same bins without the logit.

The top-percent cutoffs come from score histograms, never from the scores themselves: Ray
Data sums each block's histograms per group (`core.aggregate.sum_blocks`), so the driver
holds groups x `LOGIT_BINS` counts whatever the corpus size. Bins are on the logit scale
(width 0.01 from -20 to 20): a fastText classifier puts much of a corpus within 1e-4 of
0 or 1, where linear bins would lump it together. The kept share of a group exceeds the
target by at most the documents of one bin (odds within 1% of each other).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from prep.core.records import group_keys

LOGIT_MIN, LOGIT_MAX, LOGIT_WIDTH = -20.0, 20.0, 0.01
LOGIT_BINS = 4000  # (LOGIT_MAX - LOGIT_MIN) / LOGIT_WIDTH
#: Linear score histogram for stats.json and the report: [0, 0.05), ..., [0.95, 1].
REPORT_BINS = 20


def logit_bins(scores: np.ndarray) -> np.ndarray:
    """The histogram bin of each score in [0, 1] (0 and 1 land in the end bins)."""
    p = np.clip(scores.astype(np.float64), 1e-12, 1 - 1e-12)
    logit = np.log(p) - np.log1p(-p)
    return np.clip(((logit - LOGIT_MIN) / LOGIT_WIDTH).astype(np.int64), 0, LOGIT_BINS - 1)


def score_bins(scores: np.ndarray, regression: bool = False) -> np.ndarray:
    """Histogram bins of probabilities (logit scale) or of a regressor's raw values (the same
    0.01-wide bins over [-20, 20]: FineWeb-Edu's 0-5 scale gets 500 of them)."""
    if not regression:
        return logit_bins(scores)
    values = scores.astype(np.float64)
    return np.clip(((values - LOGIT_MIN) / LOGIT_WIDTH).astype(np.int64), 0, LOGIT_BINS - 1)


def report_histogram(scores: np.ndarray, low: float = 0.0, high: float = 1.0) -> list[int]:
    """REPORT_BINS equal bins over [low, high]; values outside land in the end bins."""
    fraction = (np.clip(scores, low, high) - low) / (high - low)
    bins = np.minimum((fraction * REPORT_BINS).astype(np.int64), REPORT_BINS - 1)
    return np.bincount(bins, minlength=REPORT_BINS).tolist()


def histograms(table: pa.Table, score_column: str, by: list[str], regression: bool = False) -> dict:
    """{group: counts per bin} of one block's scored rows: what the fit sums (`sum_blocks`)."""
    scores = table.column(score_column).to_numpy(zero_copy_only=False).astype(np.float64)
    keys = np.array(group_keys(table, by), dtype=object)
    scored = ~np.isnan(scores)
    bins = score_bins(np.where(scored, scores, 0.0), regression)
    return {key: np.bincount(bins[scored & (keys == key)], minlength=LOGIT_BINS) for key in set(keys[scored])}


def top_cutoff(hist: np.ndarray, percent: float) -> int:
    """The lowest bin kept so that at least `percent` of the histogram's documents are kept."""
    want = hist.sum() * percent / 100.0
    from_top = np.cumsum(hist[::-1])
    return int(LOGIT_BINS - 1 - np.searchsorted(from_top, want - 1e-9))


def cutoffs(hists: dict[str, np.ndarray], percent: float, min_docs: int) -> tuple[dict, int | None, list]:
    """Per group its cutoff bin; groups under `min_docs` documents use the pooled cutoff."""
    per = {k: top_cutoff(h, percent) for k, h in sorted(hists.items()) if h.sum() >= min_docs}
    total = sum(hists.values()) if hists else np.zeros(LOGIT_BINS, dtype=np.int64)
    pooled = top_cutoff(total, percent) if total.sum() >= 1 else None
    small = sorted(k for k in hists if k not in per)
    return per, pooled, small


def bin_score(bin_id: int, regression: bool = False) -> float:
    """The lowest score of a bin (a probability: its lower logit edge), for messages."""
    edge = LOGIT_MIN + bin_id * LOGIT_WIDTH
    return float(edge) if regression else float(1.0 / (1.0 + np.exp(-edge)))


def pareto_keep(ids: list[str], scores: np.ndarray, alpha: float, seed: int) -> np.ndarray:
    """GPT-3's rule, `np.random.pareto(alpha) > 1 - score`, with one draw per document id.

    The draw is the Lomax inverse CDF of a uniform taken from a keyed hash of the id, so a
    document gets the same draw in any batch, worker, retry or cluster (~1 µs a document).
    """
    key = seed.to_bytes(8, "little", signed=True)
    u = np.array(
        [int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8, key=key).digest(), "little") for i in ids],
        dtype=np.float64,
    )
    u = (u + 0.5) / 2.0**64
    draws = (1.0 - u) ** (-1.0 / alpha) - 1.0
    return draws > 1.0 - scores.astype(np.float64)
