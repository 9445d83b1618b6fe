"""Planted low-quality web pages: what quality filters and HTML extraction must cope with.

Each generator writes the whole page itself (`Doc.html`), since the defect is often in the page
structure (a link farm is all links). The manifest lists every page with its kind.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from html import escape

from faker import Faker
from faker.providers.lorem.la import Provider as LatinLorem

from prep.sample.model import Doc, derive_rng, stable_hex

SPAM_TOPICS = (
    ("cheap", "watches", "replica", "luxury", "discount", "best price"),
    ("casino", "bonus", "free spins", "jackpot", "online slots", "win big"),
    ("weight loss", "pills", "diet", "fat burner", "miracle", "fast results"),
    ("loans", "payday", "instant approval", "no credit check", "cash", "today"),
    ("seo", "backlinks", "rank #1", "traffic", "guaranteed", "cheap seo"),
)

LEGAL = (
    "This website uses cookies and similar technologies to provide, protect and improve our services.",
    "By using this website you agree to the storage of cookies on your device.",
    "The information on this website is provided for general information purposes only and without warranty.",
    "We reserve the right to change these terms at any time without prior notice.",
    "All trademarks mentioned on this site are the property of their respective owners.",
    "Reproduction of any content without written permission is prohibited.",
    "For details on how we process personal data, please read our privacy policy.",
    "You can withdraw your consent at any time in the cookie settings.",
)


def _page(title: str, body: str, lang: str = "en") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title, quote=False)}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def link_farm(rng: random.Random, fake: Faker) -> tuple[str, str]:
    words = rng.choice(SPAM_TOPICS)
    links = []
    for _ in range(rng.randint(120, 260)):
        anchor = " ".join(rng.sample(words, 3))
        links.append(f'<li><a href="https://{fake.domain_name()}/{fake.slug()}">{anchor}</a></li>')
    title = f"Best {words[1]} links directory"
    body = f"<h1>{title}</h1>\n<ul>{''.join(links)}</ul>\n<p>Links updated daily.</p>"
    return title, body


def keyword_spam(rng: random.Random, fake: Faker) -> tuple[str, str]:
    words = rng.choice(SPAM_TOPICS)
    paras = []
    for _ in range(rng.randint(4, 8)):
        paras.append(" ".join(rng.choice(words) for _ in range(rng.randint(40, 90))) + ".")
    title = " ".join(words).title()
    body = f"<h1>{title}</h1>\n" + "\n".join(f"<p>{p}</p>" for p in paras)
    body += f'\n<div style="display:none">{" ".join(words * 30)}</div>'
    return title, body


def boilerplate(rng: random.Random, fake: Faker) -> tuple[str, str]:
    company = fake.company()
    menu = "".join(f'<li><a href="/{w.lower()}/">{w}</a></li>' for w in fake.words(nb=25, unique=True))
    legal = " ".join(rng.sample(LEGAL, len(LEGAL)))
    body = (
        f'<div class="cookie-notice"><p>{LEGAL[0]} {LEGAL[1]}</p><button>Accept</button>'
        f"<button>Reject</button><button>Settings</button></div>\n"
        f'<nav><ul>{menu}</ul></nav>\n<nav class="secondary"><ul>{menu}</ul></nav>\n'
        f"<main><h1>{escape(company)}</h1><p>Welcome.</p></main>\n"
        f"<footer><p>{escape(legal)}</p><p>© {escape(company)}. All rights reserved. Imprint | Privacy | "
        f"Terms | Cookies | Accessibility | Sitemap</p></footer>"
    )
    return f"{company} - Home", body


def repeated_lines(rng: random.Random, fake: Faker) -> tuple[str, str]:
    line = fake.sentence(nb_words=rng.randint(6, 12))
    lines = [line] * rng.randint(30, 60)
    title = line.rstrip(".")
    return title, f"<h1>{escape(title)}</h1>\n" + "\n".join(f"<p>{escape(x)}</p>" for x in lines)


def lorem_ipsum(rng: random.Random, fake: Faker) -> tuple[str, str]:
    words = LatinLorem.word_list
    paras = []
    for _ in range(rng.randint(3, 7)):
        sents = [
            " ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize() + "."
            for _ in range(5)
        ]
        paras.append(" ".join(sents))
    paras[0] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " + paras[0]
    return "Lorem ipsum", "<h1>Lorem ipsum</h1>\n" + "\n".join(f"<p>{p}</p>" for p in paras)


def very_short(rng: random.Random, fake: Faker) -> tuple[str, str]:
    text = rng.choice(
        ("Page not found.", "Coming soon!", "Under construction.", "Hello world", "Thanks!", "Login")
    )
    return text, f"<p>{text}</p>"


def all_caps(rng: random.Random, fake: Faker) -> tuple[str, str]:
    paras = [
        f"{fake.catch_phrase()}! {fake.bs()} at {fake.company()}. "
        f"CALL NOW AND SAVE {rng.randint(20, 90)} PERCENT!!!"
        for _ in range(rng.randint(4, 8))
    ]
    title = "HUGE SALE TODAY ONLY"
    return title, f"<h1>{title}</h1>\n" + "\n".join(f"<p>{escape(p.upper())}</p>" for p in paras)


def empty_ish(rng: random.Random, fake: Faker) -> tuple[str, str]:
    menu = "".join(f'<li><a href="/{w}/">{w.title()}</a></li>' for w in fake.words(nb=8, unique=True))
    return fake.company(), f"<nav><ul>{menu}</ul></nav>\n<main></main>\n<footer><p>©</p></footer>"


KINDS: dict[str, tuple[Callable[[random.Random, Faker], tuple[str, str]], int]] = {
    "link_farm": (link_farm, 8),
    "keyword_spam": (keyword_spam, 8),
    "boilerplate": (boilerplate, 8),
    "repeated_lines": (repeated_lines, 6),
    "lorem_ipsum": (lorem_ipsum, 6),
    "very_short": (very_short, 8),
    "all_caps": (all_caps, 6),
    "empty_ish": (empty_ish, 4),
}


def low_quality_pages(seed: int) -> list[Doc]:
    """All planted low-quality pages; `Doc.kind` is "lowq:<kind>"."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    docs = []
    for kind, (make, count) in KINDS.items():
        rng = derive_rng(seed, "lowq", kind)
        for i in range(count):
            title, body = make(rng, fake)
            url = (
                f"https://{fake.domain_name()}/{kind.replace('_', '-')}/{stable_hex(kind, str(i), n=8)}.html"
            )
            lang = "la" if kind == "lorem_ipsum" else "en"
            doc = Doc(
                "web", "", lang, title=title, url=url, origin="generated", kind=f"lowq:{kind}", planted=True
            )
            doc.html = _page(title, body, lang)
            docs.append(doc)
    return docs
