"""`prep export`: the session run's shards read back by each consumer's own reader, token for
token and document for document; and what happens when OUT or DIR is not what it should be."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from prep.cli import main
from prep.core.shards import read_shard


def _shards(out: Path, split: str) -> list:
    manifest = json.loads((out / "manifest.json").read_text())
    return [read_shard(out / s["path"]) for s in manifest["shards"] if s["split"] == split]


def _documents(out: Path, split: str) -> list[np.ndarray]:
    return [np.asarray(d.values) for t in _shards(out, split) for d in t.column("tokens")]


@pytest.fixture(scope="module")
def out(mix_run) -> Path:
    return mix_run[0] / "out"


@pytest.fixture(scope="module")
def eot(out) -> int:
    return json.loads((out / "manifest.json").read_text())["tokenizer"]["eot_id"]


def _export(out: Path, fmt: str, dest: Path) -> dict:
    assert main(["export", str(out), "--format", fmt, "--to", str(dest)]) == 0
    return json.loads((dest / "export.json").read_text())


def test_megatron_export_reads_back_in_megatron_core_document_for_document(out, tmp_path, ray_session, eot):
    with warnings.catch_warnings():  # megatron-core warns that Transformer Engine is absent
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset

    summary = _export(out, "megatron", tmp_path / "meg")
    for split, prefix in (("train", "train"), ("val", "val")):
        prefixes = sorted({f["path"][:-4] for f in summary["files"] if f["split"] == split})
        assert prefixes and all(p.startswith(prefix) for p in prefixes)
        read = []
        for p in prefixes:
            ds = IndexedDataset(str(tmp_path / "meg" / p))
            assert list(ds.document_indices) == list(range(len(ds) + 1))  # one document per sequence
            read += [np.array(ds[i]) for i in range(len(ds))]  # copies: ds unmaps its file when freed
        expected = _documents(out, split)
        assert len(read) == len(expected) > 0
        assert all(np.array_equal(a, b) for a, b in zip(read, expected, strict=True))
        assert all(doc[-1] == eot for doc in read)
    assert summary["splits"]["train"]["tokens"] == sum(
        f["tokens"] for f in summary["files"] if f["split"] == "train" and f["path"].endswith(".bin")
    )


def _llmc_tokens(path: Path) -> np.ndarray:
    """llm.c's reader (train_gpt2.py `_load_data_shard`): header checks, then the tokens."""
    header = np.fromfile(path, dtype=np.int32, count=256)
    assert header[0] == 20240520 and header[1] == 1, "GPT-2-sized vocabulary: uint16 layout"
    tokens = np.fromfile(path, dtype=np.uint16, offset=256 * 4)
    assert len(tokens) == header[2]
    return tokens


def test_llmc_export_holds_every_token_with_end_of_text_at_each_document_end(out, tmp_path, ray_session, eot):
    summary = _export(out, "llmc", tmp_path / "llmc")
    for split in ("train", "val"):
        files = sorted(f["path"] for f in summary["files"] if f["split"] == split)
        assert files and all(f.startswith(f"prep_{split}_") and f.endswith(".bin") for f in files)
        tokens = np.concatenate([_llmc_tokens(tmp_path / "llmc" / f) for f in files])
        docs = _documents(out, split)
        assert np.array_equal(tokens, np.concatenate(docs))
        ends = np.cumsum([len(d) for d in docs]) - 1
        assert np.array_equal(np.flatnonzero(tokens == eot), ends)  # boundaries, and only there


def test_hf_export_loads_with_datasets_with_train_and_validation_splits(
    out, tmp_path, ray_session, monkeypatch
):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    _export(out, "hf", tmp_path / "hf")
    loaded = datasets.load_dataset(str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "validation"}
    for split, name in (("train", "train"), ("val", "validation")):
        rows = loaded[name]
        shards = _shards(out, split)
        assert rows.num_rows == sum(t.num_rows for t in shards)
        expected = _documents(out, split)
        assert all(np.array_equal(np.asarray(r), e) for r, e in zip(rows["input_ids"], expected, strict=True))
        ids = [i for t in shards for i in t.column("id").to_pylist()]
        assert rows["id"] == ids and set(rows["domain"]) <= {"web", "wiki", "books", "code", "papers"}


def _litdata_blocks(folder: Path, block: int) -> tuple[np.ndarray, list[int]]:
    """Every block LitData's TokensLoader serves from `folder`, in order, and its chunks' sizes."""
    from litdata import StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    dataset = StreamingDataset(str(folder), item_loader=TokensLoader(block_size=block), shuffle=False)
    blocks = [np.asarray(b) for b in dataset]
    dims = [c["dim"] for c in json.loads((folder / "index.json").read_text())["chunks"]]
    return (np.concatenate(blocks) if blocks else np.array([], np.uint16)), dims


def test_litdata_export_streams_back_through_litgpts_tokens_loader(out, tmp_path, ray_session, eot):
    summary = _export(out, "litdata", tmp_path / "lit")
    # validation, one token per block: every token, in order, ends of documents included
    tokens, dims = _litdata_blocks(tmp_path / "lit" / "val", 1)
    expected = np.concatenate(_documents(out, "val"))
    assert np.array_equal(tokens, expected) and sum(dims) == len(expected)
    assert int((tokens == eot).sum()) == len(_documents(out, "val"))
    # training, LitGPT-style blocks: each chunk serves its whole blocks (TokensLoader leaves a
    # chunk's last partial block out, at most block - 1 of its ~64 MB)
    block = 257
    tokens, dims = _litdata_blocks(tmp_path / "lit" / "train", block)
    flat = np.concatenate(_documents(out, "train"))
    assert sum(dims) == len(flat) == summary["splits"]["train"]["tokens"]
    starts = np.cumsum([0, *dims[:-1]])
    wanted = np.concatenate([flat[s : s + d // block * block] for s, d in zip(starts, dims, strict=True)])
    assert np.array_equal(tokens, wanted) and len(tokens) > 0.99 * len(flat)


def test_a_second_export_replaces_the_first_and_export_json_lists_every_file(out, tmp_path, ray_session):
    dest = tmp_path / "again"
    _export(out, "llmc", dest)
    summary = _export(out, "megatron", dest)
    on_disk = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert on_disk == sorted([f["path"] for f in summary["files"]] + ["export.json", "tokenizer.json"])
    assert not (tmp_path / ".again.next").exists()


def test_bad_out_or_dest_is_a_one_line_error_and_nothing_is_replaced(out, tmp_path, ray_session, capsys):
    assert main(["export", str(tmp_path / "nowhere"), "--format", "hf", "--to", str(tmp_path / "x")]) == 2
    assert "manifest.json: not found" in capsys.readouterr().err
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    assert main(["export", str(out), "--format", "hf", "--to", str(precious)]) == 2
    assert "is not a prep export" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "mine"


def test_a_shard_that_differs_from_the_manifest_fails_the_export_and_keeps_the_previous_one(
    out, tmp_path, ray_session
):
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    dest = tmp_path / "exp"
    _export(copy, "llmc", dest)
    before = (dest / "export.json").read_bytes()
    shard = sorted((copy / "shards").glob("train-*.arrow"))[0]
    table = read_shard(shard)
    assert pc.sum(pc.list_value_length(table.column("tokens"))).as_py() > 0
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert main(["export", str(copy), "--format", "llmc", "--to", str(dest)]) == 1
    assert (dest / "export.json").read_bytes() == before
