"""The heuristics' word splitter against datatrove's own (spaCy): same keep/drop decisions?

Run by hand (not a test):  python bench/bench_words.py [--per-genre N] [--seed S] [--langs de,fr,...]

Builds an evaluation set offline and deterministically from text already on the machine
(nothing is downloaded), cut into documents of a few lines to a few thousand words:

- en/web: the bundled sample's English web pages (data/sample/web, extracted by prep's
  WARC reader; chatterbot dialogs, gensim's Lee news corpus and Wikipedia, padded pages);
- en/wiki: the sample's English Wikipedia articles (gensim's test dump);
- en/news: gensim's Lee background corpus (Australian news, one article a line);
- en/technical: the Python language reference (`pydoc_data.topics`) and the standard
  library's docstrings (code references such as `foo.bar()`, `x_y`, numbers, lists);
- en/readme: long descriptions of the installed packages (METADATA: Markdown and reST with
  URLs, code blocks, version numbers, bullet lists);
- en/dialog: chatterbot-corpus English dialogs (forum-like short turns);
- other languages (de, fr, es, it, pt, nl, ru, pl, sv, cs, uk, bg, ...): Vim's tutor
  (`/usr/share/vim/*/tutor`, technical prose with commands), translated program messages
  (`/usr/share/locale/*/LC_MESSAGES/*.mo`: coreutils, git, apt, tar, ... with options,
  `%s` and paths), chatterbot-corpus dialogs, the sample's web pages in that language, the
  Bulgarian Wikipedia test dump and the Russian "Crime and Punishment" (gensim).

Sources missing on a machine are left out (the report says how many documents each set
has). Each document goes through the heuristic blocks prep runs by default (Gopher quality
for English, Gopher repetition, C4 and FineWeb, datatrove's default thresholds, domain
`web`) twice in this process: with datatrove's tokenizer and with prep's splitter. Printed:
per set and genre, n documents, same keep/drop decision (%), the disagreements by rule
(`datatrove's verdict -> prep's verdict`); each block's own verdict on every document (the
chained decision hides a block behind an earlier drop); the speed of the blocks in order;
and, on a sample of about 1.5 MB, the speed of each splitter alone (words and sentence
spans, MB/s of CPU time on one core; prep's splitter from an empty cache, then a second
pass) and how many documents get identical words and sentence spans. About 1.5 minutes.
"""

from __future__ import annotations

import argparse
import ast
import bz2
import collections
import email.parser
import gettext
import glob
import json
import os
import platform
import random
import re
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SITE = Path(sysconfig.get_paths()["purelib"])

#: Languages (written with spaces) and the locale folders / file suffixes they go by.
LANGS = ["de", "fr", "es", "it", "pt", "nl", "ru", "pl", "sv", "cs", "uk", "bg"]
_MO_DOMAINS = [
    "vim",
    "coreutils",
    "git",
    "apt",
    "tar",
    "grep",
    "sed",
    "wget",
    "findutils",
    "dpkg",
    "bash",
    "make",
]


@dataclass
class Doc:
    lang: str
    genre: str
    text: str


class _Cutter:
    """Cuts long texts into documents of random sizes (log-uniform, in words)."""

    def __init__(self, rng: random.Random, lo: int = 15, hi: int = 2500):
        self.rng, self.lo, self.hi = rng, lo, hi

    def target(self) -> int:
        return round(self.lo * (self.hi / self.lo) ** self.rng.random())

    def cut(self, units: list[str], sep: str) -> list[str]:
        """Group consecutive units (paragraphs or lines) into documents."""
        docs, cur, words, goal = [], [], 0, self.target()
        for u in units:
            if not u.strip():
                continue
            cur.append(u)
            words += len(u.split())
            if words >= goal:
                docs.append(sep.join(cur))
                cur, words, goal = [], 0, self.target()
        if cur and words >= self.lo:
            docs.append(sep.join(cur))
        return docs


