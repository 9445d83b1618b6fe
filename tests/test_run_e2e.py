"""End to end on the bundled sample: outputs, checkpoints, reuse and partial recompute."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from conftest import mix_config, write_config

from prep.pipeline.config import load_config
from prep.pipeline.runner import run


def _pass_dirs(cache: Path) -> dict[str, float]:
    return {d.name: (d / "manifest.json").stat().st_mtime for d in (cache / "passes").iterdir() if d.is_dir()}


@pytest.fixture(scope="module")
def first_run(mix_run):
    """The session's run of configs/mix.yaml (other modules add passes to its work_dir, never change them)."""
    return mix_run


def test_outputs_exist_and_add_up(first_run):
    tmp, _, result = first_run
    out = tmp / "out"
    stats = json.loads((out / "stats.json").read_text())
    stage_names = [s["name"] for s in stats["stages"]]
    assert stage_names == [
        "read",
        "langid",
        "quality",
        "classifier",
        "dedup",
        "pii",
        "decontam",
        "tokenize",
        "mix",
    ]
    assert all(not p.reused for p in result.passes)
    for s in stats["stages"]:
        assert s["in"]["docs"] == s["kept"]["docs"] + s["dropped"]["docs"]
        for d in s["domains"].values():
            assert d["in"]["docs"] == d["kept"]["docs"] + d["dropped"]["docs"]
    assert set(stats["stages"][0]["domains"]) >= {"web", "wiki", "books", "code", "papers"}
    read_in = stats["stages"][0]["in"]["docs"]
    docs = pads.dataset(str(out / "documents"), format="parquet").count_rows()
    rejected = pads.dataset(str(out / "rejected"), format="parquet").to_table()
    assert docs + rejected.num_rows == read_in
    assert docs == stats["stages"][-1]["kept"]["docs"] > 500
    # langid dropped something on the multilingual sample, each with its reason
    langid = rejected.filter(pads.field("stage") == "langid").to_pylist()
    assert langid
    assert all(r["rule"] in {"lang_not_kept", "lang_low_score"} and r["reason"] for r in langid)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["stages"][0]["langid"]["keep"]
    # read, langid+quality, quality-apply+classifier+dedup, dedup-apply+pii+decontam+tokenize,
    # tokenize-apply+mix, mix-apply
    assert len(result.passes) == 6
    # what the driver itself spent, per pass and in all (docs/benchmarks.md follows it at scale)
    driver = stats["driver"]
    assert list(driver["passes"]) == [p.label for p in result.passes]
    assert 0 < driver["passes"]["read"]["cpu_s"] < driver["total"]["cpu_s"]
    assert driver["total"]["peak_rss_mb"] >= max(d["peak_rss_mb"] for d in driver["passes"].values())
    assert all(any(p.key[:16] in d for d in _pass_dirs(tmp / "cache")) for p in result.passes)


def test_second_run_reuses_every_pass(first_run):
    tmp, cfg, _ = first_run
    before = _pass_dirs(tmp / "cache")
    again = run(load_config(cfg))
    assert [p.reused for p in again.passes] == [True] * 6
    assert _pass_dirs(tmp / "cache") == before  # nothing rewritten
    stats = json.loads((tmp / "out" / "stats.json").read_text())
    assert all(s["reused"] for s in stats["stages"])


def _through_quality(data: dict) -> dict:
    """The config up to the quality stage: what follows is recomputed the same way, only slower."""
    data["stages"] = data["stages"][:2]
    assert [next(iter(s)) for s in data["stages"]] == ["langid", "quality"]
    del data["tokenizer"], data["mix"]
    return data


def test_changed_langid_threshold_recomputes_langid_only(first_run, tmp_path):
    tmp, _, first = first_run
    data = _through_quality(mix_config(tmp, output=str(tmp_path / "out")))
    data["stages"][0]["langid"]["thresholds"] = {"en": 0.95}
    again = run(load_config(write_config(tmp_path / "stricter.yaml", data)))
    assert [p.reused for p in again.passes] == [True, False, False]
    assert again.passes[0].key == first.passes[0].key
    assert again.passes[1].key != first.passes[1].key
    old, new = first.stats["stages"][1], again.stats["stages"][1]
    assert new["in"] == old["in"]
    assert (
        new["rules"].get("lang_low_score", {"docs": 0})["docs"]
        > old["rules"].get("lang_low_score", {"docs": 0})["docs"]
    )


