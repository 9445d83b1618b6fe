"""MediaWiki dumps to readable text: pages out of the XML, markup out of the pages.

gensim's `filter_wiki` stops at the first unbalanced `{{` (the Bulgarian talk page has one inside
`<nowiki>`) and leaves quote marks and headings in, so the cleaning here is our own: it keeps
sentences and punctuation, turns headings into section breaks, and drops templates, tables,
references, files and categories.
"""

from __future__ import annotations

import bz2
import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class WikiPage:
    title: str
    namespace: str
    text: str  # raw wiki markup


@dataclass
class Section:
    heading: str  # "" for the lead section
    level: int
    paragraphs: list[str]


def read_dump(path: Path) -> list[WikiPage]:
    """All non-redirect pages of a .xml.bz2 dump (any encoding the XML declares or its BOM shows)."""
    pages: list[WikiPage] = []
    with bz2.open(path, "rb") as stream:
        title = ns = ""
        for _event, elem in ET.iterparse(stream, events=("end",)):
            tag = elem.tag.rsplit("}", 1)[-1]
            if tag == "title":
                title = elem.text or ""
            elif tag == "ns":
                ns = elem.text or "0"
            elif tag == "text":
                text = elem.text or ""
                if not re.match(r"\s*#(redirect|пренасочване)", text, re.IGNORECASE):
                    pages.append(WikiPage(title, ns, text))
            elif tag == "page":
                elem.clear()
    return pages


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_NOWIKI = re.compile(r"<nowiki>(.*?)</nowiki>", re.DOTALL | re.IGNORECASE)
_DROP_BLOCKS = re.compile(
    r"<(ref|gallery|math|timeline|score|syntaxhighlight|source|imagemap|chem)\b[^>/]*>.*?</\1\s*>",
    re.DOTALL | re.IGNORECASE,
)
_SELF_CLOSING = re.compile(r"<ref\b[^>]*/>|<references\s*/>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|[^{}]*?\|\}", re.DOTALL)
_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
_EXT_LINK = re.compile(r"\[(?:https?|ftp)://[^\s\]]+(?:\s+([^\]]*))?\]")
_BARE_URL_LINK = re.compile(r"\[\[(?:https?)://[^\]]*\]\]")
_QUOTES = re.compile(r"'{2,5}")
_HEADING = re.compile(r"^(={2,6})\s*(.*?)\s*\1\s*$")
_MAGIC = re.compile(r"__[A-Z]+__")
_EMPTY_PARENS = re.compile(r"\(\s*[,;:]?\s*\)|\(\s*[,;]\s*")
_SPACES = re.compile(r"[ \t\u00a0]+")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?])")

#: Link namespaces whose links are not text (files, categories) in English and Bulgarian.
_DROP_NAMESPACES = (
    "file:",
    "image:",
    "category:",
    "media:",
    "файл:",
    "картинка:",
    "категория:",
    "образ:",
)
_INTERWIKI = re.compile(r"^:?[a-z]{2,3}(-[a-z]+)?:", re.IGNORECASE)

#: Sections that are lists of references rather than prose.
SKIP_SECTIONS = {
    "references",
    "external links",
    "see also",
    "further reading",
    "notes",
    "bibliography",
    "sources",
    "citations",
    "footnotes",
    "notes and references",
    "works cited",
    "външни препратки",
    "източници",
    "бележки",
    "вижте също",
    "литература",
}

_PROTECT = str.maketrans({"{": "\ue000", "}": "\ue001", "[": "\ue002", "]": "\ue003", "|": "\ue004"})
_UNPROTECT = str.maketrans({"\ue000": "{", "\ue001": "}", "\ue002": "[", "\ue003": "]", "\ue004": "|"})


def _repeat(pattern: re.Pattern[str], repl, text: str, limit: int = 20) -> str:
    """Apply a substitution until nothing changes (innermost nesting first)."""
    for _ in range(limit):
        new = pattern.sub(repl, text)
        if new == text:
            break
        text = new
    return text


def _link_text(match: re.Match[str]) -> str:
    inner = match.group(1)
    target = inner.split("|", 1)[0].strip()
    low = target.lower().lstrip(":")
    if low.startswith(_DROP_NAMESPACES):
        return ""
    if "|" not in inner and _INTERWIKI.match(target) and not target.startswith(":"):
        return ""
    return inner.rsplit("|", 1)[-1] if "|" in inner else target.split("#", 1)[0]


def strip_markup(markup: str) -> str:
    """Wiki markup to plain text with blank lines between paragraphs (headings kept as `== x ==`)."""
    text = _COMMENT.sub("", markup)
    text = _NOWIKI.sub(lambda m: m.group(1).translate(_PROTECT), text)
    text = _DROP_BLOCKS.sub("", text)
    text = _SELF_CLOSING.sub(" ", text)
    text = _repeat(_TEMPLATE, "", text)
    text = _repeat(_TABLE, "", text)
    text = _BARE_URL_LINK.sub("", text)
    text = _repeat(_LINK, _link_text, text)
    text = _EXT_LINK.sub(lambda m: m.group(1) or "", text)
    text = _TAG.sub("", text)
    text = _MAGIC.sub("", text)
    text = _QUOTES.sub("", text)
    text = html.unescape(text).translate(_UNPROTECT)
    return text


def _clean_line(line: str) -> str:
    line = line.strip()
    if line.startswith(("|", "!", "{|", "|}")):
        return ""
    line = line.lstrip("*#:;").strip()
    line = _EMPTY_PARENS.sub(lambda m: "" if m.group(0).endswith(")") else "(", line)
    line = _SPACES.sub(" ", line)
    line = _SPACE_BEFORE_PUNCT.sub(r"\1", line)
    return line.strip()


def sections(markup: str, min_words: int = 4) -> list[Section]:
    """The page as sections of readable paragraphs; reference-like sections are left out."""
    out = [Section("", 1, [])]
    para: list[str] = []

    def flush() -> None:
        if para:
            joined = " ".join(para)
            if len(joined.split()) >= min_words:
                out[-1].paragraphs.append(joined)
            para.clear()

    for raw in strip_markup(markup).split("\n"):
        heading = _HEADING.match(raw.strip())
        if heading:
            flush()
            out.append(Section(_clean_line(heading.group(2)), len(heading.group(1)), []))
            continue
        line = _clean_line(raw)
        if not line:
            flush()
            continue
        if raw.lstrip().startswith(("*", "#", ":", ";")):
            flush()  # list items and indented replies are paragraphs of their own
            para.append(line)
            flush()
        else:
            para.append(line)
    flush()
    kept: list[Section] = []
    skipping_level = 0
    for sec in out:
        if skipping_level and sec.level > skipping_level:
            continue
        skipping_level = 0
        if sec.heading.lower() in SKIP_SECTIONS:
            skipping_level = sec.level
            continue
        if sec.paragraphs or sec.heading:
            kept.append(sec)
    return kept
