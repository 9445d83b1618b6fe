"""The YAML config users write, validated by pydantic.

Every mistake a user can make here becomes a `ConfigError` whose lines name the key
path (`stages[0].langid.threshold`) and what was expected, never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from prep.core.settings import ConfigError, error_lines
from prep.stages import INTERNAL_STAGES, SECTION_OF, STAGE_NAMES, stage_config_model


class Strict(BaseModel):
    """Base for every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RunConfig(Strict):
    output: str = "out/mix"
    work_dir: str = ".prep-cache"
    seed: int = 0
    batch_size: int = Field(default=512, ge=1, description="documents per Arrow batch in stages")
    #: Files a reader could not finish (corrupt, truncated, gone) that a run accepts: each is
    #: one `unreadable_file` row in rejected/ and listed in stats.json; one more fails the run
    #: after the read pass (which is kept: raising the limit reuses it).
    max_unreadable_files: int = Field(default=10, ge=0)


class RayConfig(Strict):
    address: str | None = None  # null: start a local Ray; "auto" or "ray://host:10001": join
    num_cpus: int | None = Field(default=None, ge=1)  # local Ray only; default: all cores


class SourceConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    domain: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    format: Literal["jsonl", "parquet", "text", "warc", "wet"]
    paths: list[str] = Field(min_length=1)
    text_field: str = "text"  # jsonl/parquet: field holding the text ("a.b" for nested JSON)
    url_field: str | None = None  # jsonl/parquet: optional field holding a URL
    #: jsonl/parquet: the record's own id (string or integer), kept as `source_id` in documents/,
    #: rejected/ and the shards; WARC and WET records always carry their WARC-Record-ID there
    id_field: str | None = None
    #: The record's own metadata, kept as a JSON object in the `metadata` column of documents/
    #: and rejected/ (and of the shards with `mix.shard_metadata`): jsonl, dotted field names;
    #: parquet, column names; warc/wet, header names (e.g. WARC-Date). `all`: every field but
    #: the text (warc/wet: WARC-Record-ID, WARC-Target-URI and WARC-Date).
    metadata_fields: list[str] | Literal["all"] | None = None
    max_doc_bytes: int = Field(default=10_000_000, ge=1)  # larger documents are rejected
    extractor: Literal["trafilatura"] = "trafilatura"  # warc: HTML-to-text extractor

    @model_validator(mode="after")
    def _fields_of_the_format(self) -> SourceConfig:
        if self.id_field is not None and self.format not in ("jsonl", "parquet"):
            raise ValueError(
                f"id_field applies to jsonl and parquet sources; a {self.format} record's id is "
                + ("its WARC-Record-ID, kept as source_id" if self.format in ("warc", "wet") else "its path")
            )
        if self.metadata_fields is not None and self.format == "text":
            raise ValueError(
                "metadata_fields applies to jsonl, parquet, warc and wet sources; a text file has no fields"
            )
        if isinstance(self.metadata_fields, list):
            if not self.metadata_fields or any(not f for f in self.metadata_fields):
                raise ValueError(
                    "metadata_fields must name at least one field, and no empty names (or say `all`)"
                )
            repeated = sorted({f for f in self.metadata_fields if self.metadata_fields.count(f) > 1})
            if repeated:
                raise ValueError(f"metadata_fields names a field twice: {', '.join(repeated)}")
        return self


class PrepConfig(Strict):
    run: RunConfig = RunConfig()
    ray: RayConfig = RayConfig()
    sources: list[SourceConfig] = Field(min_length=1)
    stages: list[dict[str, Any]] = Field(default_factory=list)
    #: Tokenized shards: both sections together (see the tokenize and mix stages).
    tokenizer: dict[str, Any] | None = None
    mix: dict[str, Any] | None = None

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique, repeated: {', '.join(dupes)}")
        return sources