def test_fresh_recomputes_everything(sample_dir, tmp_path):
    """--fresh ignores checkpoints (on a slice of the sample: one wiki file, language ID only)."""
    data = mix_config(tmp_path)
    data["sources"] = [s for s in data["sources"] if s["domain"] == "wiki"]
    data["sources"][0]["paths"] = [str(sample_dir / "wiki" / "wiki-00001.jsonl.gz")]
    data["stages"] = data["stages"][:1]
    del data["tokenizer"], data["mix"]
    config = load_config(write_config(tmp_path / "small.yaml", data))
    first = run(config)
    assert [p.reused for p in run(config).passes] == [True, True]
    again = run(config, fresh=True)
    assert [p.reused for p in again.passes] == [False, False]
    assert [p.key for p in again.passes] == [p.key for p in first.passes]
    assert again.stats["stages"][1]["kept"] == first.stats["stages"][1]["kept"]


def _copy_cache(tmp: Path, tmp_path: Path) -> Path:
    """A copy of the session run's work_dir, to damage without touching the original."""
    shutil.copytree(tmp / "cache", tmp_path / "cache")
    return tmp_path / "cache" / "passes"


def test_tampered_checkpoint_is_discarded_and_recomputed_with_a_message(first_run, tmp_path, caplog):
    """A pass whose files on disk disagree with its manifest is not trusted: it is computed again,
    the run says so, and the output equals the untampered run's."""
    tmp, _, first = first_run
    passes = _copy_cache(tmp, tmp_path)
    data = mix_config(tmp, work_dir=str(tmp_path / "cache"), output=str(tmp_path / "out"))
    config = load_config(write_config(tmp_path / "t.yaml", data))
    langid_pass = next(d for d in passes.iterdir() if first.passes[1].key[:16] in d.name)
    victim = sorted((langid_pass / "data").glob("*.parquet"))[0]
    victim.unlink()
    with caplog.at_level("WARNING", logger="prep"):
        again = run(config)
    assert [p.reused for p in again.passes] == [True, False, True, True, True, True]
    assert any("fails verification" in r.message and "discarding" in r.message for r in caplog.records)
    shards = json.loads((tmp_path / "out" / "manifest.json").read_text())["shards"]
    assert shards == json.loads((tmp / "out" / "manifest.json").read_text())["shards"]


def test_interrupted_pass_is_recomputed_and_earlier_passes_resume(first_run, tmp_path):
    """A pass without a manifest (the run died while writing it) does not count as done."""
    tmp, _, first = first_run
    passes = _copy_cache(tmp, tmp_path)
    data = mix_config(tmp, work_dir=str(tmp_path / "cache"), output=str(tmp_path / "out"))
    config = load_config(write_config(tmp_path / "r.yaml", data))
    langid_pass = next(d for d in passes.iterdir() if first.passes[1].key[:16] in d.name)
    (langid_pass / "manifest.json").unlink()
    (passes / ".tmp-01-langid-deadbeef").mkdir()  # a half-written pass left by the crash
    resumed = run(config)
    # the pass after it depends on its key, not on when it was written: still reused
    assert [p.reused for p in resumed.passes] == [True, False, True, True, True, True]
    assert not list(passes.glob(".tmp-*"))
    assert (langid_pass / "manifest.json").is_file()


def test_changed_buckets_reuse_the_perplexity_scores(first_run, tmp_path):
    """Bucket settings are fit-only: the scored pass is reused, only fit and apply rerun."""
    tmp, _, first = first_run
    data = _through_quality(mix_config(tmp, output=str(tmp_path / "out")))
    data["stages"][1]["quality"]["buckets"]["keep"] = ["head", "middle"]
    again = run(load_config(write_config(tmp_path / "no-tail.yaml", data)))
    assert [p.reused for p in again.passes] == [True, True, False]
    quality = again.stats["stages"][2]
    assert quality["phases"]["process"] == first.stats["stages"][2]["phases"]["process"]
    tail = quality["rules"]["ppl_tail"]["docs"]
    assert tail == quality["phases"]["apply"]["dropped"]["docs"] > 100
    # CCNet's 30/60 split, per language and domain, on this run's own scores
    fit = quality["metrics"]["fit"]
    assert {"en|web", "en|wiki", "en|papers"} <= set(fit["cutoffs"])
    assert all(fit["group_docs"][g] < 20 for g in fit["small_groups"])
    buckets = quality["metrics"]["buckets"]["web"]
    scored = buckets["head"] + buckets["middle"] + buckets["tail"]
    assert abs(buckets["head"] / scored - 0.3) < 0.02 and abs(buckets["tail"] / scored - 0.4) < 0.02
    rejected = pads.dataset(str(tmp_path / "out" / "rejected"), format="parquet").to_table()
    tails = rejected.filter(pads.field("rule") == "ppl_tail")
    assert tails.num_rows == tail and set(tails.column("ppl_bucket").to_pylist()) == {"tail"}
