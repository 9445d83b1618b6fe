"""The `books` and `papers` sources: long and technical prose from the stdlib and gensim's data.

books (one .txt per document): the Python language reference (pydoc topics) in volumes, a
manual per stdlib package made of its docstrings, the Python licence and history, and the
Russian excerpt of Crime and Punishment from gensim's test data.
papers (Parquet rows): the docstrings of each single-file stdlib module as one technical note.
The two use different modules, so no text is in both.
"""

from __future__ import annotations

import re

from prep.sample import locate, stdlib
from prep.sample.model import Doc

VOLUME_CHARS = 80_000
MIN_MANUAL_CHARS = 3000
MIN_NOTE_CHARS = 1500


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower())) or "book"


def _book(title: str, text: str, lang: str, origin: str) -> Doc:
    return Doc(
        "books", text.strip() + "\n", lang, title=title, path=f"{lang}/{_slug(title)}.txt", origin=origin
    )


def reference_volumes() -> list[Doc]:
    topics = stdlib.reference_topics()
    volumes: list[list[str]] = [[]]
    size = 0
    for _name, text in topics:
        if size >= VOLUME_CHARS:
            volumes.append([])
            size = 0
        volumes[-1].append(text.strip())
        size += len(text)
    origin = "cpython Lib/pydoc_data/topics.py"
    return [
        _book(f"The Python Language Reference, volume {i + 1}", "\n\n".join(v), "en", origin)
        for i, v in enumerate(volumes)
        if v
    ]


def package_manuals(digests: list[stdlib.Digest]) -> list[Doc]:
    by_package: dict[str, list[stdlib.Digest]] = {}
    for d in digests:
        if d.package:
            by_package.setdefault(d.package, []).append(d)
    docs = []
    for package, parts in sorted(by_package.items()):
        if sum(p.size() for p in parts) < MIN_MANUAL_CHARS:
            continue
        text = "\n\n".join(f"The {p.module} module\n\n{p.text()}" for p in parts)
        docs.append(_book(f"The {package} package manual", text, "en", f"cpython Lib/{package}/ docstrings"))
    return docs


def other_books() -> list[Doc]:
    docs = []
    licence = stdlib.licence_text()
    if licence:
        docs.append(_book("Python licence and history", licence, "en", "cpython LICENSE.txt"))
    path = locate.gensim_test_data() / "crime-and-punishment.txt"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        docs.append(
            _book(
                "Преступление и наказание (отрывок)",
                text,
                "ru",
                "gensim/test/test_data/crime-and-punishment.txt",
            )
        )
        docs[-1].path = "ru/crime-and-punishment-excerpt.txt"
    return docs


def books(digests: list[stdlib.Digest]) -> list[Doc]:
    return reference_volumes() + package_manuals(digests) + other_books()


def papers(digests: list[stdlib.Digest]) -> list[Doc]:
    docs = []
    for d in digests:
        if d.package or d.size() < MIN_NOTE_CHARS:
            continue
        docs.append(
            Doc(
                "papers",
                d.text(),
                "en",
                title=f"The {d.module} module",
                origin=f"cpython Lib/{d.module}.py docstrings",
            )
        )
    return docs
