"""A failure inside a worker reaches the user as one line: stage, document or file, cause."""

from __future__ import annotations

import pyarrow as pa
import pytest
import ray

from prep.cli import main
from prep.core.stage import Verdict
from prep.pipeline.failures import StepFailed, describe, find_failure
from prep.pipeline.stage_task import StageTask

TEXTS = [
    "The committee met on Tuesday to discuss the budget.",
    "Mrs Dalloway said she would buy the flowers herself.",
    "Rain fell over the harbour all through the night.",
]


def _task(decide) -> StageTask:
    task = StageTask.__new__(StageTask)  # only what _decide uses: no model, no Ray
    task.name, task.decide = "quality", decide
    return task


def _batch() -> pa.Table:
    return pa.table({"id": ["a:1", "a:2", "a:3"], "text": TEXTS})


def test_a_stage_error_names_the_document_it_raised_on():
    def decide(batch: pa.Table) -> Verdict:
        if "Dalloway" in "".join(batch.column("text").to_pylist()):
            raise ZeroDivisionError("division by zero")
        return Verdict(batch, [None] * batch.num_rows)

    with pytest.raises(StepFailed) as info:
        _task(decide)._decide(_batch())
    assert str(info.value) == "stage quality failed on document a:2: ZeroDivisionError: division by zero"


def test_a_message_that_quotes_the_document_is_withheld():
    def decide(batch: pa.Table) -> Verdict:
        raise ValueError(f"cannot parse {batch.column('text')[0].as_py()[:30]!r}")

    with pytest.raises(StepFailed) as info:
        _task(decide)._decide(_batch())
    message = str(info.value)
    assert "committee" not in message and "withheld" in message
    assert message.startswith("stage quality failed on document a:1: ValueError")


def test_only_the_first_line_of_a_cause_is_told():
    assert describe(ValueError("no such field\nTraceback (most recent call last): ...")) == (
        "ValueError: no such field"
    )


def test_the_failure_is_found_behind_rays_wrapping(ray_session):
    @ray.remote
    def fail():
        raise StepFailed("stage pii failed on document web/a.jsonl:7: MemoryError")

    with pytest.raises(Exception) as info:
        ray.get(fail.remote())
    assert not isinstance(info.value, StepFailed) or type(info.value) is not StepFailed  # Ray's own type
    assert str(find_failure(info.value)) == "stage pii failed on document web/a.jsonl:7: MemoryError"


def test_the_cli_prints_one_line_and_exits_1(ray_session, sample_dir, monkeypatch, capsys):
    @ray.remote
    def fail():
        raise StepFailed("stage dedup failed on document code/x.jsonl:3: IndexError: list index out of range")

    def run(*args, **kwargs):
        ray.get(fail.remote())

    monkeypatch.setattr("prep.pipeline.runner.run", run)
    assert main(["run", "configs/mix.yaml"]) == 1
    err = " ".join(capsys.readouterr().err.split())  # one message, however the console wraps it
    assert "prep: run failed: stage dedup failed on document code/x.jsonl:3: IndexError" in err
    assert "Traceback" not in err and "--verbose" in err
