"""Shared fixtures: one Ray session for the whole test run, the bundled sample, configs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for every test that runs the pipeline (ray.init costs ~10 s here)."""
    import ray

    os.environ.pop("RAY_ADDRESS", None)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The bundled sample corpus, built once (reused when already built)."""
    from prep.sample import build_sample

    build_sample(SAMPLE)
    return SAMPLE


@pytest.fixture(scope="session")
def default_lm(sample_dir: Path) -> Path:
    """The bundled default perplexity model (trained on the sample wiki once, ~15 s)."""
    from prep.bootstrap import DEFAULT_MODEL_DIR, ensure_default_model

    return ensure_default_model(REPO / DEFAULT_MODEL_DIR, sample_dir)


def default_classifier() -> Path:
    """The sample's quality classifier (wiki, books, papers vs web; trained once, ~7 s)."""
    from prep.bootstrap import DEFAULT_CLASSIFIER, ensure_default_classifier

    return ensure_default_classifier(REPO / DEFAULT_CLASSIFIER, SAMPLE)


@pytest.fixture(scope="session")
def sample_manifest(sample_dir: Path) -> dict:
    return json.loads((sample_dir / "MANIFEST.json").read_text())


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def mix_config(tmp: Path, **run_overrides) -> dict:
    """configs/mix.yaml with absolute sample and model paths and outputs under `tmp`."""
    data = yaml.safe_load((REPO / "configs" / "mix.yaml").read_text())
    for src in data["sources"]:
        src["paths"] = [str(REPO / p) for p in src["paths"]]
    for entry in data["stages"]:
        for spec in entry.get("quality", {}).get("perplexity", {}).values():
            spec["dir"] = str(REPO / spec["dir"])
        if "classifier" in entry:
            entry["classifier"]["model"] = str(default_classifier())
    data["run"].update({"output": str(tmp / "out"), "work_dir": str(tmp / "cache"), **run_overrides})
    return data


@pytest.fixture(scope="session")
def mix_run(tmp_path_factory, sample_dir, default_lm, ray_session):
    """configs/mix.yaml run once for the modules that only read its output."""
    from prep.pipeline.config import load_config
    from prep.pipeline.runner import run

    tmp = tmp_path_factory.mktemp("mix-run")
    cfg = write_config(tmp / "mix.yaml", mix_config(tmp))
    return tmp, cfg, run(load_config(cfg))


@pytest.fixture(scope="session")
def slice_tokenizer(tmp_path_factory, sample_dir) -> Path:
    """The given tokenizer of the slice runs (see `slice_run.slice_config`)."""
    from slice_run import train_tokenizer

    return train_tokenizer(sample_dir, tmp_path_factory.mktemp("slice-tokenizer"))


@pytest.fixture(scope="session")
def slice_reference(tmp_path_factory, sample_dir, default_lm, ray_session, slice_tokenizer) -> dict:
    """The products of one uninterrupted local run of the slice, shared by the cluster and fault
    tests (each compares its own run with it)."""
    from slice_run import products, slice_config

    from prep.pipeline.config import load_config
    from prep.pipeline.runner import run

    tmp = tmp_path_factory.mktemp("slice-reference")
    run(load_config(write_config(tmp / "ref.yaml", slice_config(tmp, slice_tokenizer))))
    return products(tmp / "out")


def chromium() -> str | None:
    """Headless Chromium for the report test; CI installs it (PREP_REQUIRE_CHROMIUM=1)."""
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None and os.environ.get("PREP_REQUIRE_CHROMIUM"):
        pytest.fail("PREP_REQUIRE_CHROMIUM is set but no chromium is on PATH")
    return found
