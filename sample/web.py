"""The `web` source's ordinary pages: English news, reviews and Q&A, and the multilingual forums.

English text: gensim's Lee news corpus (Australian news articles), its movie-review test files,
and chatterbot-corpus's English dialogs when installed. Other languages come from
`multilingual.page_bodies`. Pages get their HTML at layout time (`chrome.render`), once every
page's site neighbours are known for the sidebar links.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from prep.sample import locate, multilingual
from prep.sample.chrome import Site
from prep.sample.model import Doc, derive_rng, stable_hex

NEWS = Site("Southern Cross Wire", "www.southerncrosswire.com.au", "news")
REVIEWS = Site("Reel Talk Reviews", "www.reeltalk-reviews.com", "reviews")
QA = Site("Ask the Bot Community", "community.askthebot.net", "forum")

#: One invented forum site per language: (name, domain).
LANG_SITES = {
    "bg": ("Уики беседа", "forum.wikibeseda.bg"),
    "de": ("Plauderecke", "forum.plauderecke.de"),
    "es": ("Charla Digital", "foro.charladigital.es"),
    "fa": ("گفتگوی آزاد", "forum.goftegoo.ir"),
    "fr": ("Le Salon Numérique", "forum.salon-numerique.fr"),
    "id": ("Obrolan Kita", "forum.obrolankita.id"),
    "it": ("Chiacchiere Digitali", "forum.chiacchieredigitali.it"),
    "ja": ("おしゃべり広場", "forum.oshaberi-hiroba.jp"),
    "ko": ("이야기 마당", "forum.iyagimadang.kr"),
    "nl": ("Praatcafé", "forum.praatcafe.nl"),
    "pt": ("Papo Digital", "forum.papodigital.com.br"),
    "ru": ("Беседка", "forum.besedka.ru"),
    "tr": ("Sohbet Köşesi", "forum.sohbetkosesi.com.tr"),
    "uk": ("Балачки", "forum.balachky.com.ua"),
    "zh": ("闲聊广场", "bbs.xianliao.cn"),
}

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def _decode_lines(data: bytes) -> list[str]:
    """Lines as text; the Lee corpus has a few cp1252 bytes (a pound sign) among its UTF-8."""
    out = []
    for raw in data.split(b"\n"):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(raw.decode("cp1252", "replace"))
    return [line.strip() for line in out if line.strip()]


def headline(text: str, words: int = 10) -> str:
    """A title from the first words of a text. No trailing ellipsis: a teaser title that ends
    in "…" above a one-paragraph story trips Gopher's end-ellipsis rule on half the news."""
    first = text.split("\n", 1)[0].split()
    return " ".join(first[:words]).rstrip(",.;:")


def _paragraphs(article: str, per: int = 3) -> str:
    sentences = _SENTENCE.split(article)
    return "\n\n".join(" ".join(sentences[i : i + per]) for i in range(0, len(sentences), per))


def _url(site: Site, title: str, key: str) -> str:
    slug = quote("-".join(re.findall(r"\w+", title.lower())[:8]) or "page")
    return f"https://{site.domain}/{site.section}/{slug}-{stable_hex(key, n=6)}"


def _page(site: Site, text: str, lang: str, kind: str, origin: str, key: str) -> Doc:
    title = headline(text)
    return Doc(
        "web",
        text,
        lang,
        title=title,
        url=_url(site, title, key),
        origin=origin,
        kind=kind,
        extra={"site": site},
    )


def news_pages() -> list[Doc]:
    data = locate.gensim_test_data()
    seen: set[str] = set()
    docs = []
    for name in ("lee_background.cor", "lee.cor"):
        for i, line in enumerate(_decode_lines((data / name).read_bytes())):
            if line in seen:
                continue
            seen.add(line)
            docs.append(
                _page(NEWS, _paragraphs(line), "en", "news", f"gensim/test/test_data/{name}", f"{name}:{i}")
            )
    return docs


def review_pages() -> list[Doc]:
    data = locate.gensim_test_data()
    docs = []
    for i, line in enumerate(_decode_lines((data / "alldata-id-10.txt").read_bytes())):
        text = line.split(" ", 1)[1] if line.startswith("_*") else line
        docs.append(
            _page(REVIEWS, text, "en", "article", "gensim/test/test_data/alldata-id-10.txt", f"imdb:{i}")
        )
    lines = [
        re.sub(r"^__label__\w+\s+", "", x)
        for x in _decode_lines((data / "pang_lee_polarity.cor").read_bytes())
    ]
    for i in range(0, len(lines), 20):
        text = "\n\n".join(lines[i : i + 20])
        docs.append(
            _page(REVIEWS, text, "en", "forum", "gensim/test/test_data/pang_lee_polarity.cor", f"pl:{i}")
        )
    return docs


def qa_pages(seed: int) -> list[Doc]:
    """English Q&A threads from chatterbot-corpus (none when it is not installed)."""
    text = multilingual.LangText("en")
    for thread in multilingual.chatterbot_threads("english"):
        text.add(thread, "chatterbot-corpus/data/english")
    units = list(text.units)
    derive_rng(seed, "qa-order").shuffle(units)
    docs: list[Doc] = []
    current: list[str] = []
    for unit in units:
        current.extend(unit)
        if sum(len(x) for x in current) >= 1200:
            docs.append(
                _page(QA, "\n\n".join(current), "en", "forum", "chatterbot-corpus/data/english", current[0])
            )
            current = []
    if current:
        docs.append(
            _page(QA, "\n\n".join(current), "en", "forum", "chatterbot-corpus/data/english", current[0])
        )
    return docs


def multilingual_pages(seed: int) -> tuple[list[Doc], dict[str, list[str]]]:
    bodies, origins = multilingual.page_bodies(seed)
    docs = []
    for i, body in enumerate(bodies):
        name, domain = LANG_SITES.get(body.lang, (f"Forum {body.lang}", f"forum.{body.lang}-talk.net"))
        site = Site(name, domain, "forum")
        doc = _page(site, "\n\n".join(body.paragraphs), body.lang, "forum", body.origin, f"{body.lang}:{i}")
        doc.padding = body.padding
        docs.append(doc)
    return docs, origins
