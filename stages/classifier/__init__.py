"""Model-based quality: a fastText classifier scores each document, the stage keeps the ones
that look like the reference text it was trained on (GPT-3, DCLM, NeMo Curator's and
datatrove's fastText filters).

Every document of the stage's domains gets `quality_score`, the model's probability of
`label` (DCLM's published model as it is: `label: hq`). What is kept:
- `threshold`: score >= threshold (streaming);
- `pareto_alpha`: GPT-3's draw, kept when `pareto(alpha) > 1 - score`, one seeded draw per
  document id (streaming, the same in any batch, worker or retry);
- `keep_top`: the top percent of each `by` group, like the perplexity buckets: a global
  stage whose fit sums score histograms from Ray workers (`keep.py`);
- none of them: score only, keep everything.
The model loads once per actor; `prep classifier train` makes one from reference sources.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from prep.core.aggregate import sum_blocks
from prep.core.files import file_stamp
from prep.core.records import group_keys
from prep.core.stage import FitContext, FitResult, StageConfig, Verdict
from prep.core.stage import Stage as BaseStage
from prep.stages.classifier.fasttext_model import (
    FastTextScorer,
    NotAFastTextModel,
    fasttext_labels,
    full_label,
)
from prep.stages.classifier.hf_model import HFScorer, head_of, is_regression
from prep.stages.classifier.keep import (
    bin_score,
    cutoffs,
    histograms,
    pareto_keep,
    report_histogram,
    score_bins,
)

__all__ = ["SCORE_COLUMN", "Config", "Stage"]

SCORE_COLUMN = "quality_score"


class Config(StageConfig):
    #: The top-percent cutoffs are fit-only: a new `keep_top` reuses the scores.
    fit_fields: ClassVar[frozenset[str]] = frozenset({"keep_top", "by", "min_docs"})

    model: str | None = None  # a fastText supervised model (.bin or .ftz)
    hf_model: str | None = None  # or a local Hugging Face sequence-classification folder
    label: str = "hq"  # score = probability of this label (fastText: `hq` or `__label__hq`)
    max_chars: int | None = Field(default=None, ge=1)  # score the first N characters only
    threshold: float | None = None  # keep score >= threshold (a probability, or a regressor's value)
    pareto_alpha: float | None = Field(default=None, gt=0)  # GPT-3 used 9
    keep_top: float | None = Field(default=None, gt=0, le=100)  # percent of each group kept
    by: list[Literal["lang", "domain"]] = Field(default=["lang", "domain"], min_length=1)
    min_docs: int = Field(default=20, ge=1)  # smaller groups use the pooled cutoff
    #: hf_model only: documents per forward pass, tokens per document, where to run.
    hf_batch_size: int = Field(default=32, ge=1)
    max_length: int = Field(default=512, ge=8)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: a GPU per actor when the cluster has GPUs
    #: The report's histogram range; default [0, 1], or [0, 5] for a regression head (FineWeb-Edu).
    score_range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _one_model_one_policy(self) -> Config:
        if (self.model is None) == (self.hf_model is None):
            raise ValueError("set one of model, hf_model (a fastText file or a Hugging Face folder)")
        chosen = [k for k in ("threshold", "pareto_alpha", "keep_top") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"set one of threshold, pareto_alpha, keep_top (got {', '.join(chosen)})")
        if self.model is not None and self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold: a fastText probability is in [0, 1] (got {self.threshold})")
        if self.score_range is not None and not self.score_range[0] < self.score_range[1]:
            raise ValueError("score_range: [low, high] with low < high")
        return self

    @property
    def regression(self) -> bool:
        """A one-output Hugging Face head: scores are its raw values, not probabilities."""
        return self.hf_model is not None and is_regression(Path(self.hf_model))

    def histogram_range(self) -> tuple[float, float]:
        return self.score_range or ((0.0, 5.0) if self.regression else (0.0, 1.0))

    def fingerprint(self, phase: str = "all") -> dict:
        """The config plus the stamps of the model files."""
        if self.model is not None:
            files = [self.model]
        else:
            folder = Path(self.hf_model)
            files = sorted(str(p) for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
        return {**super().fingerprint(phase), "model_files": [file_stamp(f) for f in files]}

    def check_files(self) -> list[str]:
        return self._check_fasttext() if self.model is not None else self._check_hf()

    def _check_fasttext(self) -> list[str]:
        path = Path(self.model)
        if not path.is_file():
            return [f"model: file not found: {path}"]
        try:
            labels = fasttext_labels(path)
        except (NotAFastTextModel, OSError) as exc:
            return [f"model: not a fastText model: {path} ({exc})"]
        if full_label(self.label) not in labels:
            shown = ", ".join(labels[:10]) + (", ..." if len(labels) > 10 else "")
            return [f"label: the model {path} has no label {full_label(self.label)} (its labels: {shown})"]
        return []

    def _check_hf(self) -> list[str]:
        folder = Path(self.hf_model)
        if not (folder / "config.json").is_file():
            return [f"hf_model: no config.json in {folder} (a save_pretrained folder)"]
        try:
            head = head_of(folder)
        except (ValueError, KeyError, TypeError) as exc:
            return [f"hf_model: unreadable config.json in {folder} ({exc})"]
        problems = []
        if head["outputs"] == 1:
            if self.pareto_alpha is not None:
                problems.append("pareto_alpha: needs a probability; this model is a regression head")
        elif self.label not in head["labels"]:
            shown = ", ".join(head["labels"][:10])
            problems.append(f"label: the model {folder} has no label {self.label} (its labels: {shown})")
        elif self.threshold is not None and not 0 <= self.threshold <= 1:
            problems.append(f"threshold: a probability is in [0, 1] (got {self.threshold})")
        if importlib.util.find_spec("transformers") is None:
            problems.append("hf_model: needs the transformers package: pip install 'prep[hf]'")
        return problems


class Stage(BaseStage):
    name = "classifier"
    stateful = True
    barrier = True  # only with keep_top (see is_global)
    output_fields = (pa.field(SCORE_COLUMN, pa.float32()),)
    fit_columns = (SCORE_COLUMN, "lang")
    uses_run_seed = True  # the Pareto draws

    config: Config

    @classmethod
    def is_global(cls, config: StageConfig) -> bool:
        return getattr(config, "keep_top", None) is not None

    @classmethod
    def wants_gpu(cls, config: StageConfig) -> bool:
        return getattr(config, "hf_model", None) is not None and getattr(config, "device", "cpu") != "cpu"

    def setup(self) -> None:
        c = self.config
        if c.model is not None:
            self.scorer = FastTextScorer(Path(c.model), c.label, c.max_chars)
        else:
            self.scorer = HFScorer(
                Path(c.hf_model), c.label, c.max_length, c.hf_batch_size, c.device, c.max_chars
            )
        self.range = c.histogram_range()

    def process(self, batch: pa.Table) -> Verdict:
        scores = self.scorer.scores(batch.column("text").to_pylist())
        rules, reasons = self._decide(batch, scores)
        table = batch.append_column(SCORE_COLUMN, pa.array(scores, pa.float32()))
        return Verdict(table, rules, reasons, self._metrics(batch, scores, self.range))

    def _decide(self, batch: pa.Table, scores: np.ndarray) -> tuple[list, list]:
        c = self.config
        n = len(scores)
        if c.threshold is not None:
            keep = scores >= np.float32(c.threshold)
            rule, why = "classifier_below_threshold", f"< threshold {c.threshold:g}"
        elif c.pareto_alpha is not None:
            keep = pareto_keep(batch.column("id").to_pylist(), scores, c.pareto_alpha, self.run_seed)
            rule, why = "classifier_pareto", f"not drawn (Pareto alpha {c.pareto_alpha:g})"
        else:  # score only, or keep_top (decided in apply)
            return [None] * n, [None] * n
        rules = [None if k else rule for k in keep]
        reasons = [
            None if k else f"classifier score {s:.3f} {why}" for k, s in zip(keep, scores, strict=True)
        ]
        return rules, reasons

    @staticmethod
    def _metrics(batch: pa.Table, scores: np.ndarray, span: tuple[float, float]) -> dict[str, Any]:
        """Score histograms per domain (every scored document, before the keep policy): counts
        only, summed over batches; `REPORT_BINS` equal bins over the score range, which is
        the key of `score_range` (its value counts batches: metrics are summed)."""
        domains = np.array(batch.column("domain").to_pylist(), dtype=object)
        hists = {str(d): report_histogram(scores[domains == d], *span) for d in sorted(set(domains))}
        return {"score_histogram": hists, "score_range": {f"{span[0]:g},{span[1]:g}": 1}}

    def fit(self, data, ctx: FitContext) -> FitResult:
        """Top-percent cutoffs per group from score histograms Ray Data sums block by block."""
        by, regression = list(self.config.by), self.config.regression
        hists = sum_blocks(data, lambda b: histograms(b, SCORE_COLUMN, by, regression), "classifier") or {}
        per, pooled, small = cutoffs(hists, self.config.keep_top, self.config.min_docs)
        metrics = {
            "keep_top": self.config.keep_top,
            "by": by,
            "group_docs": {g: int(h.sum()) for g, h in sorted(hists.items())},
            "cutoff_score": {g: round(bin_score(b, regression), 6) for g, b in per.items()},
            "pooled_cutoff_score": None if pooled is None else round(bin_score(pooled, regression), 6),
            "small_groups": small,
        }
        return FitResult({"cutoffs": per, "pooled": pooled}, metrics)

    def setup_apply(self, state: dict[str, Any], files: Path) -> None:
        self.cutoffs: dict[str, int] = state["cutoffs"]
        self.pooled: int | None = state["pooled"]
        self.regression = self.config.regression

    def apply(self, batch: pa.Table) -> Verdict:
        scores = batch.column(SCORE_COLUMN).to_numpy(zero_copy_only=False).astype(np.float64)
        bins = score_bins(np.nan_to_num(scores), self.regression)
        rules: list[str | None] = []
        reasons: list[str | None] = []
        top = self.config.keep_top
        for key, b, s in zip(group_keys(batch, list(self.config.by)), bins, scores, strict=True):
            cut = self.cutoffs.get(key, self.pooled)
            if cut is None or b >= cut:
                rules.append(None)
                reasons.append(None)
            else:
                rules.append("classifier_not_top")
                lowest = bin_score(cut, self.regression)
                reasons.append(f"classifier score {s:.3f} below the top {top:g}% of {key} ({lowest:.3f})")
        return Verdict(batch, rules, reasons)
