"""The runner, not the stages, enforces that no document is lost or invented."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tables import make_table

from prep.core.records import COUNTS_COLUMN
from prep.core.stage import Stage, StageConfig, Verdict
from prep.pipeline.accounting import (
    AccountingError,
    attach_counts,
    check_chain,
    check_stage,
    finish,
    merge,
    summarise,
)
from prep.pipeline.stage_task import StageTask

TEXTS = [
    "Now is better than never.",
    "Although never is often better than right now.",
    "If the implementation is hard to explain, it's a bad idea.",
]


class _Config(StageConfig):
    pass


class _DropsShortOnes(Stage):
    name = "short"
    output_fields = (pa.field("words", pa.int64()),)

    def process(self, batch):
        words = [len(t.split()) for t in batch.column("text").to_pylist()]
        table = batch.append_column("words", pa.array(words, pa.int64()))
        return Verdict(table, ["too_short" if w < 9 else None for w in words])


class _LosesARow(Stage):
    name = "lossy"

    def process(self, batch):
        return Verdict(batch.slice(1), [None] * (batch.num_rows - 1))


class _RenamesIds(Stage):
    name = "renamer"

    def process(self, batch):
        ids = pa.array([i + "-x" for i in batch.column("id").to_pylist()])
        return Verdict(batch.set_column(0, "id", ids), [None] * batch.num_rows)


def _task(stage_cls, **config) -> StageTask:
    task = object.__new__(StageTask)
    task.name = task.key = stage_cls.name
    task.stage = stage_cls(_Config(**config))
    task.fields, task.decide = task.stage.output_fields, task.stage.process
    return task


def _batch(domain="web"):
    rows = [{"id": f"s/f:{i}", "text": t, "source": "s", "domain": domain} for i, t in enumerate(TEXTS, 1)]
    rows.append({"id": "s/f:9", "text": "x", "source": "s", "domain": domain, "_stage": "read", "_rule": "r"})
    return make_table(rows)


def test_wrapper_marks_drops_counts_and_passes_rejected_rows():
    out, counts, metrics = _task(_DropsShortOnes)(_batch())
    assert out.num_rows == 4  # the row rejected earlier travels on
    by_id = {r["id"]: r for r in out.to_pylist()}
    assert by_id["s/f:1"]["_rule"] == "too_short" and by_id["s/f:1"]["_stage"] == "short"
    assert by_id["s/f:3"]["_stage"] is None and by_id["s/f:3"]["words"] == 11
    assert by_id["s/f:9"]["_stage"] == "read" and by_id["s/f:9"]["words"] is None
    stats = finish(counts, metrics)
    assert stats["in"]["docs"] == 3 and stats["kept"]["docs"] == 1 and stats["dropped"]["docs"] == 2
    assert stats["rules"]["too_short"]["docs"] == 2
    assert stats["in"]["bytes"] == sum(len(t.encode()) for t in TEXTS)
    check_stage("short", stats)


def test_counts_travel_with_the_rows_and_a_rewritten_batch_counts_once(ray_session, tmp_path):
    """Each written batch carries its counts on its first row; a batch Ray writes again after a
    failed attempt replaces its file, so the pass's summary counts it once, not twice."""
    task = _task(_DropsShortOnes)
    for name in ("part-0", "part-1", "part-0"):  # part-0 written twice: a retried write task
        out, counts, metrics = task(_batch())
        table = attach_counts(out, {"short": (counts, metrics)})
        assert table.column(COUNTS_COLUMN).null_count == table.num_rows - 1
        pq.write_table(table, tmp_path / f"{name}.parquet")
    summary = summarise(tmp_path)
    assert summary["rows"] == 8 and summary["rejected"] == {"short": 4, "read": 2}
    stats = summary["steps"]["short"]
    assert (stats["in"]["docs"], stats["kept"]["docs"], stats["dropped"]["docs"]) == (6, 2, 4)


def test_domains_option_passes_other_domains_through():
    out, counts, metrics = _task(_DropsShortOnes, domains=["wiki"])(_batch("web"))
    assert out.column("_stage").null_count == 3
    stats = finish(counts, metrics)
    assert stats["kept"]["docs"] == 3 and stats["dropped"]["docs"] == 0


@pytest.mark.parametrize("bad_stage", [_LosesARow, _RenamesIds])
def test_a_stage_that_loses_or_invents_rows_fails_the_run(bad_stage):
    with pytest.raises(AccountingError):
        _task(bad_stage)(_batch())


def test_invariant_checks_catch_inconsistent_counts():
    stats = {"in": {"docs": 5}, "kept": {"docs": 3}, "dropped": {"docs": 1}, "rules": {}, "domains": {}}
    with pytest.raises(AccountingError, match="5 docs in"):
        check_stage("x", stats)
    prev = {"domains": {"web": {"kept": {"docs": 4}}}}
    cur = {"domains": {"web": {"in": {"docs": 3}}}}
    with pytest.raises(AccountingError, match="kept 4 docs but stage b received 3"):
        check_chain("a", prev, "b", cur)


def test_merge_sums_nested_counts():
    assert merge({"a": [1, 2], "b": {"c": 1}}, {"a": [1, 1, 5], "b": {"c": 2, "d": 3}}) == {
        "a": [2, 3, 5],
        "b": {"c": 3, "d": 3},
    }
