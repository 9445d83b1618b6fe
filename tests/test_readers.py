"""Readers: every record becomes exactly one row, bad input becomes a rejection naming file and line.

The text is real prose: paragraphs of the English Wikipedia articles that gensim ships as test data.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

import prep.pipeline.readers.rows as rows_module
from prep.core.records import BASE_SCHEMA
from prep.pipeline.config import SourceConfig
from prep.pipeline.readers import FORMAT_READERS, read_file
from prep.pipeline.sources import InputFile, list_input_files

COMPRESS = {
    "": lambda b: b,
    ".gz": gzip.compress,
    ".zst": lambda b: zstandard.ZstdCompressor().compress(b),
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
}


@pytest.fixture(scope="module")
def articles() -> dict[str, list[str]]:
    """Title -> plain paragraphs of the Wikipedia articles in gensim's test dump."""
    import gensim
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    dump = Path(gensim.__file__).parent / "test" / "test_data"
    dump = dump / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    out = {}
    with bz2.open(dump) as xml:
        for title, wikitext, _ in extract_pages(xml):
            paragraphs = [re.sub(r"\s+", " ", p).strip() for p in filter_wiki(wikitext).split("\n\n")]
            paragraphs = [p.replace("'" * 3, "").replace("'" * 2, "") for p in paragraphs]
            paragraphs = [p for p in paragraphs if len(p) > 300 and not any(c in p for c in "|=*#[]{}")]
            if len(paragraphs) >= 6:
                out[title] = paragraphs
    assert len(out) > 20
    return out


def make_source(fmt: str, **kw) -> SourceConfig:
    return SourceConfig(name="src", domain="web", format=fmt, paths=["unused"], **kw)


def one_file(path: Path | str) -> InputFile:
    (file,) = list_input_files([str(path)])
    return file


def read_all(file: InputFile, source: SourceConfig, **kw) -> list[dict]:
    """All rows, checking the table contract on the way."""
    rows = []
    batch_rows = kw.get("batch_rows", 512)
    for table in read_file(file, source, **kw):
        assert table.schema == BASE_SCHEMA
        assert 1 <= table.num_rows <= batch_rows
        rows.extend(table.to_pylist())
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "ids must be unique"
    for r in rows:
        assert (r["source"], r["domain"]) == (source.name, source.domain)
        if r["_rule"] is None:
            assert r["_stage"] is None and r["_reason"] is None
        else:
            assert r["_stage"] == "read" and r["_reason"]
    return rows


def rules(rows: list[dict]) -> dict[str, str | None]:
    return {r["id"]: r["_rule"] for r in rows}


# --------------------------------------------------------------------------- JSONL


def mixed_jsonl_lines(paragraphs: list[str]) -> list[bytes]:
    """Physical lines of a JSONL file with one of every kind of bad record."""
    return [
        json.dumps({"text": paragraphs[0], "url": "https://en.wikipedia.org/wiki/Anarchism"}).encode(),  # 1
        b"",  # 2: blank, no record
        b'{"text": "Anarchism is a political philosophy", "url": }',  # 3: bad JSON
        b'{"text": "Proudhon\xe9 wrote What is Property?"}',  # 4: invalid UTF-8
        json.dumps({"title": "Autism", "body": paragraphs[1]}).encode(),  # 5: no text field
        json.dumps({"text": 1840}).encode(),  # 6: not a string
        json.dumps({"text": " \n\t "}).encode(),  # 7: whitespace only
        json.dumps([paragraphs[2]]).encode(),  # 8: not an object
        json.dumps({"text": None}).encode(),  # 9: null
        b'{"text": "lone surrogate \\ud800 here"}',  # 10: not valid Unicode
        b"   \t",  # 11: blank, no record
        json.dumps({"text": paragraphs[3]}, ensure_ascii=False).encode() + b"\r",  # 12: CRLF line
    ]


EXPECTED_MIXED = {
    1: None,
    3: "bad_json",
    4: "bad_utf8",
    5: "missing_text",
    6: "not_text",
    7: "empty_text",
    8: "bad_json",
    9: "missing_text",
    10: "bad_utf8",
    12: None,
}


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_jsonl_every_bad_line_is_one_rejection_naming_file_and_line(tmp_path, articles, suffix):
    paragraphs = articles["Anarchism"]
    lines = mixed_jsonl_lines(paragraphs)
    path = tmp_path / f"mixed.jsonl{suffix}"
    path.write_bytes(COMPRESS[suffix](b"\n".join(lines) + b"\n"))
    file = one_file(path)
    rows = read_all(file, make_source("jsonl", url_field="url"))

    assert rules(rows) == {f"src/mixed.jsonl{suffix}:{n}": rule for n, rule in EXPECTED_MIXED.items()}
    non_blank = sum(1 for line in lines if line.strip())
    assert len(rows) == non_blank  # kept + rejected == records in the file
    for row in rows:
        line_no = row["id"].rsplit(":", 1)[1]
        if row["_rule"]:
            assert f"{file.url}:{line_no}" in row["_reason"]

    by_line = {int(r["id"].rsplit(":", 1)[1]): r for r in rows}
    assert by_line[1]["text"] == paragraphs[0]
    assert by_line[1]["url"] == "https://en.wikipedia.org/wiki/Anarchism"
    assert by_line[12]["text"] == paragraphs[3]
    assert "(col " in by_line[3]["_reason"]
    assert by_line[3]["text"] == lines[2].decode()  # what was read is kept
    assert by_line[4]["text"] == '{"text": "Proudhon\ufffd wrote What is Property?"}'
    assert "'text'" in by_line[5]["_reason"] and "title, body" in by_line[5]["_reason"]
    assert paragraphs[1] in by_line[5]["text"]
    assert "number" in by_line[6]["_reason"]
    assert "array" in by_line[8]["_reason"]
    assert "null" in by_line[9]["_reason"]
    assert by_line[10]["text"] == "lone surrogate \ufffd here"


