"""`prep ablate`: three mixtures of the sample re-mixed from the cached tokenized pass, proxies
trained as Ray tasks, ranked on the same validation documents; config errors; the regression."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import mix_config, write_config

from prep.ablate.command import add_ablate_parser
from prep.ablate.config import load_ablate_config
from prep.ablate.driver import AblateError, proxy_resources, variant_config
from prep.ablate.regression import LOG_EPS, fit_mixture, search_best
from prep.core.settings import ConfigError

#: A 1-layer, 32-wide proxy, 40 steps of 1,024 tokens (5-10 s on one core): enough to learn the
#: domains' token statistics, and so to tell code from no code. On the sample's shards, seeds 0-2
#: gave code losses of 8.08-8.33 without code, 7.21-7.41 at 20% code, 7.01-7.19 at 45%.
PROXY = {
    "model": "tiny", "n_layer": 1, "n_head": 2, "n_embd": 32, "seq_len": 128, "batch_size": 8,
    "steps": 40, "lr": 3e-2, "seed": 0, "device": "cpu", "eval_tokens": 20000, "log_every": 20,
}  # fmt: skip
NO_CODE = {"web": 0.3, "wiki": 0.35, "books": 0.2, "code": 0.0, "papers": 0.15}
CODE_HEAVY = {"web": 0.15, "wiki": 0.2, "books": 0.1, "code": 0.45, "papers": 0.1}
#: The sample's web has ~158k training tokens: 700k of web alone needs 4.4 epochs (max_epochs 4).
WEB_ONLY = {"web": 1.0}


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="prep")
    add_ablate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ablate", *argv])
    return args.func(args)


def _ablation(tmp_path: Path, mix_tmp: Path, **extra) -> dict:
    """An ablation whose base uses `mix_tmp`'s work_dir (the session's mix run: passes reused)."""
    base = write_config(tmp_path / "base.yaml", mix_config(mix_tmp, output=str(tmp_path / "base-out")))
    return {
        "base": str(base),
        "out": str(tmp_path / "ablate"),
        "variants": [{"name": "base"}, {"name": "no-code", "weights": dict(NO_CODE)},
                     {"name": "code-heavy", "weights": dict(CODE_HEAVY)}],
        "target_tokens": 700_000,
        "proxy": dict(PROXY),
        **extra,
    }  # fmt: skip


@pytest.fixture(scope="module")
def ablation(mix_run, tmp_path_factory, ray_session):
    """Three trainable variants and one the data cannot meet (policy error), ablated once through
    the command line; the tests below read its output."""
    tmp = tmp_path_factory.mktemp("ablate")
    data = _ablation(tmp, mix_run[0], policy="error")
    data["variants"].append({"name": "web-only", "weights": WEB_ONLY})
    code = _run_cli([str(write_config(tmp / "ablate.yaml", data))])
    out = tmp / "ablate"
    return code, out, json.loads((out / "ablate.json").read_text())


def _variants(summary: dict) -> dict[str, dict]:
    return {v["name"]: v for v in summary["variants"]}


def test_three_variants_complete_and_are_ranked(ablation):
    code, out, summary = ablation
    assert code == 0
    variants = _variants(summary)
    assert list(variants) == ["base", "no-code", "code-heavy", "web-only"]
    trained = {n: v for n, v in variants.items() if v["status"] == "ok"}
    assert list(trained) == ["base", "no-code", "code-heavy"]
    assert sorted(v["rank"] for v in trained.values()) == [1, 2, 3]
    ranked = sorted(trained.values(), key=lambda v: v["rank"])
    assert [v["overall"] for v in ranked] == sorted(v["overall"] for v in ranked)
    assert summary["ranking"] == [v["name"] for v in ranked] and summary["best"] == ranked[0]["name"]
    for v in trained.values():  # overall = the mean of the per-domain validation losses
        assert v["overall"] == pytest.approx(np.mean([m["loss"] for m in v["val"].values()]))
        assert set(v["val"]) == {"web", "wiki", "books", "code", "papers"}
        assert (Path(v["proxy"]) / "summary.json").is_file()
    # the achieved mixtures are the asked ones, at the ablation's budget (not the base's 2M)
    assert trained["no-code"]["shares"]["code"] == 0.0
    assert trained["code-heavy"]["shares"]["code"] == pytest.approx(0.45, abs=0.01)
    assert trained["base"]["shares"]["code"] == pytest.approx(0.2, abs=0.01)
    assert trained["base"]["mix"]["target_tokens"] == 700_000
    # the infeasible mixture is reported with the mix stage's table, not trained, not ranked
    web = variants["web-only"]
    assert web["status"] == "infeasible" and "rank" not in web
    assert "<- short" in web["reason"] and "mix.policy: renormalise" in web["reason"]
    assert not (Path(web["proxy"]) / "summary.json").exists()
    # the report and the regression; three variants are too few to trust, and it says so
    page = (out / "report.html").read_text()
    assert "Predicted best mixture (not trained)" in page and page.count("data:image/png;base64,") >= 3
    assert "web-only" in page and "infeasible" in page
    assert "<script" not in page and "http" not in page
    reg = summary["regression"]
    assert reg["fitted"] and reg["variants"] == [v["name"] for v in ranked]
    assert not reg["trusted"] and "too few to trust" in reg["warning"]
    best = reg["predicted_best"]["weights"]
    assert sum(best.values()) == pytest.approx(1.0)
    for d, (lo, hi) in reg["predicted_best"]["region"].items():  # never beyond the trained shares
        assert lo - 1e-9 <= best[d] <= hi + 1e-9
        assert lo == pytest.approx(min(v["shares"][d] for v in trained.values()))


def test_every_variant_reuses_the_tokenized_pass_and_scores_the_same_documents(ablation):
    _, _, summary = ablation
    trained = [v for v in summary["variants"] if v["status"] == "ok"]
    for v in trained:
        # the session's mix run computed every pass up to the mix: nothing is cleaned or tokenized again
        assert v["upstream_reused"] is True, v["passes"]
        assert [p["label"] for p in v["passes"]][-1] == "mix-apply"
    val = summary["validation"]
    assert val["identical"] and val["variants"] == 3 and set(val["docs"]) == set(summary["domains"])
    scored = [{d: (m["docs"], m["tokens"], m["bytes"]) for d, m in v["val"].items()} for v in trained]
    assert scored[0] == scored[1] == scored[2]
    shards = []
    for v in trained:
        manifest = json.loads((Path(v["data"]) / "manifest.json").read_text())
        assert manifest["splits"]["val"]["domains"]["code"]["docs"] > 0  # code is scored without code data
        shards.append([s["sha256"] for s in manifest["shards"] if s["split"] == "val"])
    assert shards[0] == shards[1] == shards[2]  # byte-identical validation shards


def test_a_mixture_without_code_is_worse_on_code(ablation):
    _, _, summary = ablation
    code = {n: v["val"]["code"] for n, v in _variants(summary).items() if v["status"] == "ok"}
    assert code["no-code"]["loss"] > code["base"]["loss"] + 0.4
    assert code["base"]["loss"] > code["code-heavy"]["loss"]
    assert code["no-code"]["bpb"] > code["base"]["bpb"] > code["code-heavy"]["bpb"]


# --- the pieces, without training -----------------------------------------------------------


def test_variant_config_sets_weights_budget_policy_and_output(sample_dir, default_lm, tmp_path):
    ab = load_ablate_config(write_config(tmp_path / "a.yaml", _ablation(tmp_path, tmp_path)))
    base, no_code = ab.variants[0], ab.variants[1]
    cfg = variant_config(ab, no_code, tmp_path / "v")
    mix = next(s for s in cfg.stages if s.name == "mix").config
    assert cfg.run.output == str(tmp_path / "v") and cfg.run.work_dir == str(tmp_path / "cache")
    assert mix.policy == "renormalise" and mix.target_tokens == 700_000  # the ablation's defaults
    assert mix.normalised_weights() == pytest.approx(NO_CODE)
    base_mix = next(s for s in variant_config(ab, base, tmp_path / "b").stages if s.name == "mix").config
    assert base.source == "base" and base_mix.weights == ab.base.model.mix["weights"]
    # the tokenizer is keyed without the weights: every variant shares the base's tokenizer
    tok = [
        next(s for s in c.stages if s.name == "tokenize") for c in (cfg, variant_config(ab, base, tmp_path))
    ]
    assert tok[0].fingerprint() == tok[1].fingerprint()


def test_proxies_ask_for_a_gpu_each_when_the_cluster_has_gpus(sample_dir, default_lm, tmp_path, monkeypatch):
    import ray

    data = _ablation(tmp_path, tmp_path, cpus_per_proxy=2)
    data["proxy"]["device"] = "auto"
    ab = load_ablate_config(write_config(tmp_path / "a.yaml", data))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 8.0})
    assert proxy_resources(ab) == {"num_gpus": 1, "num_cpus": 1}
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0})
    assert proxy_resources(ab) == {"num_cpus": 2}
    data["proxy"]["device"] = "cuda"
    with pytest.raises(AblateError, match="no GPU"):
        proxy_resources(load_ablate_config(write_config(tmp_path / "b.yaml", data)))
    data["proxy"]["device"] = "cpu"
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 8.0})
    assert proxy_resources(load_ablate_config(write_config(tmp_path / "c.yaml", data))) == {"num_cpus": 2}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(varients=[]), "varients: unknown key"),
        (lambda d: d["proxy"].update(modle="tiny"), "proxy.modle: unknown key"),
        (lambda d: d["proxy"].update(steps=0), "proxy.steps:"),
        (lambda d: d["proxy"].update(data="out/mix"), "proxy.data: set by the ablation"),
        (lambda d: d["variants"][1]["weights"].update(music=0.2), "variants[1].weights.music: no source"),
        (lambda d: d["variants"][2].update(weights={"code": -1.0}), "variants[2].weights.code: must be >= 0"),
        (lambda d: d["variants"].append({"name": "base"}), "names must be unique, repeated: base"),
        (lambda d: d["variants"][0].update(name="a/b"), "variants[0].name:"),
        (lambda d: d.update(overall="median"), "overall:"),
        (lambda d: d.update(variants=[]), "variants: list at least one variant"),
        (lambda d: d.update(base="nowhere.yaml"), "base: config file not found: nowhere.yaml"),
    ],
)
def test_bad_config_names_the_key(sample_dir, default_lm, tmp_path, capsys, mutate, expected):
    data = _ablation(tmp_path, tmp_path)
    mutate(data)
    path = write_config(tmp_path / "bad.yaml", data)
    with pytest.raises(ConfigError) as err:
        load_ablate_config(path)
    assert expected in str(err.value)
    assert _run_cli([str(path)]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "ablate").exists()  # nothing ran


def test_a_base_config_that_cannot_run_is_a_config_error(sample_dir, default_lm, tmp_path):
    data = _ablation(tmp_path, tmp_path)
    base = mix_config(tmp_path)
    base["sources"][3]["paths"] = [str(tmp_path / "no-code-here/*.jsonl.gz")]
    data["base"] = str(write_config(tmp_path / "base.yaml", base))
    with pytest.raises(ConfigError, match=r"sources\[3\]\.paths\[0\]: no file matches"):
        load_ablate_config(write_config(tmp_path / "a.yaml", data))
    del base["mix"]
    write_config(tmp_path / "base.yaml", base)
    with pytest.raises(ConfigError, match="mix: required to write shards"):
        load_ablate_config(tmp_path / "a.yaml")


def test_dirichlet_samples_are_drawn_around_the_base_weights(sample_dir, default_lm, tmp_path):
    data = _ablation(tmp_path, tmp_path, dirichlet={"samples": 200, "concentration": 50, "seed": 1})
    ab = load_ablate_config(write_config(tmp_path / "a.yaml", data))
    drawn = [v for v in ab.variants if v.source == "dirichlet"]
    assert len(ab.variants) == 203 and len(drawn) == 200 and drawn[0].name == "dirichlet-000"
    mean = {d: np.mean([v.weights[d] for v in drawn]) for d in ab.base_weights}
    assert mean == pytest.approx(ab.base_weights, abs=0.02)
    assert all(sum(v.weights.values()) == pytest.approx(1.0) for v in drawn)
    again = load_ablate_config(write_config(tmp_path / "b.yaml", data))
    assert again.variants == ab.variants  # seeded


# --- regression (synthetic data, no training) -----------------------------------------------


def test_regression_recovers_known_coefficients_and_finds_the_minimiser():
    rng = np.random.default_rng(0)
    domains = ["a", "b", "c"]
    shares = rng.dirichlet([4, 4, 4], size=40)
    # each domain's loss falls with the log of its own share, a little with the others'
    coef = np.array([[-0.6, 0.1, 0.05], [0.05, -0.4, 0.1], [0.1, 0.05, -0.8]])
    intercept = np.array([3.0, 4.0, 2.0])
    losses = intercept + np.log(shares + LOG_EPS) @ coef.T
    fit = fit_mixture(shares, losses, domains, domains, "log", alpha=1e-9)
    np.testing.assert_allclose(fit.coef, coef, atol=1e-6)
    np.testing.assert_allclose(fit.intercept, intercept, atol=1e-6)
    assert all(r == pytest.approx(1.0) for r in fit.r2.values()) and fit.trusted
    assert all(e < 1e-6 for e in fit.loo_rmse.values())

    omega = np.full(3, 1 / 3)
    best = search_best(fit, omega, shares, candidates=20_000, seed=0)
    # the analytic minimiser of the mean predicted loss on the simplex (Lagrange: x_j + eps ∝ -sum_d c_dj)
    pull = -coef.sum(axis=0)
    expected = pull / pull.sum() * (1 + 3 * LOG_EPS) - LOG_EPS
    np.testing.assert_allclose(best.shares, expected, atol=2e-3)
    assert best.overall <= (fit.predict(shares) @ omega).min()
    assert best.overall == pytest.approx(float(fit.predict(best.shares)[0] @ omega))


def test_linear_regression_recovers_relative_coefficients_and_stays_in_the_trained_range():
    rng = np.random.default_rng(1)
    shares = rng.dirichlet([3, 3, 3, 3], size=12)
    coef = np.array([[-1.0, 0.2, 0.3, 0.5]])  # sums to zero: the only identifiable gauge on the simplex
    losses = 2.5 + shares @ coef.T
    fit = fit_mixture(shares, losses, list("abcd"), ["a"], "linear", alpha=1e-9)
    np.testing.assert_allclose(fit.coef, coef, atol=1e-6)
    best = search_best(fit, np.ones(1), shares, candidates=5_000, seed=0)
    # linear: the optimum is where the region allows the most of `a`, never beyond what was trained
    assert best.shares[0] == pytest.approx(shares[:, 0].max(), abs=1e-6)
    assert np.all(best.shares >= shares.min(axis=0) - 1e-9) and np.all(
        best.shares <= shares.max(axis=0) + 1e-9
    )


def test_too_few_variants_are_flagged_and_still_fit():
    shares = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
    losses = np.array([[3.0], [2.5], [2.6]])
    fit = fit_mixture(shares, losses, list("abc"), ["x"], "log", alpha=1e-3)
    assert not fit.trusted and fit.params_per_domain == 4
    assert fit.loo_errors is not None and fit.loo_errors.shape == (3, 1)
    np.testing.assert_allclose(fit.predict(shares)[:, 0], losses[:, 0], atol=0.05)
