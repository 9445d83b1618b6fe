"""Unreadable input is a rejection with a reason naming file and line, never a crash."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from conftest import write_config

from prep.pipeline.config import load_config
from prep.pipeline.runner import run

PROSE = (
    "The Zen of Python, by Tim Peters. Beautiful is better than ugly. Explicit is better than "
    "implicit. Simple is better than complex. Complex is better than complicated. Flat is better "
    "than nested. Sparse is better than dense. Readability counts."
)


def _rejected(out: Path):
    return pads.dataset(str(out / "rejected"), format="parquet").to_table().to_pylist()


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, ray_session):
    tmp = tmp_path_factory.mktemp("bad")
    data = tmp / "data"
    data.mkdir()
    lines = [
        json.dumps({"text": PROSE}).encode(),  # line 1: fine
        b'{"text": "unterminated',  # line 2: bad JSON
        b'{"text": "caf\xe9 au lait, bad UTF-8 byte"}',  # line 3: invalid UTF-8
        json.dumps({"body": PROSE}).encode(),  # line 4: no text field
        json.dumps({"text": PROSE + " Errors should never pass silently."}).encode(),  # line 5: fine
    ]
    (data / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (data / "empty.jsonl").write_bytes(b"")
    big = (PROSE + " ") * (20_000_000 // len(PROSE))
    with gzip.open(data / "big.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"text": big}) + "\n")
    cfg = {
        "run": {"output": str(tmp / "out"), "work_dir": str(tmp / "cache")},
        "sources": [
            {"name": "mixed", "domain": "web", "format": "jsonl", "paths": [str(data / "*.jsonl")]},
            {
                "name": "big",
                "domain": "books",
                "format": "jsonl",
                "paths": [str(data / "big.jsonl.gz")],
                "max_doc_bytes": 30_000_000,
            },
        ],
        "stages": [{"langid": {"keep": ["en"]}}],
    }
    result = run(load_config(write_config(tmp / "bad.yaml", cfg)))
    return result, tmp / "out"


def test_bad_records_are_rejected_with_file_and_line(bad_run):
    _, out = bad_run
    by_id = {r["id"]: r for r in _rejected(out)}
    expected = {
        "mixed/mixed.jsonl:2": "bad_json",
        "mixed/mixed.jsonl:3": "bad_utf8",
        "mixed/mixed.jsonl:4": "missing_text",
    }
    for doc_id, rule in expected.items():
        row = by_id[doc_id]
        assert row["stage"] == "read"
        assert row["rule"] == rule
        assert "mixed.jsonl" in row["reason"]
        assert doc_id.rsplit(":", 1)[1] in row["reason"]  # the line number


def test_counts_add_up_and_good_documents_survive(bad_run):
    result, out = bad_run
    read = result.stats["stages"][0]
    assert read["name"] == "read"
    assert read["in"]["docs"] == 6  # 5 lines + the big document; the empty file has none
    assert read["dropped"]["docs"] == 3
    docs = pads.dataset(str(out / "documents"), format="parquet").to_table()
    ids = set(docs.column("id").to_pylist())
    assert ids == {"mixed/mixed.jsonl:1", "mixed/mixed.jsonl:5", "big/big.jsonl.gz:1"}
    big = docs.filter(pads.field("id") == "big/big.jsonl.gz:1").column("text")[0].as_py()
    assert len(big.encode()) > 19_000_000
    for stage in result.stats["stages"]:
        assert stage["in"]["docs"] == stage["kept"]["docs"] + stage["dropped"]["docs"]
    total = result.stats["output"]["documents"]["docs"] + result.stats["output"]["rejected"]["docs"]
    assert total == read["in"]["docs"]


def test_oversized_document_is_rejected_by_default(tmp_path, ray_session):
    doc = tmp_path / "huge.jsonl"
    doc.write_text(json.dumps({"text": "word " * 2_200_000}) + "\n" + json.dumps({"text": PROSE}) + "\n")
    cfg = {
        "run": {"output": str(tmp_path / "out"), "work_dir": str(tmp_path / "cache")},
        "sources": [{"name": "s", "domain": "web", "format": "jsonl", "paths": [str(doc)]}],
    }
    result = run(load_config(write_config(tmp_path / "c.yaml", cfg)))
    rows = _rejected(tmp_path / "out")
    assert [(r["id"], r["rule"]) for r in rows] == [("s/huge.jsonl:1", "oversized")]
    assert "huge.jsonl:1" in rows[0]["reason"]
    assert result.stats["output"]["documents"]["docs"] == 1