def test_jsonl_id_field_is_kept_as_source_id_for_kept_and_rejected_records(tmp_path, articles):
    paragraphs = articles["Anarchism"]
    lines = [
        {"id": "fw-0001", "text": paragraphs[0]},  # a string id
        {"id": 40213, "text": paragraphs[1]},  # an integer id
        {"text": paragraphs[2]},  # no id: null
        {"id": "fw-0004", "text": ""},  # rejected for its text, still traceable
        {"id": {"dump": "CC-MAIN"}, "text": paragraphs[3]},  # an object is no id
        {"id": 4.5, "text": paragraphs[4]},  # nor is a fraction
        {"meta": {"id": "x"}, "id": True, "text": paragraphs[5]},  # nor a boolean
    ]
    path = tmp_path / "fw.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    rows = read_all(one_file(path), make_source("jsonl", id_field="id"))
    assert [(r["source_id"], r["_rule"]) for r in rows] == [
        ("fw-0001", None), ("40213", None), (None, None), ("fw-0004", "empty_text"),
        (None, "bad_id"), (None, "bad_id"), (None, "bad_id"),
    ]  # fmt: skip
    assert (
        f"field 'id' is a JSON object, not a string or an integer, at {one_file(path).url}:5"
        == rows[4]["_reason"]
    )
    nested = read_all(one_file(path), make_source("jsonl", id_field="meta.id"))
    assert [r["source_id"] for r in nested] == [None] * 6 + ["x"]
    assert all(r["source_id"] is None for r in read_all(one_file(path), make_source("jsonl")))


def test_parquet_id_column_is_kept_as_source_id(tmp_path, articles):
    texts = articles["Anarchism"][:3]
    pq.write_table(pa.table({"doc_id": ["a-1", None, "a-3"], "text": texts}), tmp_path / "s.parquet")
    pq.write_table(
        pa.table({"doc_id": pa.array([7, 8, 9], pa.int64()), "text": texts}), tmp_path / "i.parquet"
    )
    pq.write_table(pa.table({"doc_id": [0.5, None, 2.5], "text": texts}), tmp_path / "f.parquet")
    pq.write_table(pa.table({"text": texts}), tmp_path / "none.parquet")
    source = make_source("parquet", id_field="doc_id")
    got = {
        p: read_all(one_file(tmp_path / p), source)
        for p in ("s.parquet", "i.parquet", "f.parquet", "none.parquet")
    }
    assert [r["source_id"] for r in got["s.parquet"]] == ["a-1", None, "a-3"]
    assert [r["source_id"] for r in got["i.parquet"]] == ["7", "8", "9"]
    assert [r["_rule"] for r in got["f.parquet"]] == ["bad_id", None, "bad_id"]  # a null id is no error
    assert "column 'doc_id' is of type double, not a string or an integer" in got["f.parquet"][0]["_reason"]
    assert [r["source_id"] for r in got["none.parquet"]] == [None] * 3  # a file without the column


def test_id_field_is_refused_where_the_format_has_its_own_id():
    from pydantic import ValidationError

    for fmt in ("warc", "wet", "text"):
        with pytest.raises(ValidationError, match="id_field applies to jsonl and parquet"):
            make_source(fmt, id_field="id")


def meta(row: dict):
    return None if row["metadata"] is None else json.loads(row["metadata"])


