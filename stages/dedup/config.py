"""The dedup stage's YAML block.

Settings that only the fit or apply read (LSH banding, bucket caps, verification, the keep
policy, connected components, memory) are left out of the `process` fingerprint, so changing
them reuses the signatures pass and reruns only the fit.
"""

from __future__ import annotations

import functools
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from prep.core.stage import StageConfig
from prep.stages.dedup.banding import optimal_bands_rows
from prep.stages.dedup.normalise import Normalizer


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NormaliseConfig(_Strict):
    """Text normalisation before hashing (see `prep.stages.dedup.normalise.Normalizer`)."""

    lowercase: bool = True
    unicode_form: Literal["NFKC", "NFC", "NFKD", "NFD"] | None = "NFKC"
    punctuation: Literal["remove", "space", "keep"] = "remove"
    digits: Literal["keep", "zero", "remove"] = "keep"
    strip_invisible: bool = True

    def normalizer(self) -> Normalizer:
        return Normalizer(**self.model_dump())


class ExactConfig(_Strict):
    enabled: bool = True
    normalise: NormaliseConfig = NormaliseConfig()


#: Fuzzy settings only the fit reads (everything but the signature's own parameters).
FUZZY_FIT_FIELDS = frozenset(
    {"bands", "rows", "threshold", "max_bucket", "giant_buckets", "verify", "verify_threshold"}
)


class FuzzyConfig(_Strict):
    enabled: bool = True
    num_perm: int = Field(default=112, ge=1, le=1024)
    #: LSH bands x rows; default 14 x 8 (FineWeb). Give either these or `threshold`.
    bands: int | None = Field(default=None, ge=1)
    rows: int | None = Field(default=None, ge=1)
    #: Jaccard threshold: bands and rows minimising false positives + negatives (datasketch's rule)
    threshold: float | None = Field(default=None, gt=0, lt=1)
    ngram: int = Field(default=5, ge=1, le=64)
    seed: int = 1
    normalise: NormaliseConfig = NormaliseConfig()
    #: a bucket with more documents than this is a giant bucket (templated pages)
    max_bucket: int = Field(default=1000, ge=2)
    #: split: cut it into sub-buckets of about max_bucket by content hash; drop: it yields no pair
    giant_buckets: Literal["split", "drop"] = "split"
    verify: bool = False  # check candidate pairs' exact Jaccard on the shingle sets
    verify_threshold: float = Field(default=0.8, ge=0, le=1)

    @model_validator(mode="after")
    def _banding(self) -> FuzzyConfig:
        if self.threshold is not None and (self.bands is not None or self.rows is not None):
            raise ValueError("give either threshold (bands and rows derived from it) or bands and rows")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("bands and rows go together")
        bands, rows = self.lsh()
        if bands * rows > self.num_perm:
            raise ValueError(f"bands * rows = {bands * rows} exceeds num_perm = {self.num_perm}")
        return self

    def lsh(self) -> tuple[int, int]:
        """(bands, rows) in force."""
        if self.threshold is not None:
            return _optimal(self.threshold, self.num_perm)
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return (14, 8) if self.num_perm >= 112 else _optimal(0.8, self.num_perm)


@functools.lru_cache(maxsize=64)
def _optimal(threshold: float, num_perm: int) -> tuple[int, int]:
    return optimal_bands_rows(threshold, num_perm)


class ComponentsConfig(_Strict):
    #: auto: in memory (scipy, in one Ray task) up to in_memory_edges candidate pairs, else distributed
    algorithm: Literal["auto", "in_memory", "distributed"] = "auto"
    in_memory_edges: int = Field(default=5_000_000, ge=0)
    max_iterations: int = Field(default=100, ge=1)  # large-star + small-star rounds


class Config(StageConfig):
    fit_fields: ClassVar[frozenset[str]] = frozenset({"keep", "components", "memory_limit_gb"})
    #: How many shuffle partitions the fit uses never changes its result.
    unkeyed_fields: ClassVar[frozenset[str]] = frozenset({"partitions"})

    exact: ExactConfig = ExactConfig()
    fuzzy: FuzzyConfig = FuzzyConfig()
    #: first: the smallest document id (record numbers compared as numbers); longest: most bytes;
    #: lowest_ppl: lowest perplexity (needs the quality stage before dedup); ties by id
    keep: Literal["first", "longest", "lowest_ppl"] = "first"
    components: ComponentsConfig = ComponentsConfig()
    #: shuffle partitions of the fit (null: from the data size and the cluster's CPUs)
    partitions: int | None = Field(default=None, ge=1)
    #: memory the fit may plan for, in GB (null: what the Ray cluster reports)
    memory_limit_gb: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _something(self) -> Config:
        if not (self.exact.enabled or self.fuzzy.enabled):
            raise ValueError("enable exact or fuzzy dedup (or leave the stage out)")
        return self

    def fingerprint(self, phase: str = "all") -> dict:
        data = super().fingerprint(phase)
        if phase == "process":
            data["exact"].pop("enabled", None)  # the exact hash is always computed (cheap)
            for key in FUZZY_FIT_FIELDS:
                data["fuzzy"].pop(key, None)
        return data
