"""A second test corpus, shaped unlike the bundled sample, built offline and deterministically.

The sample is tidy: mid-sized documents, small duplicate clusters, clean UTF-8. This corpus
stresses what it does not (issue 12): duplicate clusters of 2, 9, 50 and 230 copies with small
edits (so MinHash, not the exact hash, must find most of them) and a chain of 40 documents where
each overlaps the next but the ends share almost nothing; documents from 10 bytes to 10 MB;
hundreds of 10-byte documents; CRLF line ends, UTF-8 byte order marks, NUL bytes, latin-1 bytes
and broken JSON lines; URLs with credentials and e-mail addresses in query strings; and every
input format (jsonl, jsonl.gz, jsonl.zst, parquet, a folder of text files, WARC, WET).

The text is real, from installed packages: the Python language reference (`pydoc_data.topics`,
English technical prose), the standard library's source files (code), chatterbot-corpus
dialogs (human-written, 25+ languages, the `sample` extra) and spaCy's example sentences
(Arabic, Greek, Hebrew, Hindi, Thai, ...). Same seed, Python and package versions: same bytes.

`MANIFEST.json` lists what was planted, by the document ids prep gives (`{source}/{file}:{n}`):
clusters, tiny documents, the oversized document, bad records and their expected read rules,
and the planted secrets (which must never reach OUT/).

    python tests/foreign_corpus.py OUTDIR [--scale N] [--seed S] [--config OUTDIR/foreign.yaml]

`--scale N` multiplies every part (more documents and more clusters, same shape) for bench/.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import gzip
import io
import json
import posixpath
import random
import re
import sysconfig
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

REPO = Path(__file__).resolve().parent.parent

#: Domains of configs/mix.yaml -> this corpus's domains; stage `domains:` lists are renamed so.
DOMAIN_OF = {"web": "web", "wiki": "prose", "books": "notes", "code": "code", "papers": "chat"}

#: Copies per planted cluster (before --scale) and the chain's length.
CLUSTER_SIZES = {"pair": 2, "wet9": 9, "web50": 50, "big230": 230}
CHAIN_LENGTH = 40
TINY_JSONL = 300
TINY_FILES = 40
HUGE_BYTES = 10 * 1024 * 1024
#: The notes source's max_doc_bytes: the 10 MB document is over it, the 700 kB one under.
NOTES_MAX_DOC_BYTES = 4_000_000

#: spaCy languages whose example sentences make one document each (scripts the dialogs lack).
SPACY_LANGS = ("ar", "el", "he", "hi", "th", "hy", "ka", "fa", "bn", "ta")


# --------------------------------------------------------------------------- real text


def prose_paragraphs() -> list[str]:
    """Paragraphs of running English prose from the language reference (no code, no grammar)."""
    import pydoc_data.topics

    out = []
    for key in sorted(pydoc_data.topics.topics):
        for block in pydoc_data.topics.topics[key].split("\n\n"):
            lines = block.splitlines()
            if not lines or any(line[:1].isspace() for line in lines) or "::=" in block:
                continue
            text = " ".join(line.strip() for line in lines)
            if len(text) >= 200 and not set(text) <= set("*=-~ "):
                out.append(text)
    return list(dict.fromkeys(out))


#: A word as the heuristics' splitter sees it: punctuation marks count as words of their own.
_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


def alpha_share(text: str) -> float:
    """Share of words with a letter (Gopher keeps a page at 80%; the reference's quoted
    identifiers put most of its paragraphs below, so web pages take docstrings above 85%)."""
    words = _WORD.findall(text)
    return sum(any(c.isalpha() for c in w) for w in words) / max(1, len(words))


def docstring_paragraphs() -> list[str]:
    """Paragraphs of English prose from the standard library's docstrings, at least 85% words."""
    out = []
    for _, source in stdlib_sources(200_000):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for block in (ast.get_docstring(node) or "").split("\n\n"):
                lines = block.splitlines()
                if not lines or any(line[:1].isspace() for line in lines):
                    continue
                text = " ".join(line.strip() for line in lines)
                if len(text) >= 200 and alpha_share(text) >= 0.85:
                    out.append(text)
    return list(dict.fromkeys(out))


def topic_texts() -> dict[str, str]:
    """The language reference's topics, as written (headings, wrapped lines, code blocks)."""
    import pydoc_data.topics

    return {k: pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)}


