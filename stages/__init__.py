"""What prep does to documents: one module per stage, none importing another.

Each stage module defines `Config` (a strict pydantic model for its YAML block) and
`Stage` (a `prep.core.stage.Stage` subclass). Modules are imported lazily so that
validating a config never loads a model.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Stage name in the YAML -> module that implements it, in the order prep documents them.
STAGE_MODULES: dict[str, str] = {
    "langid": "prep.stages.langid",
    "quality": "prep.stages.quality",
    "classifier": "prep.stages.classifier",
    "dedup": "prep.stages.dedup",
    "pii": "prep.stages.pii",
    "decontam": "prep.stages.decontam",
}

#: Stages the runner appends from the top-level `tokenizer:` and `mix:` sections.
SECTION_OF: dict[str, str] = {"tokenize": "tokenizer", "mix": "mix"}
INTERNAL_STAGES: tuple[str, ...] = tuple(SECTION_OF)
STAGE_MODULES.update({"tokenize": "prep.stages.tokenize", "mix": "prep.stages.mix"})

#: Names users may list under `stages:`.
STAGE_NAMES: tuple[str, ...] = tuple(n for n in STAGE_MODULES if n not in INTERNAL_STAGES)


def stage_module(name: str) -> ModuleType:
    return importlib.import_module(STAGE_MODULES[name])


def stage_config_model(name: str):
    return stage_module(name).Config


def stage_class(name: str):
    return stage_module(name).Stage