def test_jsonl_metadata_fields_keep_their_types_and_missing_ones_are_null(tmp_path, articles):
    p = articles["Anarchism"]
    lines = [
        {"text": p[0], "date": "2013-05-18", "score": 3.25, "tokens": 812, "meta": {"lic": "cc-by"}},
        {"text": p[1], "date": "2013-05-19", "score": 1, "tags": ["a", "b"]},  # no tokens, no lic
        {"text": "", "date": None, "score": 0.5, "tokens": 3},  # rejected: still carries its fields
        "not an object",
    ]
    path = tmp_path / "fw.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    source = make_source("jsonl", metadata_fields=["date", "score", "tokens", "meta.lic"])
    rows = read_all(one_file(path), source)
    assert [meta(r) for r in rows] == [
        {"date": "2013-05-18", "score": 3.25, "tokens": 812, "meta.lic": "cc-by"},
        {"date": "2013-05-19", "score": 1, "tokens": None, "meta.lic": None},
        {"date": None, "score": 0.5, "tokens": 3, "meta.lic": None},
        None,  # bad_json: no fields to keep
    ]
    assert [r["_rule"] for r in rows] == [None, None, "empty_text", "bad_json"]
    everything = read_all(one_file(path), make_source("jsonl", metadata_fields="all"))
    assert meta(everything[1]) == {"date": "2013-05-19", "score": 1, "tags": ["a", "b"]}  # all but text
    assert all(r["metadata"] is None for r in read_all(one_file(path), make_source("jsonl")))


def test_parquet_metadata_columns_keep_their_types(tmp_path, articles):
    import datetime as dt

    texts = articles["Anarchism"][:3]
    table = pa.table(
        {
            "text": texts,
            "views": pa.array([10, None, 30], pa.int64()),
            "score": [0.5, 1.5, 2.5],
            "crawled": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)] * 3, pa.timestamp("s")),
            "info": [{"lang": "en", "ok": True}, {"lang": "fr", "ok": False}, None],
        }
    )
    pq.write_table(table, tmp_path / "m.parquet")
    pq.write_table(pa.table({"text": texts}), tmp_path / "bare.parquet")
    source = make_source("parquet", metadata_fields=["views", "score", "crawled", "info.ok"])
    rows = read_all(one_file(tmp_path / "m.parquet"), source)
    assert [meta(r) for r in rows] == [
        {"views": 10, "score": 0.5, "crawled": "2024-01-02T03:04:05", "info.ok": True},
        {"views": None, "score": 1.5, "crawled": "2024-01-02T03:04:05", "info.ok": False},
        {"views": 30, "score": 2.5, "crawled": "2024-01-02T03:04:05", "info.ok": None},
    ]
    bare = read_all(one_file(tmp_path / "bare.parquet"), source)  # a file without the columns
    assert [meta(r) for r in bare] == [dict.fromkeys(["views", "score", "crawled", "info.ok"])] * 3
    everything = read_all(one_file(tmp_path / "m.parquet"), make_source("parquet", metadata_fields="all"))
    assert list(meta(everything[0])) == ["views", "score", "crawled", "info"]
    assert meta(everything[0])["info"] == {"lang": "en", "ok": True}


def test_metadata_fields_config_errors():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="a text file has no fields"):
        make_source("text", metadata_fields="all")
    with pytest.raises(ValidationError, match="names a field twice: date"):
        make_source("jsonl", metadata_fields=["date", "url", "date"])
    with pytest.raises(ValidationError, match="at least one field"):
        make_source("jsonl", metadata_fields=[])


def test_jsonl_dotted_text_field(tmp_path, articles):
    paragraphs = articles["Autism"]
    records = [
        {"meta": {"body": paragraphs[0]}},
        {"meta.body": paragraphs[1]},  # a key that holds the dot itself wins
        {"meta": "no nested object"},
        {"meta": {"title": "Autism"}},
    ]
    path = tmp_path / "nested.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    rows = read_all(one_file(path), make_source("jsonl", text_field="meta.body"))
    assert [r["_rule"] for r in rows] == [None, None, "missing_text", "missing_text"]
    assert [r["text"] for r in rows[:2]] == paragraphs[:2]


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_empty_jsonl_yields_nothing(tmp_path, suffix):
    path = tmp_path / f"empty.jsonl{suffix}"
    path.write_bytes(COMPRESS[suffix](b""))
    assert list(read_file(one_file(path), make_source("jsonl"))) == []


