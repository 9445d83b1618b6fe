"""HTML pages around a main text: the header, menus, cookie banner, sidebar and footer of a site.

The chrome is what HTML-to-text extraction must remove, so it is deliberately plentiful (a real
page is mostly chrome); it repeats across a site's pages, as real boilerplate does.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from html import escape

from prep.sample.chrome_strings import RTL, labels
from prep.sample.model import Doc


@dataclass(frozen=True)
class Site:
    name: str
    domain: str
    section: str  # first path segment of the site's pages, e.g. "news"


_STYLE = (
    "body{font-family:Georgia,serif;margin:0;color:#222}header,footer{background:#f4f4f4;padding:1em}"
    "nav ul{list-style:none;display:flex;gap:1em}.cookie-notice{position:fixed;bottom:0;background:#333;"
    "color:#fff;padding:1em;width:100%}.sidebar{float:right;width:28%}main{width:68%;padding:1em}"
    ".post{border-bottom:1px solid #ddd;margin-bottom:1em}.share a{margin-right:.5em}"
)

_SCRIPT = (
    "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
    "gtag('js',new Date());gtag('config','G-SAMPLE0000');"
    "document.addEventListener('DOMContentLoaded',function(){var b=document.getElementById('cookie-banner');"
    "if(localStorage.getItem('cookies-ok')){b.style.display='none';}});"
)


def _date(rng: random.Random) -> str:
    return f"20{rng.randint(12, 24):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _link_list(items: list[tuple[str, str]]) -> str:
    return "".join(f'<li><a href="{escape(h)}">{escape(t, quote=False)}</a></li>' for h, t in items)


def _body_html(doc: Doc, rng: random.Random, ui: dict[str, str]) -> str:
    paras = [p for p in doc.text.split("\n\n") if p.strip()]
    body = "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in paras)
    if doc.kind == "forum":  # a thread: the messages, then a reply box (forum markup trafilatura keeps)
        users = ", ".join(f"user{rng.randint(100, 99999)}" for _ in range(3))
        body = (
            f'<section class="thread">\n{body}\n</section>\n'
            f'<div class="thread-meta"><span>{users}</span> · '
            f'<a href="#reply">{escape(ui["reply"])}</a></div>'
        )
    return body


def render(doc: Doc, site: Site, rng: random.Random, related: list[tuple[str, str]]) -> str:
    """The whole HTML page of a web document whose main text is `doc.text`."""
    ui = labels(doc.lang)
    lang = doc.lang or "en"
    direction = ' dir="rtl"' if lang in RTL else ""
    title = escape(doc.title, quote=False)
    description = escape(" ".join(doc.text.split())[:150])
    base = f"https://{site.domain}"
    nav = _link_list(
        [
            ("/", ui["home"]),
            (f"/{site.section}/", ui["news"] if site.section == "news" else ui["forum"]),
            ("/about/", ui["about"]),
            ("/contact/", ui["contact"]),
            ("/login/", ui["login"]),
        ]
    )
    half = len(related) // 2
    sidebar = (
        f'<aside class="sidebar"><h3>{escape(ui["related"])}</h3><ul>{_link_list(related[:half])}</ul>'
        f"<h3>{escape(ui['popular'])}</h3><ul>{_link_list(related[half:])}</ul>"
        f'<div class="newsletter"><p>{escape(ui["newsletter"])}</p>'
        f'<form action="/subscribe"><input type="email" name="email"><button>OK</button></form></div></aside>'
    )
    legal = [
        ("/about/", ui["about"]),
        ("/contact/", ui["contact"]),
        ("/privacy/", ui["privacy"]),
        ("/terms/", ui["terms"]),
    ]
    footer = (
        f'<footer><ul class="footer-links">{_link_list(legal)}</ul>'
        f"<p>© 20{rng.randint(15, 24)} {escape(site.name)}. {escape(ui['rights'])}</p></footer>"
    )
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "Article",
            "headline": doc.title[:110],
            "inLanguage": lang,
        },
        ensure_ascii=False,
    )
    share = "".join(
        f'<a href="https://{n}/share?u={escape(doc.url)}">{n.split(".")[0]}</a>'
        for n in ("facebook.com", "twitter.com", "linkedin.com")
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"{direction}>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title} | {escape(site.name)}</title>\n"
        f'<meta name="description" content="{description}">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<link rel="canonical" href="{escape(doc.url)}">\n<style>{_STYLE}</style>\n'
        f"<script>{_SCRIPT}</script>\n"
        f'<script type="application/ld+json">{escape(ld, quote=False)}</script>\n</head>\n<body>\n'
        f'<div id="cookie-banner" class="cookie-notice"><p>{escape(ui["cookies"])}</p>'
        f"<button onclick=\"localStorage.setItem('cookies-ok',1)\">{escape(ui['accept'])}</button></div>\n"
        f'<header class="site-header"><a class="logo" href="{base}/">{escape(site.name)}</a>'
        f'<nav class="main-nav"><ul>{nav}</ul></nav>'
        f'<form class="search" action="/search"><input name="q" placeholder="{escape(ui["search"])}"></form>'
        f"</header>\n"
        f'<div class="breadcrumb"><a href="/">{escape(ui["home"])}</a> › <a href="/{site.section}/">'
        f"{escape(site.section)}</a></div>\n"
        f'<main><article><h1>{title}</h1><p class="byline">{_date(rng)}</p>\n'
        f"{_body_html(doc, rng, ui)}\n"
        f'<div class="share">{share}</div></article></main>\n'
        f"{sidebar}\n{footer}\n</body>\n</html>\n"
    )