def _paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in re.split(r"\n\s*\n", text) if p.strip()]


def _take(docs: list[str], n: int, rng: random.Random) -> list[str]:
    """At most n documents, a seeded sample, in their original order."""
    if len(docs) <= n:
        return docs
    keep = sorted(rng.sample(range(len(docs)), n))
    return [docs[i] for i in keep]


# --- English -----------------------------------------------------------------------------


def _technical(cut: _Cutter) -> list[str]:
    from pydoc_data.topics import topics

    docs = []
    for name in sorted(topics):
        docs += cut.cut(_paragraphs(topics[name]), "\n\n")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for f in sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/__init__.py")):
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        parts = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc.split()) > 5:
                    parts.append(doc)
        docs += cut.cut(parts, "\n\n")
    return docs


def _readmes(cut: _Cutter) -> list[str]:
    docs = []
    for meta in sorted(SITE.glob("*.dist-info/METADATA")):
        try:
            msg = email.parser.Parser().parsestr(meta.read_text(encoding="utf-8", errors="replace"))
        except Exception:
            continue
        body = msg.get_payload()
        if isinstance(body, str) and len(body.split()) > 30:
            docs += cut.cut(_paragraphs(body), "\n\n")
    return docs


def _lee(cut: _Cutter) -> list[str]:
    f = SITE / "gensim/test/test_data/lee_background.cor"
    if not f.exists():
        return []
    return cut.cut(f.read_text(encoding="utf-8", errors="replace").splitlines(), "\n\n")


def _chatterbot(folder: str, cut: _Cutter) -> list[str]:
    import yaml

    docs = []
    for f in sorted((SITE / "chatterbot_corpus/data" / folder).glob("*.yml")):
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
        except Exception:
            continue
        lines = []
        for conv in data.get("conversations") or []:
            lines += [str(turn) for turn in conv if turn is not None]
        docs += cut.cut(lines, "\n")
    return docs


def _sample_web() -> dict[str, list[str]]:
    """The sample's web pages by the language its manifest gives them (English otherwise)."""
    manifest = REPO / "data/sample/MANIFEST.json"
    if not manifest.exists():
        return {}
    from prep.pipeline.config import SourceConfig
    from prep.pipeline.readers import read_file
    from prep.pipeline.sources import list_input_files

    langs = json.loads(manifest.read_text())["languages"]["docs"]
    lang_of = {d: lang for lang, ids in langs.items() for d in ids}
    src = SourceConfig(
        name="web", domain="web", format="warc", paths=[str(REPO / "data/sample/web/*.warc.gz")]
    )
    out: dict[str, list[str]] = collections.defaultdict(list)
    for f in list_input_files(src.paths):
        for t in read_file(f, src):
            cols = t.column("id").to_pylist(), t.column("text").to_pylist(), t.column("_stage").to_pylist()
            for i, text, stage in zip(*cols, strict=True):
                if stage is None and text and text.strip():
                    out[lang_of.get(i, "en")].append(text)
    return out


def _sample_wiki(cut: _Cutter) -> list[str]:
    import gzip

    docs = []
    for f in sorted((REPO / "data/sample/wiki").glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                text = json.loads(line).get("text") or ""
                if text.strip():
                    docs.append(text)
    return docs


# --- other languages ---------------------------------------------------------------------


def _tutor(lang: str, cut: _Cutter) -> list[str]:
    files = sorted(glob.glob(f"/usr/share/vim/vim*/tutor/tutor.{lang}.utf-8"))
    if not files:
        return []
    text = Path(files[-1]).read_text(encoding="utf-8", errors="replace")
    return cut.cut(_paragraphs(text), "\n\n")


def _messages(lang: str, cut: _Cutter) -> list[str]:
    msgs = []
    for domain in _MO_DOMAINS:
        for f in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/{domain}.mo")) + sorted(
            glob.glob(f"/usr/share/vim/vim*/lang/{lang}/LC_MESSAGES/{domain}.mo")
        ):
            try:
                with open(f, "rb") as fh:
                    catalog = gettext.GNUTranslations(fh)._catalog
            except Exception:
                continue
            for key in sorted(catalog, key=str):
                value = catalog[key]
                if key and isinstance(value, str) and len(value.split()) >= 3:
                    msgs.append(value.strip())
    return cut.cut(msgs, "\n")


