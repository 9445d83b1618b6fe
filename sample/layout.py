"""Which file each document goes to, its id as the pipeline's readers will derive it, its HTML.

Ids follow the readers' rule: `{source}/{relpath}:{n}` with `relpath` relative to the common
folder of the source's files and `n` the 1-based line (JSONL), row (Parquet) or response-record
ordinal (WARC); a text file is one document with id `{source}/{relpath}`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from prep.sample import chrome
from prep.sample.model import Doc, derive_rng

#: (number of files, file name pattern, extension) per record-file source.
FILES = {
    "web": (6, "web-{:05d}.warc.gz"),
    "wiki": (2, "wiki-{:05d}.jsonl.gz"),
    "code": (4, "code-{:05d}.jsonl.gz"),
    "papers": (2, "papers-{:05d}.parquet"),
}

FORMATS = {"web": "warc", "wiki": "jsonl", "code": "jsonl", "papers": "parquet", "books": "text"}
GLOBS = {
    "web": "data/sample/web/*.warc.gz",
    "wiki": "data/sample/wiki/*.jsonl.gz",
    "books": "data/sample/books/**/*.txt",
    "code": "data/sample/code/*.jsonl.gz",
    "papers": "data/sample/papers/*.parquet",
}


@dataclass
class FilePlan:
    source: str
    relpath: str  # relative to the source's folder under dest
    docs: list[Doc]


def _split(docs: list[Doc], parts: int) -> list[list[Doc]]:
    size, extra = divmod(len(docs), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(docs[start:end])
        start = end
    return out


def assign(by_source: dict[str, list[Doc]], seed: int) -> list[FilePlan]:
    """Shuffle each source (planted copies end up among the rest), cut it into files, set ids."""
    plans: list[FilePlan] = []
    for source, (parts, pattern) in FILES.items():
        docs = list(by_source[source])
        derive_rng(seed, "layout", source).shuffle(docs)
        for i, chunk in enumerate(_split(docs, parts), start=1):
            name = pattern.format(i)
            for n, doc in enumerate(chunk, start=1):
                doc.id = f"{source}/{name}:{n}"
            plans.append(FilePlan(source, name, chunk))
    books = sorted(by_source["books"], key=lambda d: d.path)
    paths = [d.path for d in books]
    if len(set(paths)) != len(paths):
        raise RuntimeError("two books share a path")
    full = [posixpath.join("books", p) for p in paths]
    common = posixpath.commonpath(full) if len(full) > 1 else posixpath.dirname(full[0])
    for doc, path in zip(books, full, strict=True):
        doc.id = f"books/{posixpath.relpath(path, common)}"
        plans.append(FilePlan("books", doc.path, [doc]))
    return plans


def render_web(docs: list[Doc], seed: int) -> None:
    """Give every web page without its own HTML the chrome of its site, linking site neighbours."""
    by_site: dict[chrome.Site, list[Doc]] = {}
    for doc in docs:
        if doc.html is None:
            by_site.setdefault(doc.extra["site"], []).append(doc)
    for site, pages in by_site.items():
        for doc in pages:
            rng = derive_rng(seed, "chrome", doc.id)
            others = [p for p in pages if p is not doc]
            picks = rng.sample(others, min(10, len(others)))
            related = [("/" + p.url.split("/", 3)[-1], p.title) for p in picks]
            doc.html = chrome.render(doc, site, rng, related)