def stdlib_sources(limit_bytes: int = 40_000) -> list[tuple[str, str]]:
    """(relative path, source) of the standard library's .py files, sorted, tests left out."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idle_test", "site-packages", "ensurepip", "pydoc_data", "lib2to3"}
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if skip & set(rel.parts) or rel.name.startswith("_sysconfigdata"):
            continue
        size = path.stat().st_size
        if 2_000 <= size <= limit_bytes:
            out.append((rel.as_posix(), path.read_text("utf-8", "replace")))
    return out


def _package_dir(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"foreign corpus: the package {name!r} is not installed (pip install -e '.[test]')")
    return Path(next(iter(spec.submodule_search_locations)))


def dialogs() -> dict[str, list[list[str]]]:
    """chatterbot-corpus conversations per language folder (human-written dialog)."""
    data = _package_dir("chatterbot_corpus") / "data"
    out: dict[str, list[list[str]]] = {}
    for lang_dir in sorted(p for p in data.iterdir() if p.is_dir()):
        convs = []
        for f in sorted(lang_dir.glob("*.yml")):
            doc = yaml.safe_load(f.read_text("utf-8")) or {}
            convs += [[str(x) for x in c if x is not None] for c in doc.get("conversations") or []]
        if convs:
            out[lang_dir.name] = convs
    return out


def spacy_sentences() -> dict[str, list[str]]:
    """spaCy's example sentences per language, read from the files (spaCy is not imported)."""
    lang = _package_dir("spacy") / "lang"
    out = {}
    for code in SPACY_LANGS:
        path = lang / code / "examples.py"
        if not path.is_file():
            continue
        for node in ast.parse(path.read_text("utf-8")).body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "sentences":
                out[code] = [str(s) for s in ast.literal_eval(node.value)]
    return out


# --------------------------------------------------------------------------- planting


@dataclass
class Plan:
    """What the generator planted, by document id: the corpus's ground truth."""

    clusters: dict[str, list[str]] = field(default_factory=dict)
    tiny: list[str] = field(default_factory=list)
    oversized: list[str] = field(default_factory=list)
    large_kept: list[str] = field(default_factory=list)
    read_rules: dict[str, str] = field(default_factory=dict)  # id -> the rule the reader must give
    secrets: list[str] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)  # source -> files written

    def secret_url(self, rng: random.Random, host: str, path: str) -> str:
        """A URL carrying a user:password pair and an e-mail address in its query string."""
        user = f"{rng.choice(['svc', 'deploy', 'ops', 'build'])}{rng.randrange(100, 999)}"
        password = f"Pw{rng.getrandbits(40):010x}Zq"
        mail = self.secret_email(rng)
        self.secrets += [f"{user}:{password}", password]
        return f"https://{user}:{password}@{host}/{path}?email={mail}&ref=nav"

    def secret_email(self, rng: random.Random) -> str:
        first = rng.choice(["jana", "omar", "li", "priya", "tomas", "ines", "kofi", "mei"])
        last = rng.choice(["novak", "haddad", "wen", "raman", "berg", "silva", "mensah", "tanaka"])
        mail = f"{first}.{last}{rng.randrange(10, 99)}@{rng.choice(['posteo.de', 'fastmail.com', 'gmx.net'])}"
        self.secrets.append(mail)
        return mail


def edit(text: str, rng: random.Random, n: int) -> str:
    """`text` with n words swapped for neighbours' (a small edit: the exact hash differs)."""
    words = text.split(" ")
    for _ in range(n):
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def file_ids(source: str, paths: list[str]) -> dict[str, str]:
    """path -> the id prefix prep gives its records: the path relative to the files' common folder."""
    common = posixpath.commonpath(paths) if len(paths) > 1 else posixpath.dirname(paths[0])
    return {p: f"{source}/{posixpath.relpath(p, common)}" for p in paths}


# --------------------------------------------------------------------------- writers


def _gzip(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(data)
    return out.getvalue()


def _json_line(obj: dict) -> bytes:
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")


def _record_id(*parts: object) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, '/'.join(map(str, parts)))}>"


