"""Tokenizer, mixture, shards, `prep verify` and report.html on the bundled sample."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import chromium, mix_config, write_config

from prep.cli import main
from prep.core.shards import read_shard
from prep.pipeline.config import load_config
from prep.pipeline.runner import run
from prep.stages.mix.plan import MixError, missed_targets, partial_threshold, targets


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_domain_shares_match_the_weights(mix_run):
    tmp, cfg, _ = mix_run
    manifest = _manifest(tmp / "out")
    weights = load_config(cfg).model.mix["weights"]
    mix = manifest["mix"]
    assert mix["achieved_tokens"] == manifest["splits"]["train"]["tokens"]
    assert abs(mix["achieved_tokens"] - mix["target_tokens"]) / mix["target_tokens"] < 0.01
    for domain, weight in weights.items():
        plan = mix["domains"][domain]
        assert abs(plan["share"] - weight) < 0.01, domain  # within 1 percentage point
        assert plan["epochs"] <= mix["max_epochs"]
    assert mix["domains"]["web"]["epochs"] > 2  # upsampled by whole repeats
    assert mix["domains"]["code"]["epochs"] < 0.5  # downsampled without replacement


def test_shards_are_typed_tokenized_documents_with_provenance(mix_run):
    tmp, _, _ = mix_run
    out = tmp / "out"
    manifest = _manifest(out)
    eot = manifest["tokenizer"]["eot_id"]
    train = [read_shard(out / s["path"]) for s in manifest["shards"] if s["split"] == "train"]
    assert len(train) > 1
    table = pa.concat_tables(train)
    assert table.schema.field("tokens").type == pa.list_(pa.uint16())  # vocabulary 8000
    assert {"id", "domain", "lang", "source", "bytes", "ppl", "ppl_bucket", "epoch"} <= set(
        table.column_names
    )
    ends = [t[-1] for t in table.column("tokens").to_pylist()[:200]]
    assert ends == [eot] * len(ends)
    # upsampled web documents appear several times, each copy with its epoch
    web = table.filter(pa.compute.equal(table.column("domain"), "web"))
    ids = web.column("id").to_pylist()
    assert len(ids) > len(set(ids)) and max(web.column("epoch").to_pylist()) >= 2
    # shuffled across shards: the first shard holds every domain
    assert set(train[0].column("domain").to_pylist()) == {"web", "wiki", "books", "code", "papers"}
    # the tokenizer decodes the shards back to the documents' text
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    row = table.slice(0, 1).to_pylist()[0]
    docs = pa.concat_tables(
        [pa.parquet.read_table(p) for p in sorted((out / "documents").glob("*.parquet"))]
    ).to_pylist()
    text = next(d["text"] for d in docs if d["id"] == row["id"])
    assert tok.decode(row["tokens"][:-1]) == text
    assert row["bytes"] == len(text.encode())


def test_verify_passes_then_catches_tampering(mix_run, tmp_path, capsys):
    tmp, _, _ = mix_run
    assert main(["verify", str(tmp / "out")]) == 0
    assert "disjoint" in capsys.readouterr().out
    copy = tmp_path / "out"
    shutil.copytree(tmp / "out", copy)
    manifest = _manifest(copy)
    val = [s for s in manifest["shards"] if s["split"] == "val"]
    victim = copy / manifest["shards"][0]["path"]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    (copy / val[0]["path"]).unlink()
    assert main(["verify", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "sha256 differs" in err and f"{val[0]['path']}: missing" in err


def test_validation_documents_never_train(mix_run):
    tmp, _, _ = mix_run
    out = tmp / "out"
    manifest = _manifest(out)
    ids = {"train": set(), "val": set()}
    for s in manifest["shards"]:
        ids[s["split"]].update(read_shard(out / s["path"]).column("id").to_pylist())
    assert ids["val"] and not ids["train"] & ids["val"]
    assert {d for d, v in manifest["splits"]["val"]["domains"].items() if v["docs"]} == {
        "web",
        "wiki",
        "books",
        "code",
        "papers",
    }


def test_remix_reuses_the_tokenized_pass(mix_run, tmp_path):
    """New weights and budget: only the mix's fit and apply run; the tokenizer is not called."""
    tmp, _, first = mix_run
    data = mix_config(tmp, output=str(tmp_path / "out"))
    data["mix"]["weights"] = {"web": 0.1, "wiki": 0.4, "books": 0.1, "code": 0.3, "papers": 0.1}
    data["mix"]["target_tokens"] = 1_500_000
    again = run(load_config(write_config(tmp_path / "remix.yaml", data)))
    reused = {p.label: p.reused for p in again.passes}
    assert reused.pop("mix-apply") is False
    assert all(reused.values()), reused  # tokenize-apply (the tokenizer's only caller) included
    tokenize_fit = {p.label: p.key for p in first.passes}
    assert {p.label: p.key for p in again.passes}["tokenize-apply+mix"] == tokenize_fit["tokenize-apply+mix"]
    new, old = _manifest(tmp_path / "out"), _manifest(tmp / "out")
    assert new["tokenizer"]["sha256"] == old["tokenizer"]["sha256"]
    assert abs(new["mix"]["domains"]["code"]["share"] - 0.3) < 0.01
    # the same validation documents for every mixture, so their losses compare
    assert new["splits"]["val"] == old["splits"]["val"]


