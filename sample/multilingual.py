"""Real non-English text that installed packages carry, cut into page-sized bodies per language.

Sources, in order of preference:
- gensim's Bulgarian Wikipedia test dump: the community talk archive (real forum-style Bulgarian);
- chatterbot-corpus (BSD-3-Clause, optional): human-written dialog in ~25 languages;
- spaCy's per-language example sentences (`spacy/lang/*/examples.py`);
- the stdlib's CJK codec test texts (`test/cjkencodings/*-utf8.txt`) when the test folder exists.
Every line is used once per language, so pages never share text by accident. When chatterbot-corpus
is missing, the main languages are filled up with Faker's per-locale word lists instead, and those
pages carry `padding="faker-lorem"` in the manifest (word salad, but of the right language).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import yaml

from prep.sample import locate
from prep.sample.model import derive_rng
from prep.sample.wiki import bulgarian_talk

#: chatterbot-corpus folder -> ISO 639-1 code.
CHATTERBOT_LANGS = {
    "italian": "it",
    "spanish": "es",
    "portuguese": "pt",
    "dutch": "nl",
    "ukrainian": "uk",
    "persian": "fa",
    "japanese": "ja",
    "korean": "ko",
    "chinese": "zh",
    "traditionalchinese": "zh",
    "german": "de",
    "french": "fr",
    "russian": "ru",
    "turkish": "tr",
    "indonesian": "id",
    "swedish": "sv",
}

#: spaCy language folders whose example sentences top up the languages above.
SPACY_LANGS = ("de", "fr", "es", "it", "pt", "nl", "ru", "uk", "ja", "zh", "ko", "tr", "id", "sv", "fa", "bg")

CJK_FILES = {"ja": ("euc_jp", "shift_jisx0213"), "zh": ("gb18030", "big5"), "ko": ("cp949",)}

#: Faker locales used to pad a main language when no real text for it is installed.
PADDING_LOCALES = {"de": "de_DE", "fr": "fr_FR", "es": "es_ES", "it": "it_IT", "ru": "ru_RU"}

#: Characters per page body; a language with enough text gets at least MIN_PAGES pages.
PAGE_CHARS = 900
MIN_PAGES = 40
MAX_PAGES = 80
CJK = ("ja", "zh", "ko")


@dataclass
class LangText:
    lang: str
    units: list[list[str]] = field(default_factory=list)  # each unit: lines kept together
    origins: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def add(self, lines: list[str], origin: str) -> None:
        fresh = []
        for line in lines:
            line = " ".join(str(line).split())
            if line and line not in self.seen:
                self.seen.add(line)
                fresh.append(line)
        if fresh:
            self.units.append(fresh)
            if origin not in self.origins:
                self.origins.append(origin)

    def chars(self) -> int:
        return sum(len(line) for unit in self.units for line in unit)


@dataclass
class PageBody:
    lang: str
    paragraphs: list[str]
    origin: str
    padding: str | None = None


def chatterbot_threads(folder: str) -> list[list[str]]:
    """A chatterbot-corpus language folder as threads: a question, then all its answers."""
    root = locate.chatterbot_data()
    if root is None:
        return []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    threads: list[list[str]] = []
    for path in sorted((root / folder).glob("*.yml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
        groups: dict[str, list[str]] = {}
        for conv in data.get("conversations") or []:
            lines = [str(x) for x in conv if isinstance(x, str | int | float)]
            if lines:
                groups.setdefault(lines[0], []).extend(lines[1:])
        threads.extend([question, *answers] for question, answers in groups.items())
    return threads


def _chatterbot(texts: dict[str, LangText]) -> None:
    for folder, lang in CHATTERBOT_LANGS.items():
        for thread in chatterbot_threads(folder):
            texts.setdefault(lang, LangText(lang)).add(thread, f"chatterbot-corpus/data/{folder}")


def _spacy_sentences(lang: str) -> list[str]:
    root = locate.spacy_dir()
    path = root / "lang" / lang / "examples.py" if root else None
    if path is None or not path.is_file():
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
            return [
                v.value for v in node.value.elts if isinstance(v, ast.Constant) and isinstance(v.value, str)
            ]
    return []


def _cjk_texts(lang: str) -> list[str]:
    folder = locate.stdlib_dir() / "test" / "cjkencodings"
    out = []
    for name in CJK_FILES.get(lang, ()):
        path = folder / f"{name}-utf8.txt"
        if path.is_file():
            out.extend(p for p in path.read_text(encoding="utf-8").split("\n") if p.strip())
    return out


def real_texts() -> dict[str, LangText]:
    """All real non-English text found, per language."""
    texts: dict[str, LangText] = {}
    talk = bulgarian_talk()
    bg = texts.setdefault("bg", LangText("bg"))
    for para in talk:
        bg.add([para], "gensim/test/test_data/bgwiki-latest-pages-articles-shortened.xml.bz2")
    _chatterbot(texts)
    for lang in SPACY_LANGS:
        sents = _spacy_sentences(lang)
        if sents:
            texts.setdefault(lang, LangText(lang)).add(sents, f"spacy/lang/{lang}/examples.py")
    for lang in CJK:
        lines = _cjk_texts(lang)
        if lines:
            texts.setdefault(lang, LangText(lang)).add(lines, "cpython Lib/test/cjkencodings")
    return texts


def _pack(text: LangText, seed: int) -> list[PageBody]:
    units = list(text.units)
    derive_rng(seed, "multilingual-order", text.lang).shuffle(units)
    total = text.chars()
    n_pages = max(1, min(MAX_PAGES, total // PAGE_CHARS))
    if total >= MIN_PAGES * 450:
        n_pages = max(n_pages, MIN_PAGES)
    origin = "+".join(text.origins)
    target = total / n_pages
    while True:  # units are uneven: lower the target until the pages are many enough
        pages = _greedy(units, target, n_pages, text.lang, origin)
        if len(pages) >= n_pages or target < 200:
            return pages
        target *= 0.9


def _greedy(units: list[list[str]], target: float, n_pages: int, lang: str, origin: str) -> list[PageBody]:
    pages: list[PageBody] = []
    current: list[str] = []
    size = 0
    for unit in units:
        current = current + unit
        size += sum(len(x) for x in unit)
        if size >= target and len(pages) < n_pages - 1:
            pages.append(PageBody(lang, current, origin))
            current, size = [], 0
    if current:
        pages.append(PageBody(lang, current, origin))
    return pages


def _faker_padding(lang: str, seed: int, n_pages: int) -> list[PageBody]:
    from faker import Faker

    fake = Faker(PADDING_LOCALES[lang])
    fake.seed_instance(int(derive_rng(seed, "padding", lang).random() * 2**31))
    pages = []
    for _ in range(n_pages):
        paras = [fake.paragraph(nb_sentences=6) for _ in range(4)]
        pages.append(PageBody(lang, paras, f"faker/providers/lorem/{PADDING_LOCALES[lang]}", "faker-lorem"))
    return pages


def page_bodies(seed: int, min_chars: int = 5000) -> tuple[list[PageBody], dict[str, list[str]]]:
    """Page bodies for every language with enough real text, and the origins per language.

    Languages with less than `min_chars` of real text are left out; the Faker-padded languages are
    added only when fewer than five real languages reach MIN_PAGES pages.
    """
    bodies: list[PageBody] = []
    origins: dict[str, list[str]] = {}
    main_langs = 0
    for lang, text in sorted(real_texts().items()):
        if text.chars() < min_chars:
            continue
        packed = _pack(text, seed)
        main_langs += len(packed) >= MIN_PAGES
        bodies.extend(packed)
        origins[lang] = list(text.origins)
    if main_langs < 5:
        for lang in PADDING_LOCALES:
            if lang not in origins:
                bodies.extend(_faker_padding(lang, seed, MIN_PAGES))
                origins[lang] = [f"faker/providers/lorem/{PADDING_LOCALES[lang]} (padding)"]
    return bodies, origins
