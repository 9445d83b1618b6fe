"""What prep does to documents: one module per stage, none importing another.

Each stage module defines `Config` (a strict pydantic model for its YAML block) and
`Stage` (a `pipeline.stage.Stage` subclass). Modules are imported lazily so that
validating a config never loads a model.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Stage name in the YAML -> module that implements it, in the order prep documents them.
STAGE_MODULES: dict[str, str] = {
    "langid": "stages.langid",
    "quality": "stages.quality",
}

STAGE_NAMES: tuple[str, ...] = tuple(STAGE_MODULES)


def stage_module(name: str) -> ModuleType:
    return importlib.import_module(STAGE_MODULES[name])


def stage_config_model(name: str):
    return stage_module(name).Config


def stage_class(name: str):
    return stage_module(name).Stage
