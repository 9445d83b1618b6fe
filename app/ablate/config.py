"""`prep ablate` settings: which mixtures to try, how to train their proxies, how to score them.

Everything is checked before any work starts, against the base config (its domains, its
`mix:` section), and every error names its key path (`variants[1].weights.music`), as
everywhere in prep. Kept free of torch and Ray so that a bad config fails fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prep.core.settings import ConfigError, error_lines
from prep.pipeline.config import Config, load_config, parse_config, read_yaml
from prep.training.config import TrainConfig

#: TrainConfig keys the ablation sets itself, or that would make the proxies incomparable.
PROXY_FORBIDDEN = {
    "data": "set by the ablation: each variant's own shards",
    "out": "set by the ablation: OUT/variants/NAME/proxy",
    "domain_weights": "the mixture is what the ablation varies; re-weighting at sampling time would hide it",
    "stop_after": "every proxy must finish its steps to be compared",
}

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariantConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN)  # also the folder OUT/variants/NAME
    weights: dict[str, float] | None = None  # null: the base config's mix.weights


class DirichletConfig(Strict):
    samples: int = Field(default=0, ge=0)  # mixtures drawn around the base weights
    concentration: float = Field(default=20.0, gt=0)  # higher: closer to the base weights
    seed: int = 0


class RegressionConfig(Strict):
    features: Literal["log", "linear"] = "log"  # per-domain loss ~ log(share + 0.01), or ~ share
    alpha: float = Field(default=1e-3, ge=0)  # ridge penalty on the coefficients
    candidates: int = Field(default=100_000, ge=100)  # mixtures scored when searching the best
    seed: int = 0


class AblateConfig(Strict):
    base: str  # the prep config whose cleaned, tokenized passes every variant re-mixes
    out: str = "out/ablate"
    variants: list[VariantConfig] = Field(default_factory=list)
    dirichlet: DirichletConfig = DirichletConfig()
    target_tokens: int | None = Field(default=None, ge=1)  # mix.target_tokens of every variant
    policy: Literal["renormalise", "error"] = "renormalise"  # mix.policy of every variant
    proxy: dict[str, Any] = Field(default_factory=dict)  # prep train settings shared by all proxies
    cpus_per_proxy: int = Field(default=1, ge=1)  # CPUs (torch threads) of a proxy task
    metric: Literal["loss", "bpb"] = "loss"  # per-domain score: nats per token or bits per byte
    overall: Literal["mean", "tokens", "base"] = "mean"  # how domain scores combine into one
    regression: RegressionConfig = RegressionConfig()


@dataclass(frozen=True)
class Variant:
    name: str
    source: Literal["base", "explicit", "dirichlet"]
    weights: dict[str, float] | None  # normalised; None: the base config's mix.weights as written


@dataclass(frozen=True)
class Ablation:
    """A validated ablation: its settings, the base config, the variants in run order."""

    config: AblateConfig
    path: str | None
    base: Config
    domains: tuple[str, ...]  # the base config's source domains, sorted
    base_weights: dict[str, float] | None  # normalised mix.weights of the base (None: natural shares)
    variants: tuple[Variant, ...]
    proxy: dict[str, Any]  # TrainConfig settings without data/out

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    def proxy_config(self, data: Path, out: Path) -> TrainConfig:
        return TrainConfig.model_validate({**self.proxy, "data": str(data), "out": str(out)})


def _normalised(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {d: round(w / total, 12) for d, w in sorted(weights.items())}


def _check_weights(where: str, weights: dict[str, float], domains: tuple[str, ...]) -> list[str]:
    problems = [
        f"{where}.{d}: no source of the base config has domain {d!r} (domains: {list(domains)})"
        for d in sorted(weights)
        if d not in domains
    ]
    problems += [f"{where}.{d}: must be >= 0 (got {w!r})" for d, w in sorted(weights.items()) if w < 0]
    if not problems and sum(weights.values()) <= 0:
        problems.append(f"{where}: at least one weight must be > 0")
    return problems


def _check_proxy(proxy: dict[str, Any]) -> list[str]:
    """The proxy settings as `prep train` would check them (keys named `proxy.KEY`)."""
    problems = [f"proxy.{k}: {why}" for k, why in PROXY_FORBIDDEN.items() if k in proxy]
    if problems:
        return problems
    try:
        TrainConfig.model_validate({**proxy, "data": "-", "out": "-"})
    except ValidationError as err:
        return error_lines(err, "proxy")
    return []


def dirichlet_variants(base: dict[str, float], cfg: DirichletConfig) -> list[Variant]:
    """`samples` mixtures ~ Dirichlet(concentration x base weights); zero-weight domains stay zero."""
    if cfg.samples == 0:
        return []
    domains = [d for d, w in sorted(base.items()) if w > 0]
    alpha = np.array([base[d] for d in domains]) * cfg.concentration
    draws = np.random.default_rng(cfg.seed).dirichlet(alpha, size=cfg.samples)
    width = max(2, len(str(cfg.samples - 1)))
    return [
        Variant(
            f"dirichlet-{i:0{width}d}",
            "dirichlet",
            {d: round(float(x), 12) for d, x in zip(domains, row, strict=True)},
        )
        for i, row in enumerate(draws)
    ]


def parse_ablate_config(data: Any, source: str | None = None) -> Ablation:
    """Validate an ablation mapping and the base config it names; ConfigError lists every problem."""
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping (base, out, variants, proxy, ...)"], source)
    try:
        cfg = AblateConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(error_lines(err), source) from err
    base = _read_base(cfg.base)
    if not base.writes_shards:
        raise ConfigError(
            [f"base: {cfg.base} writes no shards (it needs tokenizer: and mix: sections)"], source
        )
    domains = tuple(sorted({s.domain for s in base.sources}))
    mix = next(s for s in base.stages if s.name == "mix").config
    base_weights = mix.normalised_weights()

    problems: list[str] = []
    variants: list[Variant] = []
    for i, v in enumerate(cfg.variants):
        if v.weights is None:
            variants.append(Variant(v.name, "base", None))  # the base's mix section, untouched
            continue
        found = _check_weights(f"variants[{i}].weights", v.weights, domains)
        problems += found
        if not found:
            variants.append(Variant(v.name, "explicit", _normalised(v.weights)))
    if cfg.dirichlet.samples:
        if base_weights is None:
            problems.append(
                f"dirichlet.samples: samples are drawn around the base's mix.weights, and {cfg.base} "
                "sets none (natural shares); list the weights there or give variants explicitly"
            )
        else:
            variants += dirichlet_variants(base_weights, cfg.dirichlet)
    names = [v.name for v in cfg.variants] + [v.name for v in variants if v.source == "dirichlet"]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"variants: names must be unique, repeated: {', '.join(dupes)}")
    if not cfg.variants and not cfg.dirichlet.samples:
        problems.append("variants: list at least one variant (or dirichlet.samples > 0)")
    if cfg.overall == "base" and base_weights is None:
        problems.append(f"overall: 'base' weighs domains by the base's mix.weights, and {cfg.base} sets none")
    problems += _check_proxy(cfg.proxy)
    if problems:
        raise ConfigError(problems, source)
    base = load_config(cfg.base)  # now the base's files too (globs, models: a few seconds)
    return Ablation(cfg, source, base, domains, base_weights, tuple(variants), dict(cfg.proxy))


def _read_base(path: str) -> Config:
    """The base config's structure, without touching its files yet (that comes last: it is slow)."""
    try:
        data = read_yaml(path)
    except ConfigError as err:
        raise ConfigError([f"base: {p}" for p in err.problems]) from None
    return parse_config(data, path, check_files=False)


def load_ablate_config(path: str | Path) -> Ablation:
    return parse_ablate_config(read_yaml(path), str(path))
