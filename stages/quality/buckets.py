"""CCNet's head/middle/tail buckets: perplexity percentiles of this run's own documents.

Percentiles need every score, so they are a barrier; the fit reads only the `ppl`,
`lang` and `domain` columns (never the text) and keeps one float per document in
memory, grouped. A group smaller than `min_docs` borrows the cutoffs of its language
pooled over domains; a language with too few documents even then gets no bucket.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

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


def group_key(lang: str | None, domain: str | None, by: list[str]) -> str:
    parts = {"lang": lang or "?", "domain": domain or "?"}
    return "|".join(parts[b] for b in by)


def _groups(batches, by: list[str]) -> tuple[dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    groups: dict[str, list[np.ndarray]] = {}
    by_lang: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        ppl = batch.column("ppl").to_numpy(zero_copy_only=False).astype(np.float64)
        langs = batch.column("lang").to_pylist()
        domains = batch.column("domain").to_pylist()
        keys = np.array([group_key(la, do, by) for la, do in zip(langs, domains, strict=True)], dtype=object)
        lang_keys = np.array([la or "?" for la in langs], dtype=object)
        scored = ~np.isnan(ppl)
        for key in set(keys[scored]):
            groups.setdefault(key, []).append(ppl[scored & (keys == key)])
        for key in set(lang_keys[scored]):
            by_lang.setdefault(key, []).append(ppl[scored & (lang_keys == key)])
    return groups, by_lang


def fit_cutoffs(batches, config: BucketConfig) -> tuple[dict, dict]:
    """State for `assign` (per group and per language, the perplexities at the two
    percentiles) and what was seen, for stats."""
    groups, by_lang = _groups(batches, list(config.by))
    cutoffs: dict[str, list[float]] = {}
    docs: dict[str, int] = {}
    for key, parts in sorted(groups.items()):
        values = np.concatenate(parts)
        docs[key] = int(values.size)
        if values.size >= config.min_docs:
            cutoffs[key] = [float(x) for x in np.percentile(values, config.percentiles)]
    pooled = {}
    for lang, parts in sorted(by_lang.items()):
        values = np.concatenate(parts)
        if values.size >= config.min_docs:
            pooled[lang] = [float(x) for x in np.percentile(values, config.percentiles)]
    small = sorted(k for k in docs if k not in cutoffs)
    metrics = {
        "percentiles": list(config.percentiles),
        "by": list(config.by),
        "group_docs": docs,
        "cutoffs": cutoffs,
        "language_cutoffs": pooled,
        "small_groups": small,
        "ppl_histogram_bins": {"log10_start": 0.0, "width": HIST_WIDTH, "count": HIST_BINS},
    }
    return {"cutoffs": cutoffs, "language_cutoffs": pooled}, metrics


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