def _bgwiki(cut: _Cutter) -> list[str]:
    f = SITE / "gensim/test/test_data/bgwiki-latest-pages-articles-shortened.xml.bz2"
    if not f.exists():
        return []
    raw = bz2.decompress(f.read_bytes())
    xml = raw.decode("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8", errors="replace")
    docs = []
    for body in re.findall(r"<text[^>]*>(.*?)</text>", xml, flags=re.S):
        body = re.sub(r"\{\{.*?\}\}|\[\[(?:[^|\]]*\|)?([^\]]*)\]\]|&lt;.*?&gt;|'''?", r"\1", body, flags=re.S)
        docs += cut.cut(_paragraphs(body), "\n\n")
    return docs


def _crime(cut: _Cutter) -> list[str]:
    f = SITE / "gensim/test/test_data/crime-and-punishment.txt"
    if not f.exists():
        return []
    return cut.cut(f.read_text(encoding="utf-8", errors="replace").splitlines(), "\n")


_CHATTERBOT = {
    "de": "german", "fr": "french", "es": "spanish", "it": "italian", "pt": "portuguese", "nl": "dutch",
    "ru": "russian", "sv": "swedish", "uk": "ukrainian", "tr": "turkish",
}  # fmt: skip


def build_corpus(
    per_genre: int = 120, seed: int = 0, langs: list[str] | None = None, genres: set[str] | None = None
) -> list[Doc]:
    """The evaluation set: at most `per_genre` documents per (language, genre); `genres`
    limits the sources read (None: all)."""
    rng = random.Random(seed)
    cut = _Cutter(rng)
    langs = LANGS if langs is None else langs
    want = (lambda g: True) if genres is None else genres.__contains__
    web = _sample_web() if want("web") else {}
    sets: list[tuple[str, str, object]] = [
        ("en", "web", lambda: web.get("en", [])),
        ("en", "wiki", lambda: _sample_wiki(cut)),
        ("en", "news", lambda: _lee(cut)),
        ("en", "technical", lambda: _technical(cut)),
        ("en", "readme", lambda: _readmes(cut)),
        ("en", "dialog", lambda: _chatterbot("english", cut)),
    ]
    for lang in langs:
        sets += [
            (lang, "tutor", lambda lang=lang: _tutor(lang, cut)),
            (lang, "messages", lambda lang=lang: _messages(lang, cut)),
            (lang, "web", lambda lang=lang: web.get(lang, [])),
        ]
        if lang in _CHATTERBOT:
            sets.append((lang, "dialog", lambda lang=lang: _chatterbot(_CHATTERBOT[lang], cut)))
        if lang == "bg":
            sets.append((lang, "wiki", lambda: _bgwiki(cut)))
        if lang == "ru":
            sets.append((lang, "book", lambda: _crime(cut)))
    docs = []
    for lang, genre, texts in sets:
        if want(genre):
            docs += [Doc(lang, genre, t) for t in _take(texts(), per_genre, rng)]
    return docs


# --- comparison --------------------------------------------------------------------------


