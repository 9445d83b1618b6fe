"""The quality classifier: training on the sample's real text, the three keep policies, the
model checks, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import REPO, default_classifier, write_config

from prep.cli import main
from prep.core.stage import FitContext
from prep.pipeline.readers import read_texts
from prep.stages.classifier import SCORE_COLUMN, Config, Stage
from prep.stages.classifier.fasttext_model import NotAFastTextModel, fasttext_labels, normalise
from prep.stages.classifier.keep import LOGIT_BINS, logit_bins
from prep.stages.classifier.train import TrainSettings, auc, train_classifier
from prep.stages.langid import BUNDLED_MODEL


@pytest.fixture(scope="module")
def texts(sample_dir: Path) -> dict[str, list[str]]:
    return {
        "wiki": list(read_texts([str(sample_dir / "wiki/*.jsonl.gz")], "jsonl")),
        "web": list(read_texts([str(sample_dir / "web/*.warc.gz")], "warc")),
        "code": list(read_texts([str(sample_dir / "code/*.jsonl.gz")], "jsonl")),
    }


@pytest.fixture(scope="module")
def model(texts, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("classifier")
    card = train_classifier(texts["wiki"], texts["web"], out, TrainSettings(max_docs=250))
    return out / "model.bin", card


def _batch(texts: list[str], domain: str = "web", lang: str = "en", prefix: str = "d") -> pa.Table:
    n = len(texts)
    return pa.table(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "text": texts,
            "domain": [domain] * n,
            "lang": [lang] * n,
        }
    )


def _stage(**config) -> Stage:
    stage = Stage(Config(**config))
    stage.setup()
    return stage


def test_training_on_reference_vs_web_separates_held_out_documents(model):
    path, card = model
    assert path.is_file() and (path.parent / "card.json").is_file()
    assert json.loads((path.parent / "card.json").read_text()) == card
    held = card["held_out"]
    assert held["documents"] == card["data"]["held_out"]["positive"] + card["data"]["held_out"]["negative"]
    assert card["data"]["train"]["positive"] == card["data"]["train"]["negative"]  # balanced
    assert held["auc"] > 0.9 and held["precision"] > 0.8 and held["recall"] > 0.8
    assert card["settings"]["word_ngrams"] == 2 and card["label"] == "__label__hq"
    assert set(fasttext_labels(path)) == {"__label__hq", "__label__lq"}


def test_training_is_reproducible_with_one_thread(texts, tmp_path):
    a = train_classifier(texts["wiki"][:80], texts["web"][:80], tmp_path / "a", TrainSettings(epoch=3))
    b = train_classifier(texts["wiki"][:80], texts["web"][:80], tmp_path / "b", TrainSettings(epoch=3))
    assert (tmp_path / "a/model.bin").read_bytes() == (tmp_path / "b/model.bin").read_bytes()
    assert a["held_out"] == b["held_out"]


def test_empty_positive_set_is_an_error_naming_it(texts, tmp_path):
    with pytest.raises(ValueError, match="positive sources hold no document"):
        train_classifier(["", "   "], texts["web"], tmp_path / "m")
    assert not (tmp_path / "m" / "model.bin").exists()


def test_scores_equal_raw_fasttext_probabilities(model, texts):
    import fasttext

    path, _ = model
    raw = fasttext.load_model(str(path))
    docs = texts["web"][:40] + texts["wiki"][:40]
    ours = _stage(model=str(path)).scorer.scores(docs)
    for doc, score in zip(docs, ours, strict=True):
        labels, probs = raw.predict(normalise(doc), k=2)
        assert score == pytest.approx(float(dict(zip(labels, probs, strict=True))["__label__hq"]), abs=1e-6)
    assert ours[40:].mean() > ours[:40].mean() + 0.3  # wiki reads like wiki


def test_threshold_drops_below_and_names_the_score(model, texts):
    path, _ = model
    stage = _stage(model=str(path), threshold=0.5)
    batch = _batch(texts["web"][:30] + texts["wiki"][:30])
    verdict = stage.process(batch)
    scores = verdict.table.column(SCORE_COLUMN).to_numpy()
    for rule, reason, score in zip(verdict.rules, verdict.reasons, scores, strict=True):
        assert (rule is None) == (score >= 0.5)
        if rule:
            assert rule == "classifier_below_threshold" and f"{score:.3f}" in reason
    assert sum(verdict.metrics["score_histogram"]["web"]) == 60
    assert verdict.metrics["score_range"] == {"0,1": 1}


def test_pareto_draw_is_per_document_whatever_the_batching(model, texts):
    path, _ = model
    stage = _stage(model=str(path), pareto_alpha=0.5)
    stage.run_seed = 7
    docs = texts["web"][:60]
    whole = stage.process(_batch(docs)).rules
    parts = stage.process(_batch(docs[:25])).rules + stage.process(_batch(docs[25:], prefix="d")).rules
    # the second part's ids restart at d0: rebuild them as in the whole batch
    second = _batch(docs[25:]).set_column(0, "id", pa.array([f"d{i}" for i in range(25, 60)]))
    parts = stage.process(_batch(docs[:25])).rules + stage.process(second).rules
    assert parts == whole
    assert {r for r in whole} <= {None, "classifier_pareto"}
    stage.run_seed = 8
    assert stage.process(_batch(docs)).rules != whole  # another seed, other draws
    # a document scored 1 is always kept; keep rate follows (2 - score) ** -alpha
    from prep.stages.classifier.keep import pareto_keep

    ids = [f"x{i}" for i in range(20000)]
    assert pareto_keep(ids, np.ones(20000), 0.5, 0).all()
    rate = pareto_keep(ids, np.zeros(20000), 0.5, 0).mean()
    assert rate == pytest.approx(2**-0.5, abs=0.02)


def test_keep_top_keeps_the_top_percent_of_each_group(model, texts, ray_session):
    import ray

    path, _ = model
    stage = _stage(model=str(path), keep_top=40, min_docs=20)
    assert Stage.is_global(stage.config) and not Stage.is_global(Config(model=str(path), threshold=0.5))
    web = stage.process(_batch(texts["web"][:200], "web", "en")).table
    code = stage.process(_batch(texts["code"][:100], "code", "en", prefix="c")).table
    small = stage.process(_batch(texts["web"][200:210], "web", "de", prefix="s")).table
    scored = pa.concat_tables([web, code, small])
    assert stage.process(_batch(texts["web"][:5])).rules == [None] * 5  # decided in apply
    fit = stage.fit(
        ray.data.from_arrow(scored.select([SCORE_COLUMN, "lang", "domain"])), FitContext(Path("."), 0)
    )
    assert fit.metrics["group_docs"] == {"en|code": 100, "en|web": 200, "de|web": 10}
    assert fit.metrics["small_groups"] == ["de|web"]  # uses the pooled cutoff
    stage.setup_apply(fit.state, Path("."))
    for table, n in ((web, 200), (code, 100)):
        verdict = stage.apply(table)
        kept = [r is None for r in verdict.rules]
        bins = logit_bins(table.column(SCORE_COLUMN).to_numpy())
        assert sum(kept) >= 0.4 * n
        # everything kept is at or above everything dropped, and no more than one bin's
        # documents beyond the target are kept
        lowest_kept = min(b for b, k in zip(bins, kept, strict=True) if k)
        assert all(b < lowest_kept for b, k in zip(bins, kept, strict=True) if not k)
        assert sum(kept) - int((bins == lowest_kept).sum()) < 0.4 * n
        assert {r for r in verdict.rules} <= {None, "classifier_not_top"}
    assert len(stage.apply(small).rules) == 10
    assert 0 <= max(fit.state["cutoffs"].values()) < LOGIT_BINS


def test_model_checks_name_the_key(model, tmp_path):
    path, _ = model
    assert Config(model=str(tmp_path / "none.bin")).check_files() == [
        f"model: file not found: {tmp_path / 'none.bin'}"
    ]
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is not a fastText model" * 20)
    assert Config(model=str(junk)).check_files()[0].startswith(f"model: not a fastText model: {junk}")
    (problem,) = Config(model=str(path), label="edu").check_files()
    assert problem.startswith(f"label: the model {path} has no label __label__edu (its labels: ")
    assert "__label__hq" in problem and "__label__lq" in problem
    assert Config(model=str(path), label="__label__hq").check_files() == []
    # lid.176.ftz is a fastText model, but it has no quality label
    assert "has no label __label__hq" in Config(model=str(BUNDLED_MODEL)).check_files()[0]
    with pytest.raises(NotAFastTextModel):
        fasttext_labels(junk)
    with pytest.raises(ValueError, match="set one of threshold, pareto_alpha, keep_top"):
        Config(model=str(path), threshold=0.5, keep_top=10)


def test_a_config_with_a_missing_model_is_exit_2_naming_the_stage_key(sample_dir, tmp_path, capsys):
    data = {
        "run": {"output": str(tmp_path / "out"), "work_dir": str(tmp_path / "cache")},
        "sources": [
            {"name": "web", "domain": "web", "format": "warc", "paths": [str(sample_dir / "web/*.warc.gz")]}
        ],
        "stages": [{"classifier": {"model": str(tmp_path / "missing.bin"), "threshold": 0.5}}],
    }
    assert main(["validate", str(write_config(tmp_path / "c.yaml", data))]) == 2
    assert "stages[0].classifier.model: file not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_trains_from_config_domains_and_globs(sample_dir, tmp_path, capsys):
    config = REPO / "configs" / "mix.yaml"
    out = tmp_path / "clf"
    argv = ["classifier", "train", "--config", str(config), "--positive", "books"]
    argv += ["--positive", str(sample_dir / "papers/*.parquet"), "--negative", "web", "--out", str(out)]
    assert main(argv) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["positive"]["paths"] == [
        "data/sample/books/**/*.txt",
        str(sample_dir / "papers/*.parquet"),
    ]
    assert "held out: precision" in capsys.readouterr().out
    assert main(["classifier", "train", "--positive", str(tmp_path / "nothing/*.jsonl"), "--negative", "web",
                 "--config", str(config), "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "--positive: no file matches" in capsys.readouterr().err


def test_sample_classifier_is_trained_once_and_cached():
    path = default_classifier()
    stamp = path.stat().st_mtime_ns
    assert default_classifier().stat().st_mtime_ns == stamp
    card = json.loads((path.parent / "card.json").read_text())
    assert card["held_out"]["auc"] > 0.9
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == 0.75


def test_only_keep_top_adds_a_fit_barrier(model):
    from prep.pipeline.config import StageSpec
    from prep.pipeline.passes import plan_passes

    path, _ = model

    def labels(**policy) -> list[str]:
        spec = StageSpec(name="classifier", index=0, config=Config(model=str(path), **policy))
        return [p.label for p in plan_passes({}, [spec])]

    assert labels(threshold=0.5) == labels(pareto_alpha=9) == labels() == ["read", "classifier"]
    assert labels(keep_top=30) == ["read", "classifier", "classifier-apply"]


def test_the_sample_run_scores_web_only_and_reports_it(mix_run):
    import pyarrow.dataset as pads

    tmp, _, _ = mix_run
    out = tmp / "out"
    stats = json.loads((out / "stats.json").read_text())
    stage = next(s for s in stats["stages"] if s["name"] == "classifier")
    assert set(stage["metrics"]["score_histogram"]) == {"web"}
    web = stage["domains"]["web"]
    assert sum(stage["metrics"]["score_histogram"]["web"]) == web["in"]["docs"]
    assert 0 < web["dropped"]["docs"] < web["in"]["docs"] / 2  # ~13% expected at alpha 0.2
    assert set(web["rules"]) == {"classifier_pareto"}
    assert all(d["dropped"]["docs"] == 0 for name, d in stage["domains"].items() if name != "web")
    docs = pads.dataset(str(out / "documents"), format="parquet").to_table(columns=["domain", SCORE_COLUMN])
    for domain, score in zip(
        docs.column("domain").to_pylist(), docs.column(SCORE_COLUMN).to_pylist(), strict=True
    ):
        assert (score is not None) == (domain == "web")
    rejected = pads.dataset(str(out / "rejected"), format="parquet").to_table()
    mine = rejected.filter(pads.field("stage") == "classifier").to_pylist()
    assert len(mine) == web["dropped"]["docs"]
    assert all(r["rule"] == "classifier_pareto" and r["reason"].startswith("classifier score ") for r in mine)
    page = (out / "report.html").read_text()
    assert "<h2>Quality classifier</h2>" in page
