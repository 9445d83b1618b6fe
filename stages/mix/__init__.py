"""Mix: domain weights, a token budget, a repetition cap and a held-out validation set.

A global stage after `tokenize`, so the budget is exact in tokens. `process` does
nothing; `fit` reads `id`, `domain` and `n_tokens` (never the text) and makes the plan
(see `plan.py`); `apply` marks each document `val` or `train` with its number of
`copies`, and drops the training documents the budget does not need
(`mix_not_sampled`, or `mix_weight_zero` for a domain without weight). The run's `mix:`
section becomes this stage; shards are written from its output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from prep.core.hashing import unit_hash
from prep.core.stage import FitContext, FitResult, StageConfig, Verdict
from prep.core.stage import Stage as BaseStage
from prep.stages.mix.plan import missed_targets, targets


class Config(StageConfig):
    #: Everything here is read by the fit: re-mixing reuses the tokenized pass.
    fit_fields: ClassVar[frozenset[str]] = frozenset(
        {"weights", "target_tokens", "max_epochs", "val_fraction", "val_min_docs", "policy", "shard_tokens"}
    )

    weights: dict[str, float] | None = None  # domain -> weight (normalised to sum 1); null: natural shares
    target_tokens: int | None = Field(default=None, ge=1)  # training tokens; null: every document once
    max_epochs: float = Field(default=4.0, ge=1.0)  # most times a document may be repeated
    val_fraction: float = Field(default=0.01, ge=0.0, lt=0.5)  # of each domain's documents
    val_min_docs: int = Field(default=1, ge=0)  # per domain (never all of a domain's documents)
    policy: Literal["error", "renormalise"] = "error"  # when a target needs more than max_epochs
    shard_tokens: int = Field(default=50_000_000, ge=1000)  # tokens per shard file
    #: Carry each document's source metadata (the sources' `metadata_fields`, a JSON object)
    #: into the shards as a `metadata` column; off by default: shards stay tokens + provenance.
    shard_metadata: bool = False

    @field_validator("weights")
    @classmethod
    def _positive(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        bad = [d for d, w in v.items() if w < 0]
        if bad or sum(v.values()) <= 0:
            raise ValueError("weights must be >= 0 and not all zero")
        return v

    def normalised_weights(self) -> dict[str, float] | None:
        if self.weights is None:
            return None
        total = sum(self.weights.values())
        return {d: w / total for d, w in self.weights.items()}


class Stage(BaseStage):
    name = "mix"
    barrier = True
    fit_columns = ("id", "n_tokens")
    apply_fields = (pa.field("split", pa.string()), pa.field("copies", pa.int32()))

    config: Config

    def process(self, batch: pa.Table) -> Verdict:
        """Nothing to decide per document before every domain's tokens are known."""
        return Verdict(batch, [None] * batch.num_rows)

    def fit(self, data, ctx: FitContext) -> FitResult:
        from prep.stages.mix.fit import plan_mix  # Ray Data plumbing: only the driver needs it

        cfg = self.config
        chosen: dict[str, Any] = {}

        def want_of(available: dict[str, int]) -> dict[str, float]:
            weights = cfg.normalised_weights() or _natural(available)
            total = cfg.target_tokens or sum(available.get(d, 0) for d in weights)
            want, notes = targets(weights, available, total, cfg.max_epochs, cfg.policy)
            unknown = sorted(set(weights) - set(available))
            chosen.update(weights=weights, total=total, notes=notes, unknown=unknown)
            return want

        plan, report = plan_mix(data, ctx.work_dir, ctx.seed, cfg.val_fraction, cfg.val_min_docs, want_of)
        if not chosen:  # no document reached the mix: nothing to weigh
            want_of({})
        for d, r in report.items():
            r["weight"] = round(chosen["weights"].get(d, 0.0), 6)
        achieved = sum(r["achieved_tokens"] for r in report.values())
        for r in report.values():
            r["share"] = round(r["achieved_tokens"] / achieved, 6) if achieved else 0.0
        metrics = {
            "target_tokens": int(chosen["total"]),
            "achieved_tokens": int(achieved),
            "max_epochs": cfg.max_epochs,
            "policy": cfg.policy,
            "domains": report,
            "notes": chosen["notes"]
            + [f"{d}: weighted but no document of this domain reached mix" for d in chosen["unknown"]]
            + missed_targets(report),
        }
        return FitResult({"seed": ctx.seed, "domains": plan}, metrics)

    def setup_apply(self, state: dict[str, Any], files: Path) -> None:
        self.state = state
        self.val_salt, self.mix_salt = f"val:{state['seed']}", f"mix:{state['seed']}"

    def apply(self, batch: pa.Table) -> Verdict:
        ids = batch.column("id").to_pylist()
        domains = batch.column("domain").to_pylist()
        u_val, u_mix = unit_hash(ids, self.val_salt), unit_hash(ids, self.mix_salt)
        split, copies, rules, reasons = [], [], [], []
        for i, domain in enumerate(domains):
            plan = self.state["domains"].get(domain)
            if plan is not None and u_val[i] < plan["val_threshold"]:
                split.append("val")
                copies.append(1)
                rules.append(None)
                reasons.append(None)
                continue
            n = 0 if plan is None else plan["full"] + int(u_mix[i] < plan["threshold"])
            split.append("train")
            copies.append(n)
            if n > 0:
                rules.append(None)
                reasons.append(None)
            elif plan is None or (plan["full"] == 0 and plan["threshold"] == 0.0):
                rules.append("mix_weight_zero")
                reasons.append(f"domain {domain} gets no training tokens in this mixture")
            else:
                rules.append("mix_not_sampled")
                reasons.append(f"domain {domain} is downsampled; this document was not drawn")
        table = batch.append_column("split", pa.array(split, pa.string()))
        table = table.append_column("copies", pa.array(copies, pa.int32()))
        return Verdict(table, rules, reasons, _sample_metrics(domains, split, copies, batch))


def _natural(available: dict[str, int]) -> dict[str, float]:
    total = sum(available.values()) or 1
    return {d: n / total for d, n in available.items()}


def _sample_metrics(domains, split, copies, batch: pa.Table) -> dict:
    """Training tokens drawn (with repeats) and validation tokens, per domain."""
    tokens = batch.column("n_tokens").to_numpy(zero_copy_only=False)
    out: dict[str, dict[str, int]] = {}
    for d, s, c, n in zip(domains, split, copies, tokens, strict=True):
        slot = out.setdefault(d, {"train_tokens": 0, "train_samples": 0, "val_tokens": 0, "val_docs": 0})
        if s == "val":
            slot["val_tokens"] += int(n)
            slot["val_docs"] += 1
        else:
            slot["train_tokens"] += int(n) * c
            slot["train_samples"] += c
    return {"sampled": out}