def decisions(docs: list[Doc], kind: str) -> tuple[list[str | None], list[dict[str, bool]]]:
    """The rule that drops each document (None: kept) through prep's default heuristic
    blocks in order, and each block's own verdict on the whole document (True: keep)."""
    from datatrove.data import Document

    from prep.stages.quality.heuristics import Heuristics, HeuristicsConfig

    heuristics = Heuristics(HeuristicsConfig(word_tokenizer=kind))
    for lang in sorted({d.lang for d in docs}):  # loading a language's rules is not timed
        heuristics.check("Warm up. Two sentences.", lang, "web")
    t0 = time.process_time()
    rules = [heuristics.check(d.text, d.lang, "web").rule for d in docs]
    decisions.seconds[kind] = time.process_time() - t0
    verdicts = []
    for d in docs:
        own = {}
        for key, cfg in heuristics.blocks.items():
            if cfg.languages is not None and d.lang not in cfg.languages:
                continue
            block = heuristics._instance(key, d.lang)
            if block is not None:
                result = block.filter(Document(text=d.text, id=""))
                own[key] = bool(result[0] if isinstance(result, tuple) else result)
        verdicts.append(own)
    return rules, verdicts


decisions.seconds = {}  # CPU seconds of the heuristics (in order, as the stage runs them) by kind


