"""The contract between the runner and a stage.

A streaming stage sees one Arrow batch of live documents at a time and returns a
`Verdict`: the same rows in the same order (with the columns it adds), and for each
row either `None` (keep) or a short rule code (drop). The runner, not the stage,
checks that no row was lost or invented, marks drops, and counts docs and bytes in,
kept and dropped per domain — so every stage is accounted for the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict


class StageConfig(BaseModel):
    """Base for a stage's YAML block: strict, frozen, hashable into checkpoint keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Apply the stage only to documents of these domains (others pass through, counted as
    #: kept); null applies it to every domain. E.g. language ID skips `code`.
    domains: list[str] | None = None

    def check_files(self) -> list[str]:
        """Problems with files the config names, as 'key: message' (checked at validation)."""
        return []


@dataclass
class Verdict:
    """What a stage decided about one batch."""

    table: pa.Table  # the input rows, same order, plus/with the stage's columns
    rules: list[str | None]  # per row: None keeps it, a rule code drops it
    reasons: list[str | None] | None = None  # per row human message for drops (default: the rule)
    metrics: dict[str, Any] = field(default_factory=dict)  # nested counts summed into stats.json


class Stage:
    """A streaming stage: `map_batches` over Arrow batches.

    Subclasses set `name`, and `stateful = True` when `setup` loads a model, so that the
    runner places them in an actor pool where the model is loaded once per actor.
    """

    name: ClassVar[str]
    stateful: ClassVar[bool] = False
    #: Columns the stage adds; rows it does not see get them as nulls.
    output_fields: ClassVar[tuple[pa.Field, ...]] = ()

    def __init__(self, config: StageConfig):
        self.config = config

    def setup(self) -> None:
        """Load models; called once per worker before the first batch."""

    def process(self, batch: pa.Table) -> Verdict:
        raise NotImplementedError