class StageSpec(BaseModel):
    """One validated entry of `stages:`: the stage name and its typed config."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    name: str
    index: int
    config: Any
    where: str = ""  # key path of the block in the YAML, for messages

    def fingerprint(self) -> dict:
        return {"name": self.name, "config": self.config.fingerprint()}


class Config:
    """A validated config plus where it came from (relative paths resolve from the cwd)."""

    def __init__(self, model: PrepConfig, stages: list[StageSpec], path: str | None):
        self.model = model
        self.stages = stages
        self.path = path

    @property
    def run(self) -> RunConfig:
        return self.model.run

    @property
    def sources(self) -> list[SourceConfig]:
        return self.model.sources

    def resolved(self) -> dict:
        """The config as it will run, for manifests and checkpoint keys."""
        data = self.model.model_dump(mode="json")
        data["stages"] = [{s.name: s.config.model_dump(mode="json")} for s in self.stages if s.index >= 0]
        for s in self.stages:
            if s.index < 0:  # tokenizer and mix, as the sections they came from
                data[s.where] = s.config.model_dump(mode="json", exclude={"sample_weights"})
        return data

    @property
    def writes_shards(self) -> bool:
        return any(s.name == "mix" for s in self.stages)


def _validate_stages(raw: list[dict[str, Any]]) -> tuple[list[StageSpec], list[str]]:
    specs, problems = [], []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"stages[{i}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            problems.append(f"{where}: expected a mapping with one stage name, e.g. '- langid: {{...}}'")
            continue
        ((name, body),) = entry.items()
        if name in INTERNAL_STAGES:
            problems.append(
                f"{where}.{name}: not a stage to list; write a top-level `{SECTION_OF[name]}:` section"
            )
            continue
        if name not in STAGE_NAMES:
            problems.append(f"{where}.{name}: unknown stage (known: {', '.join(STAGE_NAMES)})")
            continue
        if name in seen:
            problems.append(f"{where}.{name}: stage listed twice")
            continue
        seen.add(name)
        try:
            cfg = stage_config_model(name).model_validate(body or {})
        except ValidationError as err:
            problems.extend(error_lines(err, f"{where}.{name}"))
            continue
        specs.append(StageSpec(name=name, index=i, config=cfg, where=f"{where}.{name}"))
    return specs, problems


def _shard_sections(data: dict, domains: set[str]) -> tuple[list[StageSpec], list[str]]:
    """`tokenizer:` and `mix:` become the tokenize and mix stages at the end of the run."""
    tokenizer, mix = data.get("tokenizer"), data.get("mix")
    if tokenizer is None and mix is None:
        return [], []
    if tokenizer is None or mix is None:
        missing = "tokenizer" if tokenizer is None else "mix"
        example = (
            "{train: {vocab_size: 32000}}"
            if missing == "tokenizer"
            else "{target_tokens: ..., weights: {...}}"
        )
        return [], [f"{missing}: required to write shards (e.g. {missing}: {example})"]
    specs, problems = [], []
    for name, section, body in (("tokenize", "tokenizer", tokenizer), ("mix", "mix", mix)):
        if not isinstance(body, dict):
            problems.append(f"{section}: expected a mapping")
            continue
        if name == "tokenize" and isinstance(mix.get("weights"), dict):
            body = {**body, "sample_weights": mix["weights"]}
        try:
            cfg = stage_config_model(name).model_validate(body)
        except ValidationError as err:
            problems.extend(error_lines(err, section))
            continue
        specs.append(StageSpec(name=name, index=-1, config=cfg, where=section))
    weights = mix.get("weights") if isinstance(mix, dict) else None
    for domain in sorted(weights or {}):
        if domain not in domains:
            problems.append(
                f"mix.weights.{domain}: no source has domain {domain!r} (domains: {sorted(domains)})"
            )
    return specs, problems


def _check_files(cfg: PrepConfig, specs: list[StageSpec]) -> list[str]:
    """Missing files and empty globs, named by key path (fsspec: remote URLs too)."""
    from prep.pipeline.sources import expand_paths

    problems = []
    for i, src in enumerate(cfg.sources):
        for j, pattern in enumerate(src.paths):
            try:
                found = expand_paths([pattern])
            except Exception as exc:  # an unknown protocol, a missing fsspec plugin, no access
                problems.append(f"sources[{i}].paths[{j}]: cannot list {pattern!r}: {exc}")
                continue
            if not found:
                problems.append(f"sources[{i}].paths[{j}]: no file matches {pattern!r}")
    for spec in specs:
        check = getattr(spec.config, "check_files", None)
        if check is not None:
            problems.extend(f"{spec.where}.{p}" for p in check())
    return problems


def parse_config(data: Any, source: str | None = None, check_files: bool = True) -> Config:
    """Validate a config mapping; raise ConfigError listing every problem found."""
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping of sections (run, sources, stages, ...)"], source)
    problems: list[str] = []
    try:
        model = PrepConfig.model_validate(data)
    except ValidationError as err:
        model, problems = None, error_lines(err)
    raw_stages = data.get("stages") or []
    specs, stage_problems = _validate_stages(raw_stages) if isinstance(raw_stages, list) else ([], [])
    problems += stage_problems
    domains = {s.get("domain") for s in data.get("sources") or [] if isinstance(s, dict)}
    shard_specs, shard_problems = _shard_sections(data, domains)
    specs += shard_specs
    problems += shard_problems
    if model is not None and not problems and check_files:
        problems = _check_files(model, specs)
    if problems or model is None:
        raise ConfigError(problems, source)
    return Config(model, specs, source)


def read_yaml(path: str | os.PathLike) -> Any:
    """A config file's YAML; a missing file or bad YAML is a ConfigError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError([f"config file not found: {p}"], str(p))
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError([f"not valid YAML: {exc}"], str(p)) from None


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a YAML config file; `overrides` are dotted keys set on top."""
    p = Path(path)
    data = read_yaml(p)
    for dotted, value in (overrides or {}).items():
        node = data if isinstance(data, dict) else {}
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(node.get(key), dict | None) else {}
        node[leaf] = value
    return parse_config(data, str(p))
