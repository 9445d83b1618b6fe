"""Tokenize: HF `tokenizers`, loaded from a user's tokenizer.json or trained on the run.

A global stage whose `process` does nothing: its `fit` needs the cleaned corpus (a
seeded sample drawn in proportion to the mixture weights, to train a byte-level BPE) or
only the user's file; `apply` then encodes every document and appends the end-of-text
token. The run's `tokenizer:` section becomes this stage (it is not listed in `stages:`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import ray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from prep.core.files import file_stamp
from prep.core.stage import FitContext, FitResult, StageConfig, Verdict
from prep.core.stage import Stage as BaseStage
from prep.stages.tokenize.train import EOT, sample_texts, train_bpe
from prep.stages.tokenize.vocab import describe, encode, load

TOKENIZER_FILE = "tokenizer.json"


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(default=32000, ge=300, le=1 << 20)
    sample_bytes: int = Field(default=200_000_000, ge=1000)  # text the BPE is trained on
    min_frequency: int = Field(default=2, ge=1)
    #: domain -> share of the training sample; null: the mixture weights (see `sample_weights`)
    weights: dict[str, float] | None = None


@ray.remote(num_cpus=0)
def _sample_and_train(
    data, sample_bytes: int, weights: dict | None, seed: int, vocab_size: int, min_frequency: int, dest: Path
) -> dict:
    """Draw the training sample and train the BPE in a Ray worker, not in the driver (on the
    bundled sample, the pass that trained it in the driver cost the driver 7.2 CPU-s, and the
    sample's text sat in its memory). No CPU is reserved, as none was for the driver: the
    sample's own Ray Data job needs the cluster's CPUs."""
    texts, sampled = sample_texts(data, sample_bytes, weights, seed)
    train_bpe(texts, vocab_size, min_frequency, dest)
    return sampled


class Config(StageConfig):
    #: Filled from `mix.weights` when `train.weights` is not set. Not part of the checkpoint
    #: key: mixture variants share the tokenizer trained first (their validation losses
    #: only compare with one tokenizer); pin `train.weights` or change `train` to retrain.
    unkeyed_fields: ClassVar[frozenset[str]] = frozenset({"sample_weights"})
    #: The per-document phase is a no-op: a new tokenizer reuses the pass it ends (with
    #: PII and decontam on the sample, 20 s of 61 s when only `path` changed).
    fit_fields: ClassVar[frozenset[str]] = frozenset({"path", "train"})

    path: str | None = None  # a tokenizer.json (GPT-2, Llama, NeoX files work as they are)
    train: TrainConfig | None = None
    sample_weights: dict[str, float] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Config:
        if (self.path is None) == (self.train is None):
            raise ValueError("give either path: (a tokenizer.json) or train: {vocab_size: ...}")
        return self

    def fingerprint(self, phase: str = "all") -> dict:
        """The config plus the stamp of the tokenizer file it names (a fit-only input: the
        per-document phase does not depend on it)."""
        keyed = super().fingerprint(phase)
        if phase == "process":
            return keyed
        return {**keyed, "path_file": file_stamp(self.path)}

    def check_files(self) -> list[str]:
        if self.path is None:
            return []
        path = Path(self.path)
        if not path.is_file():
            return [f"path: file not found: {path}"]
        try:
            tok = load(path)
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            return [f"path: not a tokenizer.json: {path} ({exc})"]
        if describe(tok)["eot_id"] is None:
            return [f"path: {path} has no end-of-text token ({EOT}, </s>, <|end_of_text|> or <eos>)"]
        return []


class Stage(BaseStage):
    name = "tokenize"
    stateful = True
    barrier = True
    fit_columns = ("id", "text")
    apply_fields = (
        pa.field("tokens", pa.list_(pa.uint32())),
        pa.field("n_tokens", pa.int64()),
        pa.field("bytes", pa.int64()),
    )

    config: Config

    def process(self, batch: pa.Table) -> Verdict:
        """Nothing to do per document before the tokenizer exists."""
        return Verdict(batch, [None] * batch.num_rows)

    def fit(self, data, ctx: FitContext) -> FitResult:
        dest = ctx.work_dir / TOKENIZER_FILE
        if self.config.path is not None:
            shutil.copyfile(self.config.path, dest)
            provenance: dict[str, Any] = {"source": str(self.config.path)}
        else:
            train = self.config.train
            assert train is not None
            weights = train.weights or self.config.sample_weights
            task = _sample_and_train.remote(
                data, train.sample_bytes, weights, ctx.seed, train.vocab_size, train.min_frequency, dest
            )
            sampled = ray.get(task)
            provenance = {"trained": True, "sample": sampled, "vocab_size": train.vocab_size}
        info = describe(load(dest))
        state = {"file": TOKENIZER_FILE, **info}
        return FitResult(state, {"tokenizer": {**info, **provenance}})

    def setup_apply(self, state: dict[str, Any], files: Path) -> None:
        self.state = state
        self.tokenizer = load(files / state["file"])
        # "<|endoftext|>" written inside a document is text, not a document boundary
        self.tokenizer.encode_special_tokens = True
        self.eot = int(state["eot_id"])

    def apply(self, batch: pa.Table) -> Verdict:
        texts = batch.column("text").to_pylist()
        tokens = encode(self.tokenizer, texts, self.eot)
        n_tokens = pc.list_value_length(tokens).cast(pa.int64())
        nbytes = pc.fill_null(pc.binary_length(batch.column("text")), 0).cast(pa.int64())
        table = batch.append_column("tokens", tokens)
        table = table.append_column("n_tokens", n_tokens).append_column("bytes", nbytes)
        per_domain: dict[str, list[int]] = {}
        counts = n_tokens.to_numpy(zero_copy_only=False)
        for domain, n in zip(batch.column("domain").to_pylist(), counts, strict=True):
            slot = per_domain.setdefault(domain, [0, 0])
            slot[0] += 1
            slot[1] += int(n)
        return Verdict(table, [None] * batch.num_rows, metrics={"docs_tokens": per_domain})
