"""The runner, not the stages, enforces that no document is lost or invented."""

from __future__ import annotations

import pyarrow as pa
import pytest
import ray
from tables import make_table

from prep.core.stage import Stage, StageConfig, Verdict
from prep.pipeline.accounting import Accountant, AccountingError, check_chain, check_stage, merge
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


def _task(stage_cls, accountant, **config) -> StageTask:
    task = object.__new__(StageTask)
    task.name = task.key = stage_cls.name
    task.stage = stage_cls(_Config(**config))
    task.fields, task.decide = task.stage.output_fields, task.stage.process
    task.accountant = accountant
    return task


def _batch(domain="web"):
    rows = [{"id": f"s/f:{i}", "text": t, "source": "s", "domain": domain} for i, t in enumerate(TEXTS, 1)]
    rows.append({"id": "s/f:9", "text": "x", "source": "s", "domain": domain, "_stage": "read", "_rule": "r"})
    return make_table(rows)


def test_wrapper_marks_drops_counts_and_passes_rejected_rows(ray_session):
    acct = Accountant.remote()
    out = _task(_DropsShortOnes, acct)(_batch())
    assert out.num_rows == 4  # the row rejected earlier travels on
    by_id = {r["id"]: r for r in out.to_pylist()}
    assert by_id["s/f:1"]["_rule"] == "too_short" and by_id["s/f:1"]["_stage"] == "short"
    assert by_id["s/f:3"]["_stage"] is None and by_id["s/f:3"]["words"] == 11
    assert by_id["s/f:9"]["_stage"] == "read" and by_id["s/f:9"]["words"] is None
    stats = ray.get(acct.snapshot.remote("short"))
    assert stats["in"]["docs"] == 3 and stats["kept"]["docs"] == 1 and stats["dropped"]["docs"] == 2
    assert stats["rules"]["too_short"]["docs"] == 2
    assert stats["in"]["bytes"] == sum(len(t.encode()) for t in TEXTS)
    check_stage("short", stats)


def test_retried_batch_is_not_counted_twice(ray_session):
    acct = Accountant.remote()
    task = _task(_DropsShortOnes, acct)
    task(_batch())
    task(_batch())  # Ray re-executes a batch after a worker failure
    assert ray.get(acct.snapshot.remote("short"))["in"]["docs"] == 3


def test_domains_option_passes_other_domains_through(ray_session):
    acct = Accountant.remote()
    out = _task(_DropsShortOnes, acct, domains=["wiki"])(_batch("web"))
    assert out.column("_stage").null_count == 3
    stats = ray.get(acct.snapshot.remote("short"))
    assert stats["kept"]["docs"] == 3 and stats["dropped"]["docs"] == 0


@pytest.mark.parametrize("bad_stage", [_LosesARow, _RenamesIds])
def test_a_stage_that_loses_or_invents_rows_fails_the_run(ray_session, bad_stage):
    with pytest.raises(AccountingError):
        _task(bad_stage, Accountant.remote())(_batch())


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