def test_jsonl_blank_lines_only_yield_nothing(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n \n\t\n")
    assert list(read_file(one_file(path), make_source("jsonl"))) == []


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory, articles) -> tuple[Path, str]:
    """One 20 MB document (gzipped) followed by a short one."""
    prose = "\n\n".join(p for paragraphs in articles.values() for p in paragraphs)
    big = (prose + "\n\n") * (20_000_000 // len(prose) + 1)
    big = big[:20_000_000]
    path = tmp_path_factory.mktemp("big") / "big.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        f.write(json.dumps({"text": big}) + "\n")
        f.write(json.dumps({"text": articles["Albedo"][0]}) + "\n")
    return path, big


def test_20mb_document_kept_when_max_doc_bytes_allows(big_jsonl):
    path, big = big_jsonl
    rows = read_all(one_file(path), make_source("jsonl", max_doc_bytes=30_000_000))
    assert [r["_rule"] for r in rows] == [None, None]
    assert rows[0]["text"] == big


def test_20mb_document_rejected_as_oversized_with_its_text(big_jsonl):
    path, big = big_jsonl
    file = one_file(path)
    rows = read_all(file, make_source("jsonl"))  # default max_doc_bytes: 10 MB
    assert [r["_rule"] for r in rows] == ["oversized", None]
    assert rows[0]["text"] == big  # nothing is lost
    assert f"{file.url}:1" in rows[0]["_reason"] and f"{len(big.encode()):,} bytes" in rows[0]["_reason"]


def test_batches_respect_row_and_byte_limits(big_jsonl, tmp_path, articles):
    path, _ = big_jsonl
    tables = list(
        read_file(one_file(path), make_source("jsonl", max_doc_bytes=30_000_000), batch_bytes=1 << 20)
    )
    assert [t.num_rows for t in tables] == [1, 1]  # the big document is a batch of its own

    paragraphs = [p for ps in articles.values() for p in ps]
    small = tmp_path / "many.jsonl"
    small.write_text("".join(json.dumps({"text": p}) + "\n" for p in paragraphs))
    tables = list(read_file(one_file(small), make_source("jsonl"), batch_rows=50, batch_bytes=20_000))
    assert sum(t.num_rows for t in tables) == len(paragraphs)
    for t in tables:
        assert t.num_rows <= 50
        if t.num_rows > 1:
            assert sum(len(s.encode()) for s in t.column("text").to_pylist()) <= 20_000
    ids = [i for t in tables for i in t.column("id").to_pylist()]
    assert ids == [f"src/many.jsonl:{n}" for n in range(1, len(paragraphs) + 1)]


def test_line_over_the_read_limit_is_rejected_and_the_next_line_still_read(tmp_path, articles, monkeypatch):
    monkeypatch.setattr(rows_module, "MIN_READ_LIMIT", 20_000)
    paragraphs = articles["Alabama"]
    long_line = json.dumps({"text": " ".join(paragraphs) * 10})
    assert len(long_line) > 20_000 and len(paragraphs[0]) < 1000
    path = tmp_path / "long.jsonl"
    path.write_text(long_line + "\n" + json.dumps({"text": paragraphs[0]}) + "\n")
    rows = read_all(one_file(path), make_source("jsonl", max_doc_bytes=1000))
    assert [r["_rule"] for r in rows] == ["oversized", None]
    assert "longer than 20,000 bytes" in rows[0]["_reason"] and "long.jsonl:1" in rows[0]["_reason"]
    assert rows[0]["text"] == long_line[:20_000]
    assert rows[1]["id"] == "src/long.jsonl:2" and rows[1]["text"] == paragraphs[0]


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2", ".xz"])
def test_truncated_compressed_jsonl_keeps_rows_before_the_break(tmp_path, articles, suffix):
    paragraphs = [p for ps in articles.values() for p in ps]
    lines = [json.dumps({"text": paragraphs[i % len(paragraphs)]}) for i in range(3000)]
    data = COMPRESS[suffix](("\n".join(lines) + "\n").encode())
    path = tmp_path / f"cut.jsonl{suffix}"
    path.write_bytes(data[: len(data) * 2 // 3])
    file = one_file(path)
    rows = read_all(file, make_source("jsonl"))

    *docs, last = rows
    assert last["id"] == f"src/cut.jsonl{suffix}:error" and last["_rule"] == "unreadable_file"
    assert 0 < len(docs) < 3000
    assert all(r["_rule"] is None for r in docs)
    assert [r["id"] for r in docs] == [f"src/cut.jsonl{suffix}:{n}" for n in range(1, len(docs) + 1)]
    assert [r["text"] for r in docs] == [json.loads(line)["text"] for line in lines[: len(docs)]]
    assert file.url in last["_reason"] and f"after line {len(docs)}" in last["_reason"]


def test_file_that_is_not_gzip_is_unreadable(tmp_path):
    path = tmp_path / "fake.jsonl.gz"
    path.write_text('{"text": "not compressed at all"}\n')
    rows = read_all(one_file(path), make_source("jsonl"))
    assert rules(rows) == {"src/fake.jsonl.gz:error": "unreadable_file"}
    assert "before line 1" in rows[0]["_reason"] and str(path) in rows[0]["_reason"]


def test_file_gone_after_listing_is_unreadable(tmp_path):
    path = tmp_path / "gone.jsonl"
    path.write_text('{"text": "here when listed"}\n')
    file = one_file(path)
    path.unlink()
    rows = read_all(file, make_source("jsonl"))
    assert rules(rows) == {"src/gone.jsonl:error": "unreadable_file"}
    assert "FileNotFoundError" in rows[0]["_reason"]


def test_unreadable_permissions(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    path = tmp_path / "locked.jsonl"
    path.write_text('{"text": "locked away"}\n')
    path.chmod(0)
    rows = read_all(one_file(path), make_source("jsonl"))
    assert rules(rows) == {"src/locked.jsonl:error": "unreadable_file"}
    assert "PermissionError" in rows[0]["_reason"]


# --------------------------------------------------------------------------- Parquet


def test_parquet_rows_with_every_outcome(tmp_path, articles):
    paragraphs = articles["Aristotle"]
    texts = [paragraphs[0], None, "", "   ", paragraphs[1] * 20, paragraphs[2], "bad \ud800 text"]
    texts[-1] = paragraphs[3]  # Arrow strings are valid UTF-8: keep a plain one here
    urls = [f"https://en.wikipedia.org/wiki/Aristotle#{i}" for i in range(len(texts))]
    path = tmp_path / "docs.parquet"
    pq.write_table(
        pa.table({"text": texts, "link": urls, "n": list(range(len(texts)))}), path, row_group_size=3
    )
    file = one_file(path)
    rows = read_all(file, make_source("parquet", url_field="link", max_doc_bytes=5000), batch_rows=2)

    assert [r["_rule"] for r in rows] == [
        None,
        "missing_text",
        "empty_text",
        "empty_text",
        "oversized",
        None,
        None,
    ]
    assert [r["id"] for r in rows] == [f"src/docs.parquet:{n}" for n in range(1, 8)]
    assert [r["url"] for r in rows] == urls
    assert rows[0]["text"] == paragraphs[0] and rows[4]["text"] == paragraphs[1] * 20
    for n, row in enumerate(rows, 1):
        if row["_rule"]:
            assert f"{file.url} row {n}" in row["_reason"]


def test_parquet_without_the_text_column_rejects_every_row(tmp_path, articles):
    path = tmp_path / "notext.parquet"
    pq.write_table(
        pa.table({"body": articles["Altruism"][:5], "title": ["Altruism"] * 5}), path, row_group_size=2
    )
    file = one_file(path)
    rows = read_all(file, make_source("parquet"))
    assert [r["_rule"] for r in rows] == ["missing_text"] * 5
    assert [r["id"] for r in rows] == [f"src/notext.parquet:{n}" for n in range(1, 6)]
    reason = rows[3]["_reason"]
    assert "'text'" in reason and file.url in reason and "body, title" in reason and "row 4" in reason


def test_parquet_non_string_and_nested_and_binary_columns(tmp_path, articles):
    paragraphs = articles["Algeria"]
    table = pa.table(
        {
            "year": [1962, 1830, None],
            "meta": [{"body": paragraphs[0]}, {"body": None}, None],
            "raw": [paragraphs[1].encode(), b"Alg\xe9rie", None],
        }
    )
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    file = one_file(path)

    rows = read_all(file, make_source("parquet", text_field="year"))
    assert [r["_rule"] for r in rows] == ["not_text", "not_text", "missing_text"]
    assert rows[0]["text"] == "1962" and "int64" in rows[0]["_reason"]

    rows = read_all(file, make_source("parquet", text_field="meta.body"))
    assert [r["_rule"] for r in rows] == [None, "missing_text", "missing_text"]
    assert rows[0]["text"] == paragraphs[0]

    rows = read_all(file, make_source("parquet", text_field="raw"))
    assert [r["_rule"] for r in rows] == [None, "bad_utf8", "missing_text"]
    assert rows[0]["text"] == paragraphs[1] and rows[1]["text"] == "Alg\ufffdrie"


def test_file_that_is_not_parquet_is_unreadable(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("id,text\n1,not a parquet file\n")
    rows = read_all(one_file(path), make_source("parquet"))
    assert rules(rows) == {"src/fake.parquet:error": "unreadable_file"}
    assert str(path) in rows[0]["_reason"]


def test_empty_parquet_yields_nothing(tmp_path):
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    assert list(read_file(one_file(path), make_source("parquet"))) == []


# --------------------------------------------------------------------------- text folder


def test_text_folder_one_document_per_file(tmp_path, articles):
    root = tmp_path / "books"
    (root / "sub").mkdir(parents=True)
    (root / "achilles.txt").write_text("\n\n".join(articles["Achilles"]), encoding="utf-8")
    (root / "sub" / "lincoln.txt.gz").write_bytes(
        gzip.compress("\n\n".join(articles["Abraham Lincoln"]).encode())
    )
    (root / "bom.txt").write_bytes(b"\xef\xbb\xbf" + articles["Alchemy"][0].encode())
    latin = "First line.\nLes caf\u00e9s de Paris, na\u00efve.\n"
    (root / "latin1.txt").write_bytes(latin.encode("cp1252"))
    (root / "blank.txt").write_text("\n  \n")
    files = list_input_files([str(root / "**")])
    assert len(files) == 5
    source = make_source("text")
    rows = [row for f in files for row in read_all(f, source)]

    assert rules(rows) == {
        "src/achilles.txt": None,
        "src/sub/lincoln.txt.gz": None,
        "src/bom.txt": None,
        "src/latin1.txt": "bad_utf8",
        "src/blank.txt": "empty_text",
    }
    by_id = {r["id"]: r for r in rows}
    assert by_id["src/achilles.txt"]["text"] == "\n\n".join(articles["Achilles"])
    assert by_id["src/sub/lincoln.txt.gz"]["text"] == "\n\n".join(articles["Abraham Lincoln"])
    assert by_id["src/bom.txt"]["text"] == articles["Alchemy"][0]
    bad = by_id["src/latin1.txt"]
    assert bad["text"] == "First line.\nLes caf\ufffds de Paris, na\ufffdve.\n"
    assert str(root / "latin1.txt") in bad["_reason"] and "line 2" in bad["_reason"]


def test_truncated_gzip_text_file_is_one_unreadable_row(tmp_path, articles):
    data = gzip.compress("\n\n".join(p for ps in articles.values() for p in ps).encode())
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    rows = read_all(one_file(path), make_source("text"))
    assert rules(rows) == {"src/cut.txt.gz:error": "unreadable_file"}
    assert str(path) in rows[0]["_reason"] and "TruncatedInput" in rows[0]["_reason"]


def test_text_oversized(tmp_path, articles):
    path = tmp_path / "long.txt"
    path.write_text("\n\n".join(articles["Anthropology"]))
    rows = read_all(one_file(path), make_source("text", max_doc_bytes=1000))
    assert rules(rows) == {"src/long.txt": "oversized"}
    assert rows[0]["text"] == "\n\n".join(articles["Anthropology"])


# --------------------------------------------------------------------------- WARC / WET

NAV = ["Home", "World news", "Politics", "Science desk", "Sign in to your account"]
SIDEBAR = ["Most read this week", "Ten gadgets under forty dollars", "Celebrity gossip roundup"]
FOOTER = ["Privacy policy", "Terms of use", "Subscribe to our newsletter", "\u00a9 2024 Example Media Group"]


def news_page(title: str, paragraphs: list[str], charset: str = "utf-8") -> str:
    """An article page as news sites serve them: navigation, sidebar, cookie banner, footer."""
    nav = "".join(f'<li><a href="/{i}">{label}</a></li>' for i, label in enumerate(NAV))
    side = "".join(f'<li><a href="/s/{i}">{label}</a></li>' for i, label in enumerate(SIDEBAR))
    foot = " | ".join(f'<a href="/f/{i}">{label}</a>' for i, label in enumerate(FOOTER))
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="{charset}"><title>{title} | Example Media</title>
<script>window.dataLayer = [{{"page": "article"}}];</script>
<style>body {{ font-family: sans-serif; }}</style></head>
<body>
<header><div class="logo">Example Media</div><nav><ul>{nav}</ul></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. <button>Accept all</button></div>
<main><article><h1>{title}</h1><p class="byline">By Staff Writer</p>{body}</article>
<aside class="sidebar"><h3>Trending</h3><ul>{side}</ul></aside></main>
<footer><p>{foot}</p></footer>
</body></html>"""


def http(
    status: str, content_type: str | None, extra: list[tuple[str, str]] | None = None
) -> StatusAndHeaders:
    headers = ([("Content-Type", content_type)] if content_type else []) + (extra or [])
    return StatusAndHeaders(status, headers, protocol="HTTP/1.1")


def write_warc(records: list[tuple[str, str, bytes, StatusAndHeaders | None]], gzip_records: bool) -> bytes:
    """A WARC of (type, uri, payload, http headers) records after a warcinfo record."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gzip_records)
    writer.write_record(writer.create_warcinfo_record("test.warc", {"software": "prep tests"}))
    for rec_type, uri, payload, headers in records:
        kwargs = {"http_headers": headers} if headers is not None else {"warc_content_type": "text/plain"}
        writer.write_record(writer.create_warc_record(uri, rec_type, payload=io.BytesIO(payload), **kwargs))
    return buffer.getvalue()


def response(url: str, payload: bytes, content_type: str | None, status: str = "200 OK", **headers: str):
    extra = [(name.replace("_", "-"), value) for name, value in headers.items()]
    return ("response", url, payload, http(status, content_type, extra))


@pytest.fixture(scope="module")
def web_records(articles) -> list[tuple[str, str, bytes, StatusAndHeaders | None]]:
    anarchism = news_page("Anarchism", articles["Anarchism"][:5]).encode()
    latin = ["Le caf\u00e9 na\u00eff du quartier. " + p for p in articles["Albedo"][:4]]
    albedo = news_page("Albedo", latin, charset="windows-1252").encode("cp1252")
    autism = news_page("Autism", articles["Autism"][:4]).encode()
    request = StatusAndHeaders("GET /anarchism HTTP/1.1", [("Host", "example.org")], is_http_request=True)
    links = "".join(f"<li><a href=/{i}>{label}</a></li>" for i, label in enumerate(NAV))
    only_nav = f"<html><body><nav><ul>{links}</ul></nav></body></html>".encode()
    not_found = b"<html><body><p>Not found</p></body></html>"
    site = "https://example.org"
    return [
        ("request", f"{site}/anarchism", b"", request),
        response(f"{site}/anarchism", anarchism, "text/html; charset=utf-8"),
        ("metadata", f"{site}/anarchism", b"fetchTimeMs: 112\n", None),
        response(f"{site}/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png"),
        response(f"{site}/albedo", albedo, "text/html"),  # the charset is only in <meta>
        response(f"{site}/menu", only_nav, "text/html"),
        response(f"{site}/missing", not_found, "text/html", status="404 Not Found"),
        response(f"{site}/autism", gzip.compress(autism), None, Content_Encoding="gzip"),  # sniffed
        response(f"{site}/paper.pdf", b"%PDF-1.4\n" + b"\x00" * 300, "application/pdf"),
    ]


WARC_EXPECTED = {
    1: None,
    2: "not_html",
    3: None,
    4: "no_text_extracted",
    5: "http_status",
    6: None,
    7: "not_html",
}


@pytest.mark.parametrize(
    "layout", ["per-record.warc.gz", "whole-file.warc.gz", "plain.warc", "plain.warc.zst"]
)
def test_warc_responses_extracted_and_counted(tmp_path, articles, web_records, layout):
    per_record = layout.startswith("per-record")
    data = write_warc(web_records, gzip_records=per_record)
    if layout.startswith("whole-file"):
        data = gzip.compress(data)
    elif layout.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path = tmp_path / layout
    path.write_bytes(data)
    file = one_file(path)
    rows = read_all(file, make_source("warc"))

    assert rules(rows) == {f"src/{layout}:{n}": rule for n, rule in WARC_EXPECTED.items()}
    assert len(rows) == sum(1 for r in web_records if r[0] == "response")
    for n, row in enumerate(rows, 1):
        if row["_rule"]:
            assert f"{file.url} response record {n}" in row["_reason"]
    urls = [r[1] for r in web_records if r[0] == "response"]
    assert [r["url"] for r in rows] == urls

    anarchism, albedo, autism = rows[0]["text"], rows[2]["text"], rows[5]["text"]
    for paragraph in articles["Anarchism"][:5]:
        assert paragraph in anarchism
    for paragraph in articles["Autism"][:4]:
        assert paragraph in autism
    assert albedo.count("Le caf\u00e9 na\u00eff du quartier.") == 4  # decoded per the <meta> charset
    for text in (anarchism, albedo, autism):
        for boilerplate in NAV + SIDEBAR + FOOTER + ["We use cookies", "dataLayer", "font-family"]:
            assert boilerplate not in text
    assert "image/png" in rows[1]["_reason"] and "application/pdf" in rows[6]["_reason"]
    assert "404" in rows[4]["_reason"]
    assert "<nav>" in rows[3]["text"]  # the page that gave nothing is kept as read


def test_warc_metadata_fields_are_record_headers(tmp_path, web_records):
    path = tmp_path / "m.warc.gz"
    path.write_bytes(write_warc(web_records, gzip_records=True))
    rows = read_all(one_file(path), make_source("warc", metadata_fields="all"))
    urls = [r[1] for r in web_records if r[0] == "response"]
    for row, url in zip(rows, urls, strict=True):
        m = meta(row)
        assert list(m) == ["WARC-Record-ID", "WARC-Target-URI", "WARC-Date"]
        assert m["WARC-Record-ID"] == row["source_id"] and m["WARC-Target-URI"] == url
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", m["WARC-Date"])
    named = read_all(one_file(path), make_source("warc", metadata_fields=["warc-date", "X-Missing"]))
    assert all(meta(r)["X-Missing"] is None and meta(r)["warc-date"] for r in named)


def test_warc_truncated_keeps_records_before_the_break(tmp_path, web_records):
    records = [r for r in web_records if r[1].endswith(("anarchism", "autism"))] * 10
    for name, data in (
        ("cut.warc.gz", write_warc(records, gzip_records=True)),
        ("cut.warc", write_warc(records, gzip_records=False)),
    ):
        path = tmp_path / name
        path.write_bytes(data[: len(data) * 2 // 3])
        file = one_file(path)
        rows = read_all(file, make_source("warc"))
        *docs, last = rows
        assert 0 < len(docs) < 20
        assert all(r["_rule"] is None for r in docs)
        assert last["id"] == f"src/{name}:error" and last["_rule"] == "unreadable_file"
        assert file.url in last["_reason"] and f"after response record {len(docs)}" in last["_reason"]


def test_file_that_is_not_a_warc_is_unreadable(tmp_path):
    path = tmp_path / "notes.warc"
    path.write_text("these are notes, not a web archive\n" * 5)
    rows = read_all(one_file(path), make_source("warc"))
    assert rules(rows) == {"src/notes.warc:error": "unreadable_file"}


def test_wet_conversion_records(tmp_path, articles):
    texts = ["\n".join(articles["Ayn Rand"][:3]), "\n".join(articles["ASCII"][:2])]
    records = [
        ("conversion", "https://example.org/rand", texts[0].encode(), None),
        ("conversion", "https://example.org/latin", "Caf\u00e9 de Flore".encode("cp1252"), None),
        ("metadata", "https://example.org/rand", b"languages: eng\n", None),
        ("conversion", "https://example.org/empty", b"", None),
        ("conversion", "https://example.org/ascii", texts[1].encode(), None),
    ]
    path = tmp_path / "crawl.warc.wet.gz"
    path.write_bytes(write_warc(records, gzip_records=True))
    file = one_file(path)
    rows = read_all(file, make_source("wet"))

    base = "src/crawl.warc.wet.gz"
    assert rules(rows) == {
        f"{base}:1": None,
        f"{base}:2": "bad_utf8",
        f"{base}:3": "empty_text",
        f"{base}:4": None,
    }
    assert [r["text"] for r in rows if r["_rule"] is None] == texts
    assert [r["url"] for r in rows] == [r[1] for r in records if r[0] == "conversion"]
    assert rows[1]["text"] == "Caf\ufffd de Flore"
    assert f"{file.url} conversion record 2" in rows[1]["_reason"]
    # each record's own WARC-Record-ID, kept or rejected
    ids = [r["source_id"] for r in rows]
    assert all(re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", i) for i in ids) and len(set(ids)) == 4


# --------------------------------------------------------------------------- dispatch


def test_format_readers_cover_every_source_format():
    formats = SourceConfig.model_fields["format"].annotation.__args__
    assert set(FORMAT_READERS) == set(formats)


def test_read_file_is_lazy_and_rules_are_counted_per_file(tmp_path, articles):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(mixed_jsonl_lines(articles["Anarchism"])) + b"\n")
    tables = read_file(one_file(path), make_source("jsonl"))
    assert not isinstance(tables, list | tuple)
    counts = Counter(r for t in tables for r in t.column("_rule").to_pylist())
    assert counts == Counter(EXPECTED_MIXED.values())


def test_one_row_batches(tmp_path, articles):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(mixed_jsonl_lines(articles["Anarchism"])) + b"\n")
    tables = list(read_file(one_file(path), make_source("jsonl"), batch_rows=1, batch_bytes=100))
    assert [t.num_rows for t in tables] == [1] * len(EXPECTED_MIXED)


def test_fsspec_urls_other_than_local_files(articles):
    """A non-local filesystem (fsspec's in-memory one) goes through the same readers as s3:// would."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = "/prep-readers-test"
    paragraphs = articles["Aldous Huxley"]
    fs.pipe(
        f"{root}/docs.jsonl.gz",
        gzip.compress("".join(json.dumps({"text": p}) + "\n" for p in paragraphs).encode()),
    )
    sink = io.BytesIO()
    pq.write_table(pa.table({"text": paragraphs}), sink)
    fs.pipe(f"{root}/docs.parquet", sink.getvalue())
    page = news_page("Aldous Huxley", paragraphs[:4]).encode()
    fs.pipe(
        f"{root}/pages.warc.gz", write_warc([response("https://example.org/huxley", page, "text/html")], True)
    )
    try:
        for name, fmt in (("docs.jsonl.gz", "jsonl"), ("docs.parquet", "parquet")):
            file = one_file(f"memory://{root}/{name}")
            rows = read_all(file, make_source(fmt))
            assert [r["text"] for r in rows] == paragraphs
            assert rows[-1]["id"] == f"src/{name}:{len(paragraphs)}"
        (row,) = read_all(one_file(f"memory://{root}/pages.warc.gz"), make_source("warc"))
        assert row["_rule"] is None and paragraphs[3] in row["text"]
    finally:
        fs.rm(root, recursive=True)


@pytest.mark.parametrize(
    ("payload", "charset", "expected"),
    [
        ("caf\u00e9".encode(), "iso-8859-1", "caf\u00e9"),  # mislabelled UTF-8 stays UTF-8
        (
            "caf\u00e9 \u2019".encode("cp1252"),
            "iso-8859-1",
            "caf\u00e9 \u2019",
        ),  # latin-1 label: windows-1252
        (
            "\u041c\u043e\u0441\u043a\u0432\u0430".encode("koi8-r"),
            "koi8-r",
            "\u041c\u043e\u0441\u043a\u0432\u0430",
        ),
        (
            '<meta charset="shift_jis">\u6771\u4eac'.encode("shift_jis"),
            None,
            '<meta charset="shift_jis">\u6771\u4eac',
        ),
        ("caf\u00e9".encode("cp1252"), "no-such-charset", "caf\ufffd"),
        ("caf\u00e9".encode("cp1252"), "base64", "caf\ufffd"),  # a codec, but not a text encoding
        (b"\xff\xfe" + "caf\u00e9".encode("utf-16-le"), None, "caf\u00e9"),
    ],
)
def test_decode_html_charsets(payload, charset, expected):
    from prep.pipeline.readers.html import decode_html

    assert decode_html(payload, charset) == expected