def splitter_seconds(docs: list[Doc], kind: str, passes: int = 1) -> list[float]:
    """CPU seconds of this process to split every document into words and sentence spans,
    per pass over `docs` (fresh tokenizers: prep's splitter starts with an empty cache and
    keeps it from one pass to the next). CPU time, as the machine may be shared."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from prep.stages.quality.words import RegexWords

    toks = {}
    for lang in sorted({d.lang for d in docs}):
        toks[lang] = RegexWords(lang) if kind == "regex" else load_word_tokenizer(lang)
        toks[lang].word_tokenize("Warm up. Two sentences.")
        toks[lang].span_tokenize("Warm up. Two sentences.")
    if kind == "regex":  # start from an empty cache: the warm-up is not a head start
        for lang in toks:
            toks[lang] = RegexWords(lang)
    times = []
    for _ in range(passes):
        t0 = time.process_time()
        for d in docs:
            tok = toks[d.lang]
            tok.word_tokenize(d.text)
            tok.span_tokenize(d.text)
        times.append(time.process_time() - t0)
    return times


def report(docs: list[Doc], ours: list[str | None], theirs: list[str | None]) -> dict[str, dict]:
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for i, d in enumerate(docs):
        groups[f"{d.lang}/{d.genre}"].append(i)
        groups[f"{d.lang}/*"].append(i)
        if d.lang != "en":
            groups["non-en/*"].append(i)
    rows = {}
    for name in sorted(
        groups, key=lambda g: (g.startswith("non-en"), g.split("/")[0], g.split("/")[1] != "*", g)
    ):
        idx = groups[name]
        same = sum((ours[i] is None) == (theirs[i] is None) for i in idx)
        kept = sum(theirs[i] is None for i in idx)
        diff = collections.Counter(
            f"{theirs[i] or 'keep'}->{ours[i] or 'keep'}"
            for i in idx
            if (ours[i] is None) != (theirs[i] is None)
        )
        rows[name] = {
            "n": len(idx),
            "same": same,
            "pct": 100 * same / len(idx),
            "kept": kept,
            "diff": dict(diff),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-genre", type=int, default=60, help="documents per (language, genre) at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--langs", default=",".join(LANGS))
    parser.add_argument(
        "--speed-mb", type=float, default=1.5, help="MB of documents the speed is measured on"
    )
    parser.add_argument("--show", type=int, default=0, help="print the first N disagreeing documents")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.processor() or platform.machine()}", flush=True)
    docs = build_corpus(args.per_genre, args.seed, args.langs.split(","))
    mb = sum(len(d.text.encode()) for d in docs) / 1e6
    print(
        f"evaluation set: {len(docs):,} documents, {mb:.2f} MB, {len({d.lang for d in docs})} languages",
        flush=True,
    )

    theirs, their_blocks = decisions(docs, "datatrove")
    ours, our_blocks = decisions(docs, "regex")
    rows = report(docs, ours, theirs)
    print(f"\n{'set':18s} {'docs':>5s} {'kept':>5s} {'same':>7s}  disagreements (datatrove -> prep)")
    for name, r in rows.items():
        diff = ", ".join(f"{k} {v}" for k, v in sorted(r["diff"].items(), key=lambda kv: -kv[1]))
        print(f"{name:18s} {r['n']:5d} {r['kept']:5d} {r['pct']:6.1f}%  {diff}")
    total_same = sum((a is None) == (b is None) for a, b in zip(ours, theirs, strict=True))
    print(f"{'all':18s} {len(docs):5d} {'':5s} {100 * total_same / len(docs):6.1f}%")
    same_rule = sum(a == b for a, b in zip(ours, theirs, strict=True))
    print(f"same rule (not only keep/drop): {100 * same_rule / len(docs):.1f}%")
    print("\neach block alone on every document (same verdict / documents, datatrove keeps):")
    en_genres = dict.fromkeys(d.genre for d in docs if d.lang == "en")
    scopes = [f"en/{g}" for g in en_genres] + ["en/*", "non-en/*"]
    keys = sorted({k for v in their_blocks for k in v})
    for scope in scopes:
        lang, genre = scope.split("/")
        for key in keys:
            idx = [
                i
                for i, d in enumerate(docs)
                if key in their_blocks[i]
                and (d.lang == "en") == (lang == "en")
                and (genre == "*" or d.genre == genre)
            ]
            if idx:
                same = sum(our_blocks[i][key] == their_blocks[i][key] for i in idx)
                kept = sum(their_blocks[i][key] for i in idx)
                pct = 100 * same / len(idx)
                print(f"  {scope:14s} {key:18s} {same:5d}/{len(idx):<5d} {pct:6.1f}%  (keeps {kept})")

    shown = 0
    for d, a, b in zip(docs, ours, theirs, strict=True):
        if shown < args.show and (a is None) != (b is None):
            shown += 1
            print(f"\n--- {d.lang}/{d.genre}: datatrove {b or 'keep'}, prep {a or 'keep'}\n{d.text[:600]}")

    t_dt, t_re = decisions.seconds["datatrove"], decisions.seconds["regex"]
    print(f"\nthe heuristic blocks in order, all {mb:.2f} MB (CPU time, languages loaded before):")
    print(f"  datatrove's tokenizer {mb / t_dt:.2f} MB/s, prep's {mb / t_re:.2f} MB/s: {t_dt / t_re:.1f}x")
    step = max(1, round(mb / args.speed_mb))
    sample = docs[::step]
    smb = sum(len(d.text.encode()) for d in sample) / 1e6
    what = f"words + sentence spans, {len(sample)} documents, {smb:.2f} MB, CPU time of one core"
    print(f"\nsplitters alone ({what}):")
    (t_dt,) = splitter_seconds(sample, "datatrove")
    t_cold, t_warm = splitter_seconds(sample, "regex", passes=2)
    print(f"  datatrove (spaCy)            {smb / t_dt:7.2f} MB/s")
    print(f"  prep RegexWords, empty cache {smb / t_cold:7.2f} MB/s   {t_dt / t_cold:.1f}x faster")
    print(f"  prep RegexWords, second pass {smb / t_warm:7.2f} MB/s   {t_dt / t_warm:.1f}x faster")
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from prep.stages.quality.words import RegexWords

    splitters = {lang: RegexWords(lang) for lang in {d.lang for d in sample}}
    same_words = sum(
        splitters[d.lang].word_tokenize(d.text) == load_word_tokenizer(d.lang).word_tokenize(d.text)
        for d in sample
    )
    same_spans = sum(
        splitters[d.lang].span_tokenize(d.text) == load_word_tokenizer(d.lang).span_tokenize(d.text)
        for d in sample
    )
    n = len(sample)
    print(f"  identical words on {same_words}/{n} documents, identical sentence spans on {same_spans}/{n}")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(load)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
