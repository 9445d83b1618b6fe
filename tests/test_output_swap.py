"""OUT/ is replaced whole or not at all, and a checkpoint's key follows the files it read."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from conftest import mix_config, write_config

from prep.core.settings import ConfigError
from prep.pipeline.config import load_config
from prep.pipeline.output.swap import previous_dir, recover, staging_dir
from prep.pipeline.runner import run
from prep.stages.quality import Config as QualityConfig


def _small_config(tmp_path: Path, sample_dir: Path):
    """One wiki file through language ID: a run of a few seconds."""
    data = mix_config(tmp_path)
    data["sources"] = [s for s in data["sources"] if s["domain"] == "wiki"]
    data["sources"][0]["paths"] = [str(sample_dir / "wiki" / "wiki-00001.jsonl.gz")]
    data["stages"] = data["stages"][:1]
    del data["tokenizer"], data["mix"]
    return load_config(write_config(tmp_path / "small.yaml", data))


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def test_a_failed_run_leaves_the_previous_output_intact(
    sample_dir, tmp_path, ray_session, monkeypatch, caplog
):
    config = _small_config(tmp_path, sample_dir)
    out = tmp_path / "out"
    run(config)
    before = _tree(out)
    assert {"stats.json", "manifest.json", "report.html"} <= set(before)

    def broken(folder: Path) -> Path:
        raise RuntimeError("the report could not be written")

    monkeypatch.setattr("prep.pipeline.runner.write_report", broken)
    with caplog.at_level("ERROR", logger="prep"), pytest.raises(RuntimeError, match="report could not"):
        run(config, fresh=True)
    assert _tree(out) == before
    assert not staging_dir(out).exists() and not previous_dir(out).exists()
    assert any("previous output" in r.message and "unchanged" in r.message for r in caplog.records)


def test_a_run_refuses_to_replace_a_folder_prep_did_not_write(sample_dir, tmp_path, ray_session):
    config = _small_config(tmp_path, sample_dir)
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError, match="is not the output of a prep run"):
        run(config)
    assert (out / "thesis.tex").read_text() == "years of work"


def test_an_output_left_aside_by_a_killed_swap_is_put_back(tmp_path):
    out = tmp_path / "out"
    previous_dir(out).mkdir()
    (previous_dir(out) / "stats.json").write_text("{}")
    recover(out)
    assert (out / "stats.json").is_file() and not previous_dir(out).exists()
    previous_dir(out).mkdir()  # both present: the swap had finished; the old one goes
    recover(out)
    assert not previous_dir(out).exists() and (out / "stats.json").is_file()


def test_a_model_replaced_in_place_changes_the_quality_key(default_lm, tmp_path):
    """The checkpoint key names the model files' size and time, not only their paths."""
    lm = tmp_path / "lm"
    shutil.copytree(default_lm, lm)
    config = QualityConfig.model_validate({"perplexity": {"en": {"dir": str(lm)}}})
    before, before_process = config.fingerprint(), config.fingerprint(phase="process")
    model = next(f for f in lm.iterdir() if f.name not in ("lm.json", "tokenizer.json"))
    st = model.stat()
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert config.fingerprint() != before
    assert config.fingerprint(phase="process") != before_process  # so the scores are recomputed