def _warc_date(n: int) -> str:
    start = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    return (start + dt.timedelta(seconds=41 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Response:
    url: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: str = "200 OK"


def write_warc(path: Path, responses: list[Response]) -> None:
    """WARC 1.1, gzip per record: a warcinfo, then one request and one response per page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True, warc_version="WARC/1.1")
    info = b"software: prep foreign test corpus\r\nformat: WARC File Format 1.1\r\n"
    headers = {"WARC-Record-ID": _record_id(path.name, "info"), "WARC-Date": _warc_date(0)}
    writer.write_record(
        writer.create_warc_record(
            "", "warcinfo", payload=io.BytesIO(info), length=len(info), warc_headers_dict=headers
        )
    )
    for n, r in enumerate(responses, start=1):
        request = f"GET /{n} HTTP/1.1\r\nHost: {r.url.split('/')[2].split('@')[-1]}\r\n\r\n".encode()
        headers = {"WARC-Record-ID": _record_id(path.name, n, "req"), "WARC-Date": _warc_date(n)}
        writer.write_record(
            writer.create_warc_record(
                r.url, "request", payload=io.BytesIO(request), length=len(request), warc_headers_dict=headers
            )
        )
        http = StatusAndHeaders(
            r.status,
            [("Content-Type", r.content_type), ("Content-Length", str(len(r.body)))],
            protocol="HTTP/1.1",
        )
        headers = {"WARC-Record-ID": _record_id(path.name, n, r.url), "WARC-Date": _warc_date(n)}
        writer.write_record(
            writer.create_warc_record(
                r.url,
                "response",
                payload=io.BytesIO(r.body),
                length=len(r.body),
                http_headers=http,
                warc_headers_dict=headers,
            )
        )
    path.write_bytes(buf.getvalue())


def write_wet(path: Path, docs: list[tuple[str, str]]) -> None:
    """A WET file (uncompressed): a warcinfo, then one `conversion` record of plain text per page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False, warc_version="WARC/1.0")
    info = b"software: prep foreign test corpus\r\nformat: WARC File Format 1.0\r\n"
    headers = {"WARC-Record-ID": _record_id(path.name, "info"), "WARC-Date": _warc_date(0)}
    writer.write_record(
        writer.create_warc_record(
            "", "warcinfo", payload=io.BytesIO(info), length=len(info), warc_headers_dict=headers
        )
    )
    for n, (url, text) in enumerate(docs, start=1):
        body = text.encode("utf-8")
        headers = {"WARC-Record-ID": _record_id(path.name, n, url), "WARC-Date": _warc_date(n)}
        writer.write_record(
            writer.create_warc_record(
                url,
                "conversion",
                payload=io.BytesIO(body),
                length=len(body),
                warc_content_type="text/plain",
                warc_headers_dict=headers,
            )
        )
    path.write_bytes(buf.getvalue())


# --------------------------------------------------------------------------- the parts


class Builder:
    """Writes one corpus under `root`; every part draws from its own seeded generator."""

    def __init__(self, root: Path, scale: int, seed: int):
        self.root = root
        self.scale = scale
        self.seed = seed
        self.plan = Plan()
        self.paragraphs = prose_paragraphs()
        self.pools = {"reference": self.paragraphs, "docstrings": docstring_paragraphs()}
        self.cursors = {name: (0, 0) for name in self.pools}  # (round, position) of each pool
        self.topics = topic_texts()

    def rng(self, part: str) -> random.Random:
        return random.Random(f"{self.seed}/{part}")

    def _write(self, source: str, rel: str, data: bytes) -> None:
        path = self.root / source / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.plan.files.setdefault(source, []).append(f"{source}/{rel}")

    def _next_paragraph(self, pool: str) -> str:
        """The pool's paragraphs, each round in a new seeded order: no two documents drawn by
        any part share a run of paragraphs, so only planted duplicates are duplicates."""
        paragraphs = self.pools[pool]
        r, i = self.cursors[pool]
        if i == len(paragraphs):
            r, i = r + 1, 0
        order = list(range(len(paragraphs)))
        random.Random(f"{self.seed}/{pool}/round/{r}").shuffle(order)
        self.cursors[pool] = (r, i + 1)
        return paragraphs[order[i]]

    def _prose_docs(
        self, rng: random.Random, n: int, per_doc: tuple[int, int] = (2, 5), pool: str = "reference"
    ) -> list[str]:
        """n documents of 2 to 5 paragraphs, drawn from the pool's stream."""
        return [
            "\n\n".join(self._next_paragraph(pool) for _ in range(rng.randint(*per_doc))) for _ in range(n)
        ]

    # prose: plain JSONL, messy files ---------------------------------------------------------

    def prose(self) -> None:
        rng = self.rng("prose")
        docs = self._prose_docs(rng, 120 * self.scale)
        for f in range(self.scale):
            part = docs[f * 120 : (f + 1) * 120]
            lines = []
            for i, text in enumerate(part):
                obj: dict = {"text": text, "title": text[:40]}
                if i % 7 == 0:
                    obj["url"] = self.plan.secret_url(rng, "docs.internal-wiki.net", f"page/{f}-{i}")
                    obj["text"] = text + f"\n\nQuestions go to {self.plan.secret_email(rng)}."
                elif i % 3 == 0:
                    obj["url"] = f"https://docs.example.org/{f}/{i}"
                lines.append(_json_line(obj))
            self._write("prose", f"reference-{f:03d}.jsonl", b"".join(lines))
        self._messy_jsonl(rng)
        self._tiny_jsonl(rng)

    def _messy_jsonl(self, rng: random.Random) -> None:
        """CRLF line ends, a BOM, broken lines, NULs and latin-1: every record still gets a row."""
        rel = "messy-crlf.jsonl"
        prefix = f"prose/{rel}:"
        good = self._prose_docs(rng, 12)
        # an e-mail in a line that does not parse: the rejected row must not carry it (own seed:
        # the draws of `rng` stay as they were)
        leak = self.plan.secret_email(random.Random(f"{self.seed}/bad-line"))
        lines: list[tuple[bytes, str | None]] = [
            (_json_line({"text": good[0]}), None),
            (f'{{"text": "an unterminated string, write to {leak}\n'.encode(), "bad_json"),
            (_json_line({"text": good[1] + "\u0000\u0000 NUL characters inside a valid string."}), None),
            (b'{"text": "raw NUL byte \x00 inside a JSON string"}\n', "bad_json"),
            ('{"text": "latin-1 bytes: caf\xe9 cr\xe8me br\xfbl\xe9e"}\n'.encode("latin-1"), "bad_utf8"),
            (b"[1, 2, 3]\n", "bad_json"),
            (_json_line({"text": 42}), "not_text"),
            (_json_line({"body": good[2]}), "missing_text"),
            (_json_line({"text": None}), "missing_text"),
            (_json_line({"text": " \r\n\t "}), "empty_text"),
            (b"\n", "blank"),
            (b'{"text": "trailing garbage"} xyz\n', "bad_json"),
            (b'{"text": "lone surrogate \\ud800 in an escape"}\n', "bad_utf8"),
        ] + [(_json_line({"text": t.replace("\n", "\r\n")}), None) for t in good[3:]]
        data = b"\xef\xbb\xbf"  # a UTF-8 byte order mark before the first record
        for n, (line, rule) in enumerate(lines, start=1):
            data += (
                line.replace(b"\n", b"\r\n") if line.endswith(b"\n") and not line.endswith(b"\r\n") else line
            )
            if rule and rule != "blank":
                self.plan.read_rules[prefix + str(n)] = rule
        self._write("prose", rel, data)

    def _tiny_jsonl(self, rng: random.Random) -> None:
        """Hundreds of 10-byte documents: windows of real sentences."""
        rel = "tiny.jsonl"
        lines = []
        for n in range(1, TINY_JSONL * self.scale + 1):
            para = rng.choice(self.paragraphs)
            start = rng.randrange(len(para) - 10)
            lines.append(_json_line({"text": para[start : start + 10]}))
            self.plan.tiny.append(f"prose/{rel}:{n}")
        self._write("prose", rel, b"".join(lines))

    # clusters: jsonl.gz --------------------------------------------------------------------

    def clusters(self) -> None:
        """Near-duplicate clusters (2 and 230 copies, small edits) and a chain of overlapping documents."""
        rng = self.rng("clusters")
        for f in range(self.scale):
            rel = f"clusters-{f:03d}.jsonl.gz"
            prefix = f"dups/{rel}:"
            bases = self._prose_docs(rng, 2, (5, 6))
            rows: list[tuple[str, str]] = []  # (cluster name, text)
            for name, base in (("pair", bases[0]), ("big230", bases[1])):
                size = CLUSTER_SIZES[name]
                rows += [(name, base if i == 0 else edit(base, rng, rng.randint(1, 3))) for i in range(size)]
            # a chain A1 ~ A2 ~ ... : a sliding window of 30 sentences moved one sentence at a time
            sentences = [s + "." for p in self.paragraphs[f * 40 :] for s in p.split(". ") if len(s) > 40]
            rows += [("chain", " ".join(sentences[i : i + 30])) for i in range(CHAIN_LENGTH)]
            rng.shuffle(rows)
            lines = []
            for n, (name, text) in enumerate(rows, start=1):
                self.plan.clusters.setdefault(f"{name}/{f}", []).append(prefix + str(n))
                lines.append(_json_line({"text": text, "id": f"{name}-{n}"}))
            self._write("dups", rel, _gzip(b"".join(lines)))

    # code: jsonl.zst -----------------------------------------------------------------------

    def code(self) -> None:
        """Standard-library source files; two are vendored twice (an exact pair)."""
        files = stdlib_sources()
        rng = self.rng("code")
        picked = rng.sample(files, min(len(files), 60 * self.scale))
        vendored = [path for path, _ in picked[:2]]
        picked += picked[:2]  # vendored copies: an exact pair each
        rng.shuffle(picked)
        rel = "stdlib.jsonl.zst"
        lines = []
        for n, (path, text) in enumerate(picked, start=1):
            lines.append(_json_line({"text": text, "path": path, "lang": "python"}))
            if path in vendored:
                self.plan.clusters.setdefault(f"vendored/{path}", []).append(f"code/{rel}:{n}")
        cctx = zstandard.ZstdCompressor(level=3, write_content_size=True)
        self._write("code", rel, cctx.compress(b"".join(lines)))

    # chat: parquet -------------------------------------------------------------------------

    def chat(self) -> None:
        """Dialogs in 25+ languages and spaCy's sentences in other scripts, as Parquet rows."""
        rng = self.rng("chat")
        rows: list[dict] = []
        for lang, convs in dialogs().items():
            for rep in range(self.scale):
                order = list(range(len(convs)))
                random.Random(f"{self.seed}/chat/{lang}/{rep}").shuffle(order)
                for i in range(0, len(order), 6):  # six conversations make one thread
                    text = "\n".join(line for j in order[i : i + 6] for line in convs[j])
                    url = f"https://forum.example.net/{lang}/{rep}-{i}"
                    if len(rows) % 11 == 0:
                        url = self.plan.secret_url(rng, "chat.forum-host.io", f"{lang}/{i}")
                    rows.append({"text": text, "url": url, "lang": lang})
        for code, sents in spacy_sentences().items():
            rows.append(
                {"text": "\n".join(sents), "url": f"https://examples.example.net/{code}", "lang": code}
            )
        rows.append({"text": None, "url": "https://forum.example.net/deleted", "lang": None})
        rows.append({"text": "Windows line ends\r\nin a Parquet cell\r\n" * 3, "url": None, "lang": "en"})
        rng.shuffle(rows)
        rel = "threads.parquet"
        for n, row in enumerate(rows, start=1):
            if row["text"] is None:
                self.plan.read_rules[f"chat/{rel}:{n}"] = "missing_text"
        table = pa.Table.from_pylist(
            rows, pa.schema([("text", pa.string()), ("url", pa.string()), ("lang", pa.string())])
        )
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd", row_group_size=100)
        self._write("chat", rel, buf.getvalue())

    # notes: a folder of text files ---------------------------------------------------------

    def notes(self) -> None:
        rng = self.rng("notes")
        topics = list(self.topics.items())
        for rep in range(self.scale):
            for key, text in topics[::3]:
                self._write("notes", f"topics/{rep}/{key}.txt", text.encode("utf-8"))
        body = self.topics["for"]
        self._write("notes", "odd/crlf.txt", body.replace("\n", "\r\n").encode("utf-8"))
        self._write("notes", "odd/bom.txt", b"\xef\xbb\xbf" + self.topics["while"].encode("utf-8"))
        self._write("notes", "odd/nul.txt", self.topics["if"].replace("\n\n", "\n\x00\n", 3).encode("utf-8"))
        latin = "Le caf\xe9 cr\xe8me co\xfbte cher \xe0 Paris; na\xefve fa\xe7ade.\n" + self.topics["pass"]
        self._write("notes", "odd/latin1.txt", latin.encode("latin-1", "replace"))
        self._write("notes", "odd/empty.txt", b"")
        self.plan.read_rules["notes/odd/latin1.txt"] = "bad_utf8"
        self.plan.read_rules["notes/odd/empty.txt"] = "empty_text"
        for n in range(TINY_FILES * self.scale):
            para = rng.choice(self.paragraphs)
            start = rng.randrange(len(para) - 10)
            self._write("notes", f"tiny/{n:04d}.txt", para[start : start + 10].encode("utf-8"))
        # one long document that is kept (~700 kB), and one of 10 MB over max_doc_bytes
        volumes = []
        for _ in range(7):  # seven volumes, each every paragraph in its own order: ~1 MB
            order = list(range(len(self.paragraphs)))
            rng.shuffle(order)
            volumes.append("\n\n".join(self.paragraphs[i] for i in order))
        book = "\n\n".join(volumes)
        self._write("notes", "long/reference-book.txt", book.encode("utf-8"))
        chunk = (book + "\n\n").encode("utf-8")
        huge = (chunk * (HUGE_BYTES // len(chunk) + 1))[:HUGE_BYTES]
        self._write("notes", "long/huge.txt", huge[: huge.rfind(b" ")] + b".\n")
        self.plan.read_rules["notes/long/huge.txt"] = "oversized"
        # the files lie in several folders, so ids are relative to notes/ itself
        assert file_ids("notes", self.plan.files["notes"])["notes/odd/empty.txt"] == "notes/odd/empty.txt"
        self.plan.tiny += [p for p in self.plan.files["notes"] if "/tiny/" in p]
        self.plan.oversized.append("notes/long/huge.txt")
        self.plan.large_kept.append("notes/long/reference-book.txt")

    # web: WARC pages in a template ---------------------------------------------------------

    def _page(self, rng: random.Random, title: str, body: str, n: int, lang: str = "en") -> str:
        nav = "".join(
            f'<li><a href="/{w.lower()}">{w}</a></li>' for w in ["Home", "Docs", "Blog", "Forum", "About"]
        )
        related = "".join(
            f'<li><a href="/post/{rng.randrange(10_000)}">{p[:50]}</a></li>'
            for p in rng.sample(self.pools["docstrings"], 5)
        )
        paras = "".join(f"<p>{p}</p>" for p in body.split("\n") if p.strip())
        date = (dt.date(2024, 1, 1) + dt.timedelta(days=n % 700)).isoformat()
        return (
            f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
            "<style>body{font-family:sans-serif}</style></head><body>"
            f'<header><a href="/">PyNotes</a><nav><ul>{nav}</ul></nav>'
            '<form action="/search"><input name="q"></form></header>'
            f'<main><article><h1>{title}</h1><p class="meta">Posted {date} · {n % 37} comments</p>'
            f"{paras}</article></main><aside><h3>Related</h3><ul>{related}</ul></aside>"
            '<footer><p>© 2024 PyNotes · <a href="/privacy">Privacy</a> · <a href="/terms">Terms</a></p>'
            "<script>window.dataLayer=[];</script></footer></body></html>"
        )

    def web(self) -> None:
        rng = self.rng("web")
        web = "docstrings"
        for f in range(self.scale):
            responses: list[tuple[str | None, Response]] = []
            cluster_body = self._prose_docs(rng, 1, (5, 5), web)[0].replace("\n\n", "\n")
            for i in range(CLUSTER_SIZES["web50"]):  # one article syndicated under 50 URLs
                url = f"https://mirror{i}.pynotes.example.net/2024/article-{f}"
                if i % 10 == 0:
                    url = self.plan.secret_url(rng, f"mirror{i}.pynotes.example.net", f"2024/article-{f}")
                page = self._page(rng, "How Python evaluates expressions", cluster_body, i + f)
                responses.append((f"web50/{f}", Response(url, page.encode("utf-8"))))
            for i, doc in enumerate(self._prose_docs(rng, 40, pool=web)):
                url = f"https://pynotes.example.net/post/{f}-{i}"
                if i % 8 == 0:
                    url = self.plan.secret_url(rng, "pynotes.example.net", f"post/{f}-{i}")
                page = self._page(rng, doc[:60], doc.replace("\n\n", "\n"), 100 + i)
                responses.append((None, Response(url, page.encode("utf-8"))))
            for lang, convs in sorted(dialogs().items())[::4]:
                text = "\n".join(line for c in convs[:8] for line in c)
                page = self._page(rng, convs[0][0], text, 7, "und")
                responses.append(
                    (None, Response(f"https://forum.example.net/{lang}/{f}", page.encode("utf-8")))
                )
            french = "Le café crème coûte cher à Paris. " + self.paragraphs[3]
            latin1 = self._page(rng, "Café", french, 3, "fr").replace(
                'charset="utf-8"', 'charset="iso-8859-1"'
            )
            responses.append(
                (
                    None,
                    Response(
                        "https://pynotes.example.net/fr",
                        latin1.encode("latin-1", "replace"),
                        "text/html; charset=iso-8859-1",
                    ),
                )
            )
            responses.append(
                (
                    "http_status",
                    Response(
                        "https://pynotes.example.net/gone", b"<html>gone</html>", status="404 Not Found"
                    ),
                )
            )
            responses.append(
                (
                    "not_html",
                    Response(
                        "https://pynotes.example.net/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"
                    ),
                )
            )
            nav_only = "<html><body><nav><a href='/'>Home</a></nav></body></html>"
            responses.append(
                ("no_text_extracted", Response("https://pynotes.example.net/nav", nav_only.encode()))
            )
            order = list(range(len(responses)))
            rng.shuffle(order)
            rel = f"pages-{f:03d}.warc.gz"
            write_warc(self.root / "web" / rel, [responses[i][1] for i in order])
            self.plan.files.setdefault("web", []).append(f"web/{rel}")
            for n, i in enumerate(order, start=1):
                tag = responses[i][0]
                row_id = f"web/{rel}:{n}"
                if tag and tag.startswith("web50"):
                    self.plan.clusters.setdefault(tag, []).append(row_id)
                elif tag:
                    self.plan.read_rules[row_id] = tag

    # wet: WET conversion records -----------------------------------------------------------

    def wet(self) -> None:
        rng = self.rng("wet")
        for f in range(self.scale):
            base = self._prose_docs(rng, 1, (4, 4), "docstrings")[0]
            docs: list[tuple[str | None, str, str]] = []
            for i in range(CLUSTER_SIZES["wet9"]):
                docs.append(
                    (f"wet9/{f}", f"https://news{i}.example.com/story-{f}", edit(base, rng, 2) if i else base)
                )
            for lang, convs in sorted(dialogs().items())[1::3]:
                text = "\n".join(line for c in convs[-6:] for line in c)
                url = (
                    self.plan.secret_url(rng, "crawl.example.com", f"{lang}/{f}")
                    if lang == "russian"
                    else f"https://crawl.example.com/{lang}/{f}"
                )
                docs.append((None, url, text))
            for i, text in enumerate(self._prose_docs(rng, 20, pool="docstrings")):
                docs.append((None, f"https://blog.example.com/{f}/{i}", text))
            rng.shuffle(docs)
            rel = f"crawl-{f:03d}.warc.wet"
            write_wet(self.root / "wet" / rel, [(u, t) for _, u, t in docs])
            self.plan.files.setdefault("wet", []).append(f"wet/{rel}")
            for n, (tag, _, _) in enumerate(docs, start=1):
                if tag:
                    self.plan.clusters.setdefault(tag, []).append(f"wet/{rel}:{n}")

    def build(self) -> dict:
        parts: list[Callable[[], None]] = [
            self.prose,
            self.clusters,
            self.code,
            self.chat,
            self.notes,
            self.web,
            self.wet,
        ]
        for part in parts:
            part()
        # single-file sources: ids are relative to the file's own folder, which is what was planned
        manifest = {
            "seed": self.seed,
            "scale": self.scale,
            "clusters": self.plan.clusters,
            "tiny": self.plan.tiny,
            "oversized": self.plan.oversized,
            "large_kept": self.plan.large_kept,
            "read_rules": self.plan.read_rules,
            "secrets": sorted(set(self.plan.secrets)),
            "files": self.plan.files,
            "notes_max_doc_bytes": NOTES_MAX_DOC_BYTES,
        }
        (self.root / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        return manifest


def build_corpus(root: str | Path, scale: int = 1, seed: int = 0) -> dict:
    """Write the corpus under `root` (reused when its MANIFEST.json has the same seed and scale)."""
    root = Path(root)
    done = root / "MANIFEST.json"
    if done.is_file():
        manifest = json.loads(done.read_text())
        if manifest.get("seed") == seed and manifest.get("scale") == scale:
            return manifest
    root.mkdir(parents=True, exist_ok=True)
    return Builder(root, scale, seed).build()


# --------------------------------------------------------------------------- config


def corpus_config(
    root: str | Path,
    out: str | Path,
    work_dir: str | Path,
    lm_dir: str | Path = "data/models/sample-wiki-en",  # relative: `prep run` from the repo root builds it
    target_tokens: int = 300_000,
) -> dict:
    """configs/mix.yaml's stages (domains renamed), run over this corpus: every format, one source each."""
    root = Path(root)
    mix = yaml.safe_load((REPO / "configs" / "mix.yaml").read_text())
    stages = json.loads(json.dumps(mix["stages"]), object_hook=_rename_domains)
    for entry in stages:
        for spec in entry.get("quality", {}).get("perplexity", {}).values():
            spec["dir"] = str(lm_dir)
    sources = [
        {
            "name": "prose",
            "domain": "prose",
            "format": "jsonl",
            "paths": [f"{root}/prose/*.jsonl"],
            "url_field": "url",
        },
        {
            "name": "dups",
            "domain": "prose",
            "format": "jsonl",
            "paths": [f"{root}/dups/*.jsonl.gz"],
            "id_field": "id",  # the records' own ids (`{cluster}-{line}`), kept as source_id
        },
        {"name": "code", "domain": "code", "format": "jsonl", "paths": [f"{root}/code/*.jsonl.zst"]},
        {
            "name": "chat",
            "domain": "chat",
            "format": "parquet",
            "paths": [f"{root}/chat/*.parquet"],
            "url_field": "url",
        },
        {
            "name": "notes",
            "domain": "notes",
            "format": "text",
            "paths": [f"{root}/notes/**/*.txt"],
            "max_doc_bytes": NOTES_MAX_DOC_BYTES,
        },
        {"name": "web", "domain": "web", "format": "warc", "paths": [f"{root}/web/*.warc.gz"]},
        {"name": "wet", "domain": "web", "format": "wet", "paths": [f"{root}/wet/*.warc.wet"]},
    ]
    return {
        "run": {"output": str(out), "work_dir": str(work_dir), "seed": 0},
        "ray": {"address": None},
        "sources": sources,
        "stages": stages,
        "tokenizer": {"train": {"vocab_size": 4000}},
        "mix": {
            "target_tokens": target_tokens,
            "weights": {"web": 0.3, "prose": 0.3, "notes": 0.1, "code": 0.2, "chat": 0.1},
            "max_epochs": 4,
            "val_fraction": 0.05,
            "policy": "renormalise",
            "shard_tokens": 100_000,
        },
    }


def _rename_domains(obj: dict) -> dict:
    """A stage's `domains:` list in the corpus's names (the PII allow-list's `domains` are e-mail domains)."""
    if isinstance(obj.get("domains"), list) and set(obj["domains"]) <= set(DOMAIN_OF):
        obj["domains"] = [DOMAIN_OF[d] for d in obj["domains"]]
    return obj


def write_corpus_config(
    path: str | Path, root: str | Path, out: str | Path, work_dir: str | Path, **kw
) -> Path:
    path = Path(path)
    path.write_text(yaml.safe_dump(corpus_config(root, out, work_dir, **kw), sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", help="folder to write the corpus into")
    parser.add_argument(
        "--scale", type=int, default=1, help="multiply every part (default 1: ~4 MB + a 10 MB file)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", help="also write a prep config for the corpus here")
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be at least 1")
    manifest = build_corpus(args.outdir, args.scale, args.seed)
    if args.config:
        out = Path(args.outdir)
        write_corpus_config(args.config, out.resolve(), out.resolve() / "out", out.resolve() / "cache")
    sizes = sum(f.stat().st_size for f in Path(args.outdir).rglob("*") if f.is_file())
    print(f"{args.outdir}: {sum(len(v) for v in manifest['files'].values())} files, {sizes:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
