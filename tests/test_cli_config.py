"""Config validation and the command line: user mistakes exit 2 with the key path named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, write_config

from prep.cli import main


def _config(tmp_path: Path, text_file: Path, **extra) -> dict:
    return {
        "run": {"output": str(tmp_path / "out"), "work_dir": str(tmp_path / "cache")},
        "sources": [{"name": "docs", "domain": "web", "format": "jsonl", "paths": [str(text_file)]}],
        "stages": [{"langid": {"keep": ["en"]}}],
        **extra,
    }


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "Beautiful is better than ugly. Explicit is better than implicit."}\n')
    return path


def test_valid_config_passes(tmp_path, jsonl, capsys):
    cfg = write_config(tmp_path / "ok.yaml", _config(tmp_path, jsonl))
    assert main(["validate", str(cfg)]) == 0
    assert "ok" in capsys.readouterr().out


def test_shipped_configs_validate(sample_dir, default_lm, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    for cfg in sorted((REPO / "configs").glob("*.yaml")):
        assert main(["validate", str(cfg)]) == 0, cfg


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["sources"][0].update(bogus=1), "sources[0].bogus: unknown key"),
        (lambda c: c.update(extra_section={}), "extra_section: unknown key"),
        (lambda c: c["stages"][0]["langid"].update(threshold="high"), "stages[0].langid.threshold"),
        (lambda c: c["stages"][0]["langid"].update(keep="en"), "stages[0].langid.keep"),
        (lambda c: c["run"].update(batch_size=0), "run.batch_size"),
        (lambda c: c["sources"][0].update(format="csv"), "sources[0].format"),
        (lambda c: c["sources"][0].update(paths=["/no/such/dir/*.jsonl"]), "sources[0].paths[0]: no file"),
        (lambda c: c["stages"].append({"nosuchstage": {}}), "stages[1].nosuchstage: unknown stage"),
        (lambda c: c["stages"][0]["langid"].update(model="/no/such/lid.bin"), "stages[0].langid.model"),
        (lambda c: c["sources"].append(dict(c["sources"][0])), "source names must be unique"),
        (lambda c: c.pop("sources"), "sources: required key is missing"),
    ],
)
def test_bad_config_exits_2_and_names_the_key(tmp_path, jsonl, capsys, mutate, expected):
    data = _config(tmp_path, jsonl)
    mutate(data)
    cfg = write_config(tmp_path / "bad.yaml", data)
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err
    assert main(["run", str(cfg)]) == 2  # run validates first: nothing starts


def test_not_yaml_and_missing_config_file(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("sources: [unclosed\n")
    assert main(["validate", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_corrupt_langid_model_is_a_config_error(tmp_path, jsonl, capsys):
    model = tmp_path / "lid.bin"
    model.write_bytes(b"this is not a fastText model" * 10)
    cfg = write_config(
        tmp_path / "c.yaml", _config(tmp_path, jsonl, stages=[{"langid": {"model": str(model)}}])
    )
    assert main(["validate", str(cfg)]) == 2
    assert "stages[0].langid.model: not a fastText model" in capsys.readouterr().err


@pytest.mark.parametrize("args", [[], ["run"], ["frobnicate"], ["run", "a.yaml", "--no-such-flag"]])
def test_bad_command_line_exits_2(args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2


@pytest.mark.parametrize("sub", ["run", "validate", "report", "sample"])
def test_help_everywhere(sub):
    out = subprocess.run([sys.executable, "-m", "prep", sub, "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert f"prep {sub}" in out.stdout


def test_report_on_a_folder_without_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "stats.json not found" in capsys.readouterr().err


def test_a_missing_extra_is_a_usage_error_that_names_it(monkeypatch, capsys):
    """Without torch, `prep train` exits 2 and says to install prep[train] (simulated by pointing
    the train extra at a module that does not exist)."""
    from prep import extras

    monkeypatch.setitem(extras.EXTRAS, "train", ("no_such_module_for_prep_tests", "prep train"))
    assert main(["train", "out/nowhere", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'prep[train]'" in err and "no_such_module_for_prep_tests" in err


def test_litdata_export_without_litdata_names_the_extra_and_writes_nothing(monkeypatch, tmp_path, capsys):
    """`prep export --format litdata` without the package: exit 2, `prep[litdata]` named, before
    OUT is read or DIR created (the module is pointed at one that does not exist)."""
    from prep import extras

    missing = ("no_such_module_for_prep_tests", "prep export --format litdata")
    monkeypatch.setitem(extras.EXTRAS, "litdata", missing)
    dest = tmp_path / "lit"
    assert main(["export", str(tmp_path / "no-run"), "--format", "litdata", "--to", str(dest)]) == 2
    err = capsys.readouterr().err
    assert "pip install 'prep[litdata]'" in err and "no_such_module_for_prep_tests" in err
    assert not dest.exists() and not (tmp_path / ".lit.next").exists()
