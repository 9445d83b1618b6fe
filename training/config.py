"""`prep train` settings: one strict model for the YAML file, the command line and checkpoints.

Kept free of torch so that `prep --help` and config errors stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prep.core.settings import ConfigError, error_lines

#: Layer shapes of the named sizes; the parameter count also depends on the vocabulary.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 4, "n_head": 4, "n_embd": 128},  # 0.8M + vocab x 128 (1.1M at a 2k vocab)
    "small": {"n_layer": 6, "n_head": 6, "n_embd": 384},  # 10.6M + vocab x 384
    "gpt2-124m": {"n_layer": 12, "n_head": 12, "n_embd": 768},  # 124M at a 50,304 vocab
    "350m": {"n_layer": 24, "n_head": 16, "n_embd": 1024},  # 355M at a 50,304 vocab
}

#: Peak learning rates that train each size stably with AdamW (GPT-2 / nanoGPT practice).
DEFAULT_LR = {"tiny": 3e-3, "small": 1e-3, "gpt2-124m": 6e-4, "350m": 3e-4}

#: Settings that shape the loss curve: a resumed run must keep them (the others may change).
TRAJECTORY_FIELDS = (
    "model",
    "n_layer",
    "n_head",
    "n_embd",
    "seq_len",
    "batch_size",
    "grad_accum",
    "steps",
    "lr",
    "min_lr_ratio",
    "warmup_steps",
    "weight_decay",
    "beta1",
    "beta2",
    "grad_clip",
    "seed",
    "dtype",
    "domain_weights",
    "pack_buffer",
)


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str  # a prep run's output folder: manifest.json, shards/
    out: str = "runs/train"  # the run folder: config.json, log.jsonl, loss.png, summary.json, checkpoints/
    model: Literal["tiny", "small", "gpt2-124m", "350m"] = "tiny"
    n_layer: int | None = Field(default=None, ge=1)  # override the preset's shape
    n_head: int | None = Field(default=None, ge=1)
    n_embd: int | None = Field(default=None, ge=8)
    seq_len: int = Field(default=256, ge=2)
    batch_size: int = Field(default=8, ge=1)  # sequences per micro-batch per GPU (or process)
    grad_accum: int = Field(default=1, ge=1)  # micro-batches per optimizer step
    steps: int = Field(default=300, ge=1)
    lr: float | None = Field(default=None, gt=0)  # peak learning rate; default by model size
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)  # the cosine ends at lr * this
    warmup_steps: int | None = Field(default=None, ge=0)  # default: 5% of steps
    weight_decay: float = Field(default=0.1, ge=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.95, ge=0, lt=1)
    grad_clip: float = Field(default=1.0, ge=0)  # 0 = no clipping
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False  # torch.compile the model
    domain_weights: dict[str, float] | None = None  # token share per domain at sampling time
    pack_buffer: int = Field(default=64, ge=1)  # look-ahead units when packing rows
    eval_every: int = Field(default=0, ge=0)  # steps between evaluations; 0 = only at the end
    eval_tokens: int | None = Field(default=1 << 20, ge=1)  # per domain (whole documents); null = all
    eval_batch_size: int | None = Field(default=None, ge=1)  # default: batch_size
    log_every: int = Field(default=10, ge=1)
    ckpt_every: int = Field(default=0, ge=0)  # steps between checkpoints; 0 = only at the end
    keep_checkpoints: int = Field(default=2, ge=1)
    stop_after: int | None = Field(default=None, ge=1)  # stop (with a checkpoint) after this step
    tensorboard: bool = False  # also write TensorBoard events to out/tb (needs `tensorboard`)
    plot: bool = True  # out/loss.png after each evaluation and at the end
    peak_tflops: float | None = Field(default=None, gt=0)  # device peak for MFU when not in the table
    verify_shards: bool = False  # check every shard's sha256 against the manifest first

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.warmup_steps is not None and self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) is more than steps ({self.steps})")
        if self.domain_weights is not None and any(w < 0 for w in self.domain_weights.values()):
            raise ValueError("domain_weights must be >= 0")
        return self

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.model]

    @property
    def warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else max(1, self.steps // 20)

    def trajectory(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in TRAJECTORY_FIELDS}


def load_train_config(
    path: str | None, overrides: dict[str, Any], nulls: list[str] | tuple[str, ...] = ()
) -> TrainConfig:
    """A YAML file (optional) with command-line values on top (`nulls`: keys set to null);
    errors name the key."""
    data: dict[str, Any] = {}
    where = path or "the command line"
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError([f"cannot read {path}: {exc}"], path) from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(["expected a mapping of training settings"], path)
        data = dict(loaded or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    data.update(dict.fromkeys(nulls))
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as err:
        missing = f"required (the shards folder: `prep train OUT` or `data:` in {where})"
        raise ConfigError(error_lines(err, missing=missing), path) from err
