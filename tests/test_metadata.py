"""A source's own metadata reaches documents/, rejected/ and (with `mix.shard_metadata`) the
shards with its types; private values in it are scrubbed; a field with two types stops the run
with a config error naming the source, the field, a file and a line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from conftest import write_config

from prep.core.settings import ConfigError
from prep.core.shards import read_shard
from prep.pipeline.config import load_config
from prep.pipeline.runner import run

EMAIL = "lena.kowalski@mailbox-provider.net"


def _wiki_texts(sample_dir: Path, n: int) -> list[str]:
    path = sorted((sample_dir / "wiki").glob("*.jsonl.gz"))[0]
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f][:n]


def _corpus(root: Path, texts: list[str], bad_score: bool = False) -> tuple[Path, Path]:
    news, papers = root / "news", root / "papers"
    news.mkdir(parents=True)
    papers.mkdir(parents=True)
    records = []
    for i, text in enumerate(texts[:60]):
        record = {"id": f"n-{i}", "text": text, "date": f"2024-03-{1 + i % 28:02d}", "score": i / 10}
        if i % 3 == 0:
            record["author"] = {"email": EMAIL, "name": "staff"}  # private: scrubbed
        if i == 6:
            record["text"] = ""  # rejected at read, its metadata still kept (and scrubbed)
        records.append(record)
    (news / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if bad_score:  # the same field as a string, on the third line of another file
        rows = [{"text": texts[60 + i], "score": 0.5 if i != 2 else "high"} for i in range(4)]
        (news / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    body = texts[70:100]
    table = pa.table(
        {
            "text": body,
            "year": pa.array([2000 + i for i in range(len(body))], pa.int32()),
            "venue": ["ACL" if i % 2 else None for i in range(len(body))],
        }
    )
    pq.write_table(table, papers / "p.parquet")
    return news, papers


def _config(root: Path, news: Path, papers: Path) -> Path:
    data = {
        "run": {"output": str(root / "out"), "work_dir": str(root / "cache"), "seed": 0},
        "sources": [
            {
                "name": "news",
                "domain": "web",
                "format": "jsonl",
                "paths": [str(news / "*.jsonl")],
                "id_field": "id",
                "metadata_fields": ["date", "score", "author.email"],
            },
            {
                "name": "papers",
                "domain": "papers",
                "format": "parquet",
                "paths": [str(papers / "*.parquet")],
                "metadata_fields": "all",
            },
        ],
        "stages": [{"pii": {"replace": "placeholder"}}],
        "tokenizer": {"train": {"vocab_size": 600}},
        "mix": {"val_fraction": 0.1, "shard_tokens": 20000, "shard_metadata": True},
    }
    return write_config(root / "run.yaml", data)


@pytest.fixture(scope="module")
def metadata_run(tmp_path_factory, sample_dir, ray_session) -> Path:
    root = tmp_path_factory.mktemp("metadata")
    news, papers = _corpus(root, _wiki_texts(sample_dir, 110))
    run(load_config(_config(root, news, papers)))
    return root / "out"


def _rows(folder: Path) -> dict[str, dict]:
    table = pads.dataset(str(folder), format="parquet").to_table()
    return {r["id"]: r for r in table.to_pylist()}


def test_metadata_reaches_documents_and_rejected_with_its_types(metadata_run):
    docs, rejected = _rows(metadata_run / "documents"), _rows(metadata_run / "rejected")
    first = json.loads(docs["news/a.jsonl:2"]["metadata"])
    assert first == {"date": "2024-03-02", "score": 0.1, "author.email": None}
    assert isinstance(first["score"], float) and docs["news/a.jsonl:2"]["source_id"] == "n-1"
    paper = json.loads(docs["papers/p.parquet:3"]["metadata"])
    assert paper == {"year": 2002, "venue": None} and isinstance(paper["year"], int)
    empty = json.loads(rejected["news/a.jsonl:7"]["metadata"])  # the empty text
    assert empty == {"date": "2024-03-07", "score": 0.6, "author.email": "<EMAIL>"}
    assert len(docs) + len(rejected) == 90


def test_private_values_in_metadata_are_scrubbed(metadata_run):
    docs = _rows(metadata_run / "documents")
    emails = [json.loads(d["metadata"])["author.email"] for d in docs.values() if d["source"] == "news"]
    assert emails.count("<EMAIL>") == 19 and EMAIL not in json.dumps(emails)  # 20 planted, 1 rejected
    for path in metadata_run.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".html"):
            assert EMAIL not in path.read_text(errors="replace")
    stats = json.loads((metadata_run / "stats.json").read_text())
    kinds = next(s for s in stats["stages"] if s["name"] == "read")["metrics"]["metadata_kinds"]
    assert kinds["news"]["score"] == {"number": 60} and kinds["papers"]["year"] == {"number": 30}


def test_shards_carry_each_documents_metadata_with_shard_metadata(metadata_run):
    docs = _rows(metadata_run / "documents")
    manifest = json.loads((metadata_run / "manifest.json").read_text())
    seen = 0
    for shard in manifest["shards"]:
        table = read_shard(metadata_run / shard["path"])
        assert table.schema.field("metadata").type == pa.string()
        for row in table.select(["id", "metadata"]).to_pylist():
            assert row["metadata"] == docs[row["id"]]["metadata"]
            seen += 1
    assert seen >= len(docs)


def test_a_field_with_two_types_is_a_config_error_naming_source_file_and_line(
    tmp_path, sample_dir, ray_session
):
    news, papers = _corpus(tmp_path, _wiki_texts(sample_dir, 110), bad_score=True)
    with pytest.raises(ConfigError) as err:
        run(load_config(_config(tmp_path, news, papers)))
    message = str(err.value)
    assert "sources[0].metadata_fields: field 'score' of source 'news'" in message
    assert "a string in 1 record (e.g. line 3 of b.jsonl)" in message
    assert "a number in 63 records" in message
    assert not (tmp_path / "out").exists()
