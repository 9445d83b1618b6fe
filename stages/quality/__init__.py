"""Quality: rule-based filters (Gopher, C4, FineWeb via datatrove) and CCNet perplexity.

A global stage. `process` runs the heuristic blocks on each document (dropping with the
rule that caught it) and scores the survivors with their language's KenLM model;
`fit` computes perplexity percentiles per language and domain from the scores alone;
`apply` puts every scored document in the head, middle or tail bucket and drops the
buckets the config does not keep.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from prep.core.files import file_stamp
from prep.core.stage import FitContext, FitResult, StageConfig, Verdict
from prep.core.stage import Stage as BaseStage
from prep.stages.quality.buckets import BucketConfig, assign, fit_cutoffs, histogram
from prep.stages.quality.heuristics import Heuristics, HeuristicsConfig
from prep.stages.quality.perplexity import LMSpec, PerplexityModel


class Config(StageConfig):
    fit_fields: ClassVar[frozenset[str]] = frozenset({"buckets"})

    heuristics: HeuristicsConfig = HeuristicsConfig()
    #: language -> KenLM model; documents of other languages get ppl = null (counted)
    perplexity: dict[str, LMSpec] = Field(default_factory=dict)
    #: language -> highest perplexity kept ("*" for every language without its own)
    max_ppl: dict[str, float] = Field(default_factory=dict)
    buckets: BucketConfig = BucketConfig()
    #: language assumed for documents without a `lang` (no langid stage before this one)
    default_lang: str = "en"

    def fingerprint(self, phase: str = "all") -> dict:
        """The config plus the stamps of the model files it names."""
        out = super().fingerprint(phase)
        out["model_files"] = {
            lang: [file_stamp(f) for f in spec.files()] for lang, spec in sorted(self.perplexity.items())
        }
        return out

    def check_files(self) -> list[str]:
        return [f"perplexity.{lang}.{p}" for lang, spec in self.perplexity.items() for p in spec.check()]


class Stage(BaseStage):
    name = "quality"
    stateful = True
    barrier = True
    #: `lang` is added (as default_lang) only when no langid stage ran before.
    output_fields = (pa.field("ppl", pa.float64()), pa.field("lang", pa.string()))
    apply_fields = (pa.field("ppl_bucket", pa.string()),)
    fit_columns = ("ppl", "lang")

    config: Config

    def setup(self) -> None:
        self.heuristics = Heuristics(self.config.heuristics)
        self.models = {lang: PerplexityModel(spec) for lang, spec in self.config.perplexity.items()}

    def _langs(self, batch: pa.Table) -> list[str]:
        default = self.config.default_lang
        if "lang" not in batch.column_names:
            return [default] * batch.num_rows
        return [lang or default for lang in batch.column("lang").to_pylist()]

    def process(self, batch: pa.Table) -> Verdict:
        texts = batch.column("text").to_pylist()
        domains = batch.column("domain").to_pylist()
        langs = self._langs(batch)
        rules: list[str | None] = []
        skipped: Counter = Counter()
        for i, (text, lang, domain) in enumerate(zip(texts, langs, domains, strict=True)):
            decision = self.heuristics.check(text or "", lang, domain)
            rules.append(decision.rule)
            texts[i] = decision.text
            skipped.update(f"{key}|{lang}" for key in decision.skipped)
        ppl = self._score(texts, langs, rules)
        reasons: list[str | None] = [None if r is None else f"quality rule {r}" for r in rules]
        for i, (value, lang) in enumerate(zip(ppl, langs, strict=True)):
            limit = self.config.max_ppl.get(lang, self.config.max_ppl.get("*"))
            if rules[i] is None and limit is not None and value > limit:
                rules[i] = "ppl_above_max"
                reasons[i] = f"perplexity {value:.0f} > max_ppl {limit:g} for {lang}"
        table = batch.set_column(batch.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))
        table = table.append_column("ppl", pa.array(ppl, pa.float64(), mask=np.isnan(ppl)))
        if "lang" not in table.column_names:
            table = table.append_column("lang", pa.array(langs, pa.string()))
        return Verdict(table, rules, reasons, self._metrics(ppl, langs, domains, rules, skipped))

    def _score(self, texts: list[str], langs: list[str], rules: list[str | None]) -> np.ndarray:
        """Perplexity of each kept document under its language's model (NaN: no model)."""
        ppl = np.full(len(texts), np.nan)
        by_lang: dict[str, list[int]] = {}
        for i, (lang, rule) in enumerate(zip(langs, rules, strict=True)):
            if rule is None and lang in self.models:
                by_lang.setdefault(lang, []).append(i)
        for lang, rows in by_lang.items():
            ppl[rows] = self.models[lang].perplexities([texts[i] for i in rows])
        return ppl

    @staticmethod
    def _metrics(ppl, langs, domains, rules, skipped: Counter) -> dict[str, Any]:
        kept = np.array([r is None for r in rules], dtype=bool)
        no_model = Counter(la for la, k, p in zip(langs, kept, ppl, strict=True) if k and np.isnan(p))
        by_domain: dict[str, list[int]] = {}
        by_lang: dict[str, list[int]] = {}
        dom = np.array(domains, dtype=object)
        lan = np.array(langs, dtype=object)
        for d in set(domains):
            by_domain[d] = histogram(ppl[kept & (dom == d)])
        for la in set(langs):
            if (kept & (lan == la) & ~np.isnan(ppl)).any():
                by_lang[la] = histogram(ppl[kept & (lan == la)])
        return {
            "ppl_histogram": {"domain": by_domain, "lang": by_lang},
            "scored": int((kept & ~np.isnan(ppl)).sum()),
            "no_model": dict(no_model),
            "heuristics_skipped": dict(skipped),
        }

    def fit(self, data, ctx: FitContext) -> FitResult:
        state, metrics = fit_cutoffs(data, self.config.buckets)
        return FitResult(state, metrics)

    def setup_apply(self, state: dict[str, Any], files: Path) -> None:
        self.state = state
        self.keep = set(self.config.buckets.keep)

    def apply(self, batch: pa.Table) -> Verdict:
        buckets = assign(batch, list(self.config.buckets.by), self.state)
        rules = [None if b is None or b in self.keep else f"ppl_{b}" for b in buckets]
        reasons = [
            None if r is None else f"perplexity in the {b} bucket"
            for r, b in zip(rules, buckets, strict=True)
        ]
        counts: dict[str, dict[str, int]] = {}
        for bucket, domain in zip(buckets, batch.column("domain").to_pylist(), strict=True):
            slot = counts.setdefault(domain, {})
            slot[bucket or "none"] = slot.get(bucket or "none", 0) + 1
        table = batch.append_column("ppl_bucket", pa.array(buckets, pa.string()))
        return Verdict(table, rules, reasons, {"buckets": counts})
