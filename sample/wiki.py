"""The `wiki` source: gensim's English Wikipedia test dump (plus its Bulgarian one) as prose.

Long articles are cut into runs of whole sections, so that one document stays readable on its
own and the source has a few hundred documents instead of a hundred very long ones.
"""

from __future__ import annotations

from urllib.parse import quote

from prep.sample import locate, wikitext
from prep.sample.model import Doc

EN_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
BG_DUMP = "bgwiki-latest-pages-articles-shortened.xml.bz2"
ORIGIN_EN = f"gensim/test/test_data/{EN_DUMP}"
ORIGIN_BG = f"gensim/test/test_data/{BG_DUMP}"

#: A document is cut after the section that takes it past this many characters.
CHUNK_CHARS = 9000


def _render(secs: list[wikitext.Section]) -> str:
    parts: list[str] = []
    for sec in secs:
        if sec.heading:
            parts.append(sec.heading)
        parts.extend(sec.paragraphs)
    return "\n\n".join(parts)


def _chunks(secs: list[wikitext.Section]) -> list[list[wikitext.Section]]:
    out: list[list[wikitext.Section]] = [[]]
    size = 0
    for sec in secs:
        if size >= CHUNK_CHARS and sec.level <= 2:
            out.append([])
            size = 0
        out[-1].append(sec)
        size += sum(len(p) for p in sec.paragraphs)
    return [c for c in out if any(s.paragraphs for s in c)]


def _page_docs(page: wikitext.WikiPage, lang: str, origin: str) -> list[Doc]:
    host = f"https://{lang}.wikipedia.org/wiki/"
    docs = []
    for i, chunk in enumerate(_chunks(wikitext.sections(page.text))):
        first = next((s.heading for s in chunk if s.heading), "")
        title = page.title if i == 0 else f"{page.title}: {first}"
        anchor = "" if i == 0 else "#" + quote(first.replace(" ", "_"))
        url = host + quote(page.title.replace(" ", "_")) + anchor
        docs.append(Doc("wiki", _render(chunk), lang, title=title, url=url, origin=origin))
    return docs


def wiki_docs() -> list[Doc]:
    """Every English article (and the Bulgarian article pages) as section-run documents."""
    data = locate.gensim_test_data()
    docs: list[Doc] = []
    for page in wikitext.read_dump(data / EN_DUMP):
        docs.extend(_page_docs(page, "en", ORIGIN_EN))
    for page in wikitext.read_dump(data / BG_DUMP):
        if "Разговори" not in page.title:  # the talk archive becomes forum pages in `web`
            docs.extend(_page_docs(page, "bg", ORIGIN_BG))
    return [d for d in docs if d.text.strip()]


def bulgarian_talk() -> list[str]:
    """Paragraphs of the Bulgarian Wikipedia community talk archive (real forum-style Bulgarian)."""
    data = locate.gensim_test_data()
    for page in wikitext.read_dump(data / BG_DUMP):
        if "Разговори" in page.title:
            return [p for sec in wikitext.sections(page.text) for p in [sec.heading, *sec.paragraphs] if p]
    return []