def test_unreachable_target_errors_or_renormalises(mix_run, tmp_path):
    tmp, _, _ = mix_run
    data = mix_config(tmp, output=str(tmp_path / "out"))
    data["mix"]["target_tokens"] = 4_000_000  # web would need ~6 epochs at weight 0.25
    with pytest.raises(MixError) as err:
        run(load_config(write_config(tmp_path / "strict.yaml", data)))
    message = str(err.value)
    assert "web" in message and "<- short" in message and "mix.policy: renormalise" in message
    data["mix"]["policy"] = "renormalise"
    result = run(load_config(write_config(tmp_path / "lenient.yaml", data)))
    mix = _manifest(tmp_path / "out")["mix"]
    assert mix["domains"]["web"]["epochs"] == pytest.approx(4.0, abs=0.05)
    assert any(note.startswith("web: capped") for note in mix["notes"])
    assert abs(mix["achieved_tokens"] - 4_000_000) / 4_000_000 < 0.01  # the others made up for it
    assert result.stats["stages"][-1]["name"] == "mix"


def test_a_users_tokenizer_json_is_used_as_is(mix_run, tmp_path):
    tmp, _, _ = mix_run
    given = tmp_path / "my-tokenizer.json"
    shutil.copyfile(tmp / "out" / "tokenizer.json", given)
    data = mix_config(tmp, output=str(tmp_path / "out"))
    data["tokenizer"] = {"path": str(given)}
    again = run(load_config(write_config(tmp_path / "given.yaml", data)))
    # the tokenizer is fit-only: the pass its no-op per-document phase ends (PII, decontam) is reused
    reused = {p.label: p.reused for p in again.passes}
    assert reused["dedup-apply+pii+decontam+tokenize"] and not reused["tokenize-apply+mix"]
    manifest = _manifest(tmp_path / "out")
    assert (tmp_path / "out" / "tokenizer.json").read_bytes() == given.read_bytes()
    assert manifest["tokenizer"]["provenance"]["source"] == str(given)
    assert main(["verify", str(tmp_path / "out")]) == 0


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("tokenizer"), "tokenizer: required to write shards"),
        (lambda d: d["mix"]["weights"].update(fiction=0.1), "mix.weights.fiction: no source has domain"),
        (lambda d: d.update(tokenizer={"path": "/no/such/tokenizer.json"}), "tokenizer.path: file not found"),
        (lambda d: d["mix"].update(max_epochs=0.5), "mix.max_epochs"),
        (lambda d: d["stages"].insert(0, {"mix": {}}), "stages[0].mix: not a stage to list"),
    ],
)
def test_bad_mix_config_names_the_key(tmp_path, capsys, sample_dir, default_lm, mutate, expected):
    data = mix_config(tmp_path)
    mutate(data)
    assert main(["validate", str(write_config(tmp_path / "bad.yaml", data))]) == 2
    assert expected in capsys.readouterr().err


def test_plan_arithmetic():
    u = np.array([0.1, 0.5, 0.3, 0.9])
    tokens = np.array([10, 20, 30, 40])
    assert partial_threshold(u, tokens, 38) == (0.5, 40)  # docs 0.1 and 0.3: 40 tokens, closest
    assert partial_threshold(u, tokens, 4) == (0.1, 0)  # nothing is closer than one document
    want, notes = targets({"a": 0.5, "b": 0.5}, {"a": 10, "b": 1000}, 100, 2.0, "renormalise")
    assert want == {"a": 20, "b": 80} and notes == ["a: capped at 2 epochs (20 tokens)"]
    with pytest.raises(MixError):
        targets({"a": 0.5, "b": 0.5}, {"a": 10, "b": 1000}, 100, 2.0, "error")


