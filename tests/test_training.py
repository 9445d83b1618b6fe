"""The training loop on shards built from the bundled sample: learning, resume, loader, errors."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from shards_fixture import build_shards

from prep.core.settings import ConfigError
from prep.train_command import add_train_parser
from prep.training.config import TrainConfig
from prep.training.data import (
    Corpus,
    ShardError,
    TrainLoader,
    ValSet,
    domain_token_counts,
    load_manifest,
    split_units,
    unigram_entropy,
)
from prep.training.metrics import read_log
from prep.training.train import lr_at, train

#: A 2-layer, 64-wide GPT: small enough for a CPU test, big enough to learn bigrams and more.
SMALL = {"model": "tiny", "n_layer": 2, "n_embd": 64, "n_head": 2}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two cores shared with other test runs: one torch thread is faster and steadier here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, sample_dir) -> Path:
    out = tmp_path_factory.mktemp("shards") / "out"
    build_shards(sample_dir, out, vocab_size=512)
    return out


@pytest.fixture(scope="module")
def corpora(shards) -> tuple[Corpus, Corpus]:
    manifest = load_manifest(shards)
    return Corpus(manifest, "train"), Corpus(manifest, "val")


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="prep")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *argv])
    return args.func(args)


def _train_rows(run: Path) -> list[dict]:
    return [r for r in read_log(run / "log.jsonl") if r["kind"] == "train"]


# --- learning -------------------------------------------------------------------------------


def test_training_loss_falls_well_below_unigram_entropy(shards, corpora, tmp_path):
    """300 steps of 1,024 tokens: the model must learn context, not only token frequencies."""
    run = tmp_path / "run"
    entropy = unigram_entropy(corpora[0], load_manifest(shards).vocab_size)
    argv = [str(shards), "--out", str(run), "--n-layer", "2", "--n-embd", "64", "--n-head", "2"]
    argv += ["--steps", "300", "--batch-size", "16", "--seq-len", "64", "--lr", "1e-2", "--log-every", "1"]
    assert _run_cli([*argv, "--eval-every", "150", "--device", "cpu"]) == 0

    losses = [r["loss"] for r in _train_rows(run)]
    assert len(losses) == 300
    assert np.mean(losses[:5]) > 0.95 * entropy  # it starts at (or above) the unigram entropy
    final = float(np.mean(losses[-20:]))
    assert final < 0.8 * entropy, (final, entropy)

    summary = json.loads((run / "summary.json").read_text())
    val = summary["val"]
    assert summary["finished"] and set(val["domains"]) == {"books", "code", "papers", "web", "wiki"}
    for name, m in val["domains"].items():
        assert 0 < m["loss"] < entropy + 1, name
        assert m["bpb"] == pytest.approx(m["loss"] * m["tokens"] / m["bytes"] / np.log(2)), name
    assert val["loss"] < entropy
    evals = [r for r in read_log(run / "log.jsonl") if r["kind"] == "val"]
    assert [r["step"] for r in evals] == [150, 300] and evals[1]["loss"] < evals[0]["loss"]
    assert (run / "loss.png").stat().st_size > 10_000
    assert json.loads((run / "config.json").read_text())["lr"] == 1e-2


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(data="x", steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [lr_at(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:]))
    assert lr_at(100, cfg) == pytest.approx(1e-4)


# --- resume ---------------------------------------------------------------------------------


def _cfg(shards: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        data=str(shards), out=str(out), seq_len=32, batch_size=4, grad_accum=2, steps=12, lr=3e-3,
        warmup_steps=3, log_every=1, eval_tokens=4000, device="cpu", plot=False, **SMALL,
    )  # fmt: skip
    return TrainConfig(**{**base, **kw})


def _weights(run: Path) -> dict[str, torch.Tensor]:
    (last,) = sorted((run / "checkpoints").glob("step-*.pt"))[-1:]
    return torch.load(last, weights_only=True)["model"]


def test_resumed_run_equals_the_uninterrupted_run(shards, tmp_path):
    whole = train(_cfg(shards, tmp_path / "whole"))
    assert whole["finished"]

    parted_cfg = _cfg(shards, tmp_path / "parted", ckpt_every=4, stop_after=6)
    stopped = train(parted_cfg)
    assert not stopped["finished"] and stopped["step"] == 6 and stopped["val"] is None
    steps = sorted(p.name for p in (tmp_path / "parted" / "checkpoints").glob("*.pt"))
    assert steps == ["step-0000004.pt", "step-0000006.pt"]
    resumed = train(_cfg(shards, tmp_path / "parted", ckpt_every=4), resume=True)
    assert resumed["finished"]

    a, b = _train_rows(tmp_path / "whole"), _train_rows(tmp_path / "parted")
    assert [r["step"] for r in b] == list(range(1, 13))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]  # bit for bit, every step
    assert [r["lr"] for r in a] == [r["lr"] for r in b]
    assert resumed["val"] == whole["val"]
    wa, wb = _weights(tmp_path / "whole"), _weights(tmp_path / "parted")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    log_before = (tmp_path / "whole" / "log.jsonl").read_text()
    assert train(_cfg(shards, tmp_path / "whole"), resume=True) == whole  # a finished run stays finished
    assert (tmp_path / "whole" / "log.jsonl").read_text() == log_before


def test_resume_refuses_changed_settings_and_a_fresh_run_refuses_old_checkpoints(shards, tmp_path):
    train(_cfg(shards, tmp_path / "run", steps=4, stop_after=2))
    with pytest.raises(ConfigError, match="pass --resume"):
        train(_cfg(shards, tmp_path / "run", steps=4))
    with pytest.raises(ConfigError, match=r"seq_len: 32 in the checkpoint, 48 now"):
        train(_cfg(shards, tmp_path / "run", steps=4, seq_len=48), resume=True)


# --- loader ---------------------------------------------------------------------------------


def _rows(loader: TrainLoader, n: int):
    return [loader.next_row() for _ in range(n)]


def test_loader_never_yields_validation_documents(corpora):
    train_c, val_c = corpora
    val_ids = {val_c.doc_id(i) for i in range(val_c.n_docs)}
    train_ids = {train_c.doc_id(i) for i in range(train_c.n_docs)}
    assert val_ids and not val_ids & train_ids
    loader = TrainLoader(train_c, seq_len=64, batch_size=8, seed=1)
    seen = set()
    while loader.epoch < 1:  # a whole epoch
        row, _, placed = loader.next_row()
        for unit, offset in placed:
            doc, start, n = (int(a[unit]) for a in (loader.unit_doc, loader.unit_start, loader.unit_len))
            assert np.array_equal(row[offset : offset + n], train_c.tokens(doc, start, n))
            seen.add(train_c.doc_id(doc))
    assert seen == train_ids


def test_rows_start_at_documents_and_pack_whole_units(corpora):
    train_c, _ = corpora
    t = 1024
    eot, pad = train_c.manifest.eot_id, train_c.manifest.pad_id
    loader = TrainLoader(train_c, seq_len=t, batch_size=8, seed=0)
    long_docs = set(np.flatnonzero(train_c.doc_len > t + 1).tolist())
    assert long_docs  # books and code have documents longer than a row
    mid_row = {"document": 0, "window": 0}
    for row, targets, placed in _rows(loader, 400):
        assert len(row) == t + 1 and placed[0][1] == 0
        end = 0
        for unit, offset in placed:
            doc, start, n = (int(a[unit]) for a in (loader.unit_doc, loader.unit_start, loader.unit_len))
            assert offset == end  # units follow each other, whole
            # a row starts at a document start, or at a window of a document longer than the row
            assert start == 0 or (doc in long_docs and start % t == 0)
            if offset > 0:
                assert row[offset - 1] == eot  # every unit after the first follows a document's end
                assert targets[offset - 1] == (row[offset] if start == 0 else -1)
                mid_row["document" if start == 0 else "window"] += 1
            assert np.array_equal(targets[offset : offset + n - 1], row[offset + 1 : offset + n])
            end = offset + n
        assert (row[end:] == pad).all() and (targets[end - 1 :] == -1).all()
    assert mid_row["document"] > 5 and mid_row["window"] > 5, mid_row  # packing happens


def test_units_tile_each_document_so_every_token_is_a_target_once():
    lengths = np.array([1, 2, 5, 9, 10, 11, 17, 40])
    doc, start, length = split_units(lengths, seq_len=8)
    for d, n in enumerate(lengths):
        sel = doc == d
        assert start[sel][0] == 0 and (length[sel] <= 9).all()
        covered = np.concatenate(
            [np.arange(s + 1, s + k) for s, k in zip(start[sel], length[sel], strict=True)]
        )
        assert np.array_equal(covered, np.arange(1, n))  # tokens 1..n-1, each once, in order
    assert list(length[doc == 3]) == [9] and list(length[doc == 4]) == [9, 2]


def test_one_epoch_places_every_unit_once(corpora):
    train_c, _ = corpora
    greedy = TrainLoader(train_c, seq_len=64, batch_size=8, seed=3, pack_buffer=1)
    placed = [u for _ in range(len(greedy.unit_len)) for u, _ in greedy.next_row()[2]]
    first = placed[: len(greedy.unit_len)]
    assert sorted(first) == list(range(len(greedy.unit_len)))
    packed = TrainLoader(train_c, seq_len=64, batch_size=8, seed=3)
    units = []
    while packed.epoch < 1:
        units.extend(u for u, _ in packed.next_row()[2])
    assert len(units) == len(set(units)) > 0.9 * len(packed.unit_len)
    rows = len(_rows(TrainLoader(train_c, seq_len=64, batch_size=8, seed=3), 200))
    assert rows == 200


def test_domain_weights_set_the_sampled_token_mix(corpora):
    train_c, _ = corpora
    weights = {"web": 0.5, "code": 0.3, "books": 0.2}

    def mix(loader: TrainLoader, rows: int) -> dict[str, float]:
        counts = dict.fromkeys(train_c.domains, 0)
        for _, _, placed in _rows(loader, rows):
            for unit, _ in placed:
                counts[train_c.domains[train_c.doc_domain[loader.unit_doc[unit]]]] += int(
                    loader.unit_len[unit]
                )
        total = sum(counts.values())
        return {k: v / total for k, v in counts.items()}

    natural = domain_token_counts(train_c)
    share = {k: v / sum(natural.values()) for k, v in natural.items()}
    got = mix(TrainLoader(train_c, 64, 8, seed=0), 3000)
    assert all(abs(got[k] - share[k]) < 0.03 for k in share), (got, share)
    got = mix(TrainLoader(train_c, 64, 8, seed=0, domain_weights=weights), 3000)
    assert all(abs(got[k] - weights.get(k, 0.0)) < 0.03 for k in got), got
    with pytest.raises(ShardError, match="not in the training shards"):
        TrainLoader(train_c, 64, 8, domain_weights={"poetry": 1.0})


def test_loader_is_deterministic_by_seed_and_resumes_from_its_state(corpora):
    train_c, _ = corpora
    a, b = TrainLoader(train_c, 64, 8, seed=5), TrainLoader(train_c, 64, 8, seed=5)
    for _ in range(3):
        xa, ya = a.next_batch()
        xb, yb = b.next_batch()
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    other = TrainLoader(train_c, 64, 8, seed=6).next_batch()[0]
    assert not np.array_equal(other, TrainLoader(train_c, 64, 8, seed=5).next_batch()[0])

    state = json.loads(json.dumps(a.state_dict()))  # survives a round trip through a checkpoint
    expected = [a.next_batch() for _ in range(40)]  # crosses into the next epoch
    resumed = TrainLoader(train_c, 64, 8, seed=5)
    resumed.load_state_dict(state)
    for x, y in expected:
        rx, ry = resumed.next_batch()
        assert np.array_equal(x, rx) and np.array_equal(y, ry)
    with pytest.raises(ShardError, match="seq_len: saved 64, now 32"):
        TrainLoader(train_c, 32, 8, seed=5).load_state_dict(state)


def test_ranks_read_disjoint_parts(corpora):
    train_c, _ = corpora
    ranks = [TrainLoader(train_c, 64, 8, seed=2, rank=r, world_size=2) for r in range(2)]
    orders = [set(r._order(0).tolist()) for r in ranks]
    assert not orders[0] & orders[1] and orders[0] | orders[1] == set(range(len(ranks[0].unit_len)))
    docs = [{int(r.unit_doc[u]) for _, _, placed in _rows(r, 50) for u, _ in placed} for r in ranks]
    assert docs[0] and docs[1] and docs[0] != docs[1]


def test_validation_scores_every_token_of_every_document_once(corpora):
    _, val_c = corpora
    valset = ValSet(val_c, seq_len=64)
    eot = val_c.manifest.eot_id
    for domain in valset.domains:
        rows = list(valset.rows(domain))
        targets = np.concatenate([y[y >= 0] for _, y in rows])
        docs = np.concatenate([val_c.tokens(int(d)) for d in domain.docs])
        assert np.array_equal(targets, docs)  # each token, in order, exactly once
        assert domain.tokens == len(docs) and domain.bytes == int(val_c.doc_bytes[domain.docs].sum())
        inputs = np.concatenate([x[y >= 0] for x, y in rows])  # the token each target is predicted from
        starts = np.cumsum([0, *val_c.doc_len[domain.docs][:-1]])
        assert (inputs[starts] == eot).all()  # every document is predicted from an end-of-text on
        split = [list(valset.rows(domain, rank=r, world_size=2)) for r in range(2)]
        assert len(split[0]) + len(split[1]) == len(rows)
    capped = ValSet(val_c, seq_len=64, max_tokens_per_domain=500)
    assert all(d.tokens <= 500 or len(d.docs) == 1 for d in capped.domains)
    assert [d.docs.tolist() for d in capped.domains] == [
        d.docs.tolist() for d in ValSet(val_c, 64, 500).domains
    ]


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_gives_a_clear_error(shards, tmp_path, capsys):
    assert _run_cli([str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "no such directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run_cli([str(empty), "--out", str(tmp_path / "r")]) == 2
    assert "manifest.json not found" in capsys.readouterr().err

    manifest = json.loads((shards / "manifest.json").read_text())
    broken = tmp_path / "broken"
    (broken / "shards").mkdir(parents=True)
    (broken / "manifest.json").write_text(json.dumps({**manifest, "shards": []}))
    with pytest.raises(ShardError, match="lists no shards"):
        load_manifest(broken)
    val_only = [s for s in manifest["shards"] if s["split"] == "val"]
    (broken / "manifest.json").write_text(json.dumps({**manifest, "shards": val_only}))
    with pytest.raises(ShardError, match="no train shards"):
        Corpus(load_manifest(broken), "train")
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="listed in the manifest but missing"):
        Corpus(load_manifest(broken), "train")

    no_eot = {**manifest, "tokenizer": {**manifest["tokenizer"], "eot_id": 7}}
    (broken / "manifest.json").write_text(json.dumps(no_eot))
    for s in manifest["shards"]:
        (broken / s["path"]).write_bytes((shards / s["path"]).read_bytes())
    with pytest.raises(ShardError, match="do not end with the end-of-text token 7"):
        Corpus(load_manifest(broken), "train")
    (broken / "manifest.json").write_text(json.dumps(manifest))
    (broken / manifest["shards"][0]["path"]).write_bytes(b"not arrow")
    with pytest.raises(ShardError, match="sha256 differs from the manifest"):
        Corpus(load_manifest(broken), "train", verify=True)
    with pytest.raises(ShardError, match="not an Arrow IPC file"):
        Corpus(load_manifest(broken), "train")


def test_bad_settings_are_config_errors_naming_the_key(shards, tmp_path, capsys):
    cfg = tmp_path / "train.yaml"
    cfg.write_text("steps: 10\nlearning_rate: 0.1\n")
    assert _run_cli([str(shards), "--config", str(cfg)]) == 2
    assert "learning_rate: unknown key" in capsys.readouterr().err
    assert _run_cli([str(shards), "--out", str(tmp_path / "r"), "--domain-weights", "web:1"]) == 2
    assert "domain_weights: domain weights: expected name=number" in capsys.readouterr().err
    assert _run_cli(["--steps", "3"]) == 2
    assert "data: required" in capsys.readouterr().err
    assert _run_cli([str(shards), "--out", str(tmp_path / "r"), "--dtype", "bf16", "--device", "cpu"]) == 2
    assert "bf16 autocast is for CUDA" in capsys.readouterr().err


# --- several processes ----------------------------------------------------------------------


def test_torchrun_two_ranks_on_cpu(shards, tmp_path):
    """DDP over gloo: two ranks, disjoint data, one log and one checkpoint with both loaders."""
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "prep",
        "train",
    ]
    cmd += [str(shards), "--out", str(run), "--steps", "4", "--seq-len", "32", "--batch-size", "2"]
    cmd += ["--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--log-every", "1", "--eval-tokens", "2000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _train_rows(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[0]["tokens"] == 2 * 2 * 32
    state = torch.load(run / "checkpoints" / "step-0000004.pt", weights_only=True)
    a, b = state["loaders"]
    assert (a["rank"], b["rank"]) == (0, 1) and a["world_size"] == 2
    assert json.loads((run / "summary.json").read_text())["world_size"] == 2