def test_a_domain_that_misses_its_target_by_over_a_tenth_is_named():
    """Whole documents: 40 notes of which one holds most tokens cannot be cut to a small share."""
    tokens = np.array([1_000] * 39 + [200_000])
    u = np.linspace(0.01, 0.99, 40)
    u[-1] = 0.3  # the long one early in sampling order
    _, drawn = partial_threshold(u, tokens, 35_000)
    assert drawn == 12_000  # the 12 short ones before it; taking it would land at 212,000
    report = {
        "notes": {
            "target_tokens": 35_000,
            "achieved_tokens": drawn,
            "train_docs": 40,
            "available_tokens": 239_000,
        },
        "web": {
            "target_tokens": 50_000,
            "achieved_tokens": 48_000,
            "train_docs": 9,
            "available_tokens": 12_000,
        },
    }
    notes = missed_targets(report)
    assert notes == [
        "notes: drew 12,000 training tokens for a target of 35,000 (34%): documents are drawn "
        "whole and this domain's 40 training documents hold 239,000 tokens"
    ]
    assert missed_targets(report, tolerance=0.7) == []


def test_the_distributed_plan_chooses_what_the_arrays_choose(ray_session, tmp_path):
    """plan_mix, from histograms and the documents near each cut, picks the same validation
    cut, sampling threshold and token sums as the in-memory statement of the plan on every
    document's hashes, for a one-document, a small and a large domain; with 4 bins, so that
    thousands of documents share the bins of the cuts (the sample run covers 65,536 bins)."""
    n_bins = 4
    import ray

    from prep.core.hashing import unit_hash
    from prep.stages.mix import fit as mix_fit
    from prep.stages.mix.plan import val_threshold

    rng = np.random.default_rng(7)
    sizes = {"solo": 1, "small": 9, "large": 6000}
    rows = [(f"{d}/doc:{i}", d, int(rng.integers(1, 400))) for d, n in sizes.items() for i in range(n)]
    table = pa.table(
        {"id": [r[0] for r in rows], "domain": [r[1] for r in rows], "n_tokens": [r[2] for r in rows]}
    )
    ds = ray.data.from_arrow([table.slice(i, 700) for i in range(0, table.num_rows, 700)])
    wants = {"solo": 0.0, "small": 1234.5, "large": 400_000.0}
    state, report = mix_fit.plan_mix(ds, tmp_path, 3, 0.05, 1, lambda available: wants, n_bins)
    for d in sizes:
        ids = [r[0] for r in rows if r[1] == d]
        tokens = np.array([r[2] for r in rows if r[1] == d])
        u_val, u_mix = unit_hash(ids, "val:3"), unit_hash(ids, "mix:3")
        t_val, k = val_threshold(u_val, 0.05, 1)
        train = u_val >= t_val
        available = int(tokens[train].sum())
        epochs = wants[d] / available if available else 0.0
        full = int(np.floor(epochs + 1e-12))
        threshold, partial = partial_threshold(u_mix[train], tokens[train], (epochs - full) * available)
        assert state[d]["val_threshold"] == t_val and state[d]["full"] == full
        assert report[d]["val_docs"] == k and report[d]["available_tokens"] == available
        assert report[d]["achieved_tokens"] == full * available + partial
        # the same documents are drawn (the threshold may differ only between two hashes)
        drawn = u_mix[train] < threshold
        assert np.array_equal(drawn, u_mix[train] < state[d]["threshold"])


def test_report_renders_in_headless_chromium(mix_run, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium on PATH (CI installs it and sets PREP_REQUIRE_CHROMIUM=1)")
    tmp, _, _ = mix_run
    out = tmp / "out"
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    url = (out / "report.html").resolve().as_uri()
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Uncaught" not in dom.stderr and "CONSOLE" not in dom.stderr  # no script errors
    manifest, stats = _manifest(out), json.loads((out / "stats.json").read_text())
    for number in (
        stats["stages"][0]["in"]["docs"],
        manifest["splits"]["train"]["tokens"],
        manifest["mix"]["domains"]["web"]["achieved_tokens"],
    ):
        assert f"{number:,}" in dom.stdout
    for heading in ("Funnel", "Languages", "Perplexity", "Mixture", "Shards", "Document lengths"):
        assert f"<h2>{heading}</h2>" in dom.stdout
    assert dom.stdout.count("data:image/png;base64,") >= 5
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, "--window-size=1280,3000", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 50_000  # a page of charts, not a blank one
