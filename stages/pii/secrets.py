"""Secrets in code: detect-secrets' plugins, run only on the few lines that can hold one.

Code corpora leak credentials (BigCode ran detect-secrets over The Stack for this). Naive
detect-secrets runs ~27 plugins and its filters on every line of every file. Here each
secret type has literal anchors (`AKIA`, `ghp_`, `-----BEGIN`, `eyJ`, `password`, ...) that
any value its plugin reports must contain, or that must be on its line; `re`/`str.find`
look for them (C speed, most code has none) and the type's detect-secrets plugin runs only
on the lines they are in. Its own regexes give the character spans, its `analyze_string`
decides which of them are secrets (JWT validity, keyword rules), detect-secrets' heuristic
filters drop UUIDs, templates and sequences, and a private-key block is widened to the
whole block (BEGIN to END line). Every value becomes `<SECRET>`; counts are per type.

Keyword-based types (`keyword`: `password = "..."`, `high_entropy`: random-looking strings)
are the noisy ones on real code; the extra rules that keep them under 1 changed file in
100 of installed packages' sources are in `_plausible` (figures in docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import math
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from detect_secrets.filters import heuristic
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import (
    Base64HighEntropyString,
    HexHighEntropyString,
    HighEntropyStringsPlugin,
)
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.keyword import QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, KeywordDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from prep.stages.pii.config import SECRET_TYPES

#: Replacement of every secret, in placeholder and pseudonym mode alike: a fake key would look
#: live to the next scanner and teach a model key shapes; nothing needs a consistent fake.
SECRET_PLACEHOLDER = "<SECRET>"
ENTITY_PREFIX = "SECRET_"
#: detect-secrets logs through this logger (its scan loop logs skipped secrets in debug).
LOGGER = "detect-secrets"


class GoogleApiKeyDetector(RegexBasedDetector):
    """Google API keys (Maps, Firebase, GCP). detect-secrets 1.5 has no plugin for them: this
    is prep's own, with the pattern gitleaks and trufflehog use ("AIza" + 35 characters)."""

    secret_type = "Google API Key"
    denylist = (re.compile(r"AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"),)


@dataclass(frozen=True)
class SecretType:
    """One kind of secret: its detect-secrets plugin and the anchors that gate it.

    `anchors` are case-sensitive literals, `words` are looked for in the lower-cased text;
    a line holding none of them is never shown to the plugin (each anchor is part of every
    match of the plugin's regexes, or of the keyword that must precede the value)."""

    plugin: Callable[[], BasePlugin]
    anchors: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    #: a token stands alone: no letter or digit right before or after it (detect-secrets' regexes
    #: have no edges, and matched "ABIA" + 16 characters inside a font embedded as base64)
    bounded: bool = False
    #: the plugin's regex group is the secret, its match holds a keyword around it
    value_group: bool = False


#: Words detect-secrets' KeywordDetector looks for (its DENYLIST, `_?` spelled out), lower-cased.
_KEYWORD_PAIRS = (
    ("api", "key"),
    ("auth", "key"),
    ("service", "key"),
    ("account", "key"),
    ("db", "key"),
    ("database", "key"),
    ("priv", "key"),
    ("private", "key"),
    ("client", "key"),
    ("db", "pass"),
    ("database", "pass"),
    ("key", "pass"),
)
KEYWORDS = (
    *(f"{a}{sep}{b}" for a, b in _KEYWORD_PAIRS for sep in ("", "_")),
    *("password", "passwd", "pwd", "secret", "contraseña", "contrasena"),
)
#: Words that make a quoted high-entropy string a credential when the name it is assigned to
#: holds one (not a hash or a test vector): "key" alone is left out, it names every dict key.
CREDENTIAL_WORDS = (
    "secret",
    "token",
    "passw",
    "pwd",
    "apikey",
    "api_key",
    "access_key",
    "accesskey",
    "auth",
    "credential",
    "bearer",
    "private_key",
    "privkey",
)


#: A credential word must end at most this many characters before a high-entropy string: a
#: line of 200 Cocoa class names holding "ACAccountCredential" vouches for none of them.
CREDENTIAL_REACH = 40
#: Shortest high-entropy string counted: generated tokens have 20+ characters; 16 hex digits
#: are an assembly's publicKeyToken or a short id.
MIN_HIGH_ENTROPY = 20


#: What may stand between a credential word and the quote of the value it names: the rest of the
#: name, a closing quote or bracket and an assignment (`auth_token = "`, `"X-Api-Token": "`,
#: `set_token("`); not a call on another name (`AutoTokenizer.from_pretrained("`).
_ASSIGNMENT = re.compile(r"[\w\-]*[\"'\]]?\s*(?:[:=!]=?=?>?|\()\s*")


def _assigned_to(words: re.Pattern, lower: str, quote: int) -> bool:
    """Whether the string opening at `quote` is assigned to a name holding a credential word."""
    for m in words.finditer(lower, max(0, quote - CREDENTIAL_REACH), quote):
        if _ASSIGNMENT.fullmatch(lower, m.end(), quote):
            return True
    return False


class HighEntropyDetector:
    """detect-secrets' Base64 and Hex high-entropy plugins (their limits, 4.5 and 3.0),
    reported as one type; only run on lines with a credential word (see `TYPES`)."""

    secret_type = "High Entropy String"

    def __init__(self) -> None:
        self.plugins: list[HighEntropyStringsPlugin] = [Base64HighEntropyString(), HexHighEntropyString()]


#: name -> type. Order is priority: the same span found by two types counts as the first.
TYPES: dict[str, SecretType] = {
    "private_key": SecretType(PrivateKeyDetector, ("PRIVATE KEY", "PuTTY-User-Key-File-2")),
    "aws_key": SecretType(
        AWSKeyDetector, ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"), ("aws",), bounded=True, value_group=True
    ),
    "github_token": SecretType(GitHubTokenDetector, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), bounded=True),
    "gitlab_token": SecretType(
        GitLabTokenDetector,
        (
            *("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941", "glcbt-", "glimt-"),
            *("glptt-", "glagent-", "gloas-"),
        ),
        bounded=True,
    ),
    "slack_token": SecretType(SlackDetector, (), ("xox", "hooks.slack.com")),
    "stripe_key": SecretType(StripeDetector, ("k_live_",), bounded=True),
    "twilio_key": SecretType(TwilioKeyDetector, ("AC", "SK"), bounded=True),
    "google_api_key": SecretType(GoogleApiKeyDetector, ("AIza",), bounded=True),
    "openai_key": SecretType(OpenAIDetector, ("T3BlbkFJ",), bounded=True),
    "sendgrid_key": SecretType(SendGridDetector, ("SG.",), bounded=True),
    "pypi_token": SecretType(PypiTokenDetector, ("pypi-AgE",)),
    "npm_token": SecretType(NpmDetector, ("_authToken",), value_group=True),
    "azure_storage_key": SecretType(AzureStorageKeyDetector, ("AccountKey=",)),
    "square_oauth": SecretType(SquareOAuthDetector, ("sq0csp-",), bounded=True),
    "jwt": SecretType(JwtTokenDetector, ("eyJ",)),
    "basic_auth": SecretType(BasicAuthDetector, ("://",), value_group=True),
    "keyword": SecretType(KeywordDetector, (), KEYWORDS),
    "high_entropy": SecretType(HighEntropyDetector, (), CREDENTIAL_WORDS),
}
#: Short parts of every type's `words`, looked for in the whole document before the words.
ROOTS = ("key", "pass", "pwd", "secret", "contrase", "token", "auth", "credential", "bearer", "aws")
ROOTS += ("xox", "hooks.slack")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def entity(name: str) -> str:
    """The entity name of a secret type in pii_counts and stats: aws_key -> SECRET_AWS_KEY."""
    return ENTITY_PREFIX + name.upper()


def is_secret(entity_name: str) -> bool:
    return entity_name.startswith(ENTITY_PREFIX)


# --- the extra rules for keyword-gated guesses (measured on installed packages' sources) ---

#: Values code uses as examples or placeholders, never a credential (compared lower-cased,
#: after dropping `_`, `-`, `.` and digits at the end: "password123", "changeme1" are examples).
_PLACEHOLDER_WORDS = frozenset(
    {
        *("password", "passwd", "secret", "token", "changeme", "changeit", "example", "sample"),
        *("dummy", "placeholder", "test", "testing", "foo", "bar", "baz", "foobar", "qwerty"),
        *("admin", "root", "guest", "user", "username", "default", "none", "null", "true", "false"),
        *("redacted", "hidden", "masked", "notasecret"),
    }
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)*")
_CONSTANT = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")  # DB_PASSWORD: an environment variable's name
_REPEATED = re.compile(r"(.)\1{3,}")  # xxxx, ****, 0000
_FILE_NAME = re.compile(r"[\w.-]+\.(?:pem|key|crt|cer|der|p12|pfx|jks|json|ya?ml|txt|env|ini|cfg|conf|toml)")
_SLUG = re.compile(r"[a-z]+(?:[-_.][a-z]+)+")  # azure-service-principal: a name (no digit in it)
_FORMAT = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?[sdrfx]|\{[^{}]*\}|\$\w|\\[nt]")


def _placeholder(value: str) -> bool:
    stem = value.lower().rstrip("0123456789").replace("_", "").replace("-", "").replace(".", "")
    return not stem or stem in _PLACEHOLDER_WORDS or stem.startswith(("your", "my", "enter", "<"))


def _glued(text: str, start: int, end: int) -> bool:
    """Whether a letter or digit touches the span: part of a longer run, not a token."""
    return (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum())


_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _wordy(identifier: str) -> bool:
    """Whether an identifier reads as words (PasswordField, login_password, ACAccountCredential:
    at most one part of 1-2 letters), not as random letters (BHTICOxyiApdGsR: B..., Gs, R)."""
    return sum(len(p) <= 2 for p in _PART.findall(identifier)) <= 1


def _classes(value: str) -> int:
    lower = any(c.islower() for c in value)
    upper = any(c.isupper() for c in value)
    digit = any(c.isdigit() for c in value)
    symbol = any(not c.isalnum() and c not in "_-." for c in value)
    return lower + upper + digit + symbol


def _entropy(value: str) -> float:
    counts = {c: value.count(c) for c in set(value)}
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _plausible(value: str) -> bool:
    """Whether a value after a secret keyword (or in a URL's password) can be a credential
    rather than code or an example.

    Code assigns names, messages and formats to `password`/`secret` variables and writes
    `user:pass@host` in docstrings far more often than it holds a credential (on installed
    packages' sources: `PRIVATE_KEY_NAME = "ray-bootstrap-key.pem"`,
    `SecretId="azure-service-principal-oss-release"`, `postgres://user:pass@localhost`). A
    credential is one token of 6+ characters, not a placeholder word, an identifier, a
    constant's name, a file name, a slug of lower-case words or a format string, and mixes
    at least two character classes or is as random as a generated one (entropy >= 3.5 bits)."""
    if len(value) < 6 or len(value) > 200 or any(c.isspace() for c in value) or _placeholder(value):
        return False
    if _REPEATED.search(value) or _FORMAT.search(value) or _CONSTANT.fullmatch(value):
        return False
    if _FILE_NAME.fullmatch(value) or _SLUG.fullmatch(value):
        return False
    if _IDENTIFIER.fullmatch(value) and not any(c.isdigit() for c in value) and _wordy(value):
        return False  # a name (login_password, self.secret, PasswordField), not a literal
    return _classes(value) >= 2 or _entropy(value) >= 3.5


# --- the scan ---


@dataclass(frozen=True, slots=True)
class SecretHit:
    name: str  # the secret type (key of TYPES)
    start: int
    end: int


def _lines(text: str, positions: Iterable[int]) -> list[tuple[int, int]]:
    """The distinct [start, end) lines holding these positions, in order."""
    out: list[tuple[int, int]] = []
    for pos in sorted(positions):
        if out and pos < out[-1][1]:
            continue
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        out.append((start, len(text) if end < 0 else end))
    return out


def _lower(text: str) -> str:
    """`text` lower-cased, offsets kept ('İ' lower-cases to two characters: ASCII only then)."""
    lower = text.lower()
    return lower if len(lower) == len(text) else text.translate(_ASCII_LOWER)


def _find_all(text: str, needle: str) -> list[int]:
    out, pos = [], text.find(needle)
    while pos >= 0:
        out.append(pos)
        pos = text.find(needle, pos + 1)
    return out


def _regex_spans(
    pattern: re.Pattern, line: str, value_group: bool
) -> Iterable[tuple[list[str], tuple[int, int]]]:
    """Per match: what `RegexBasedDetector.analyze_string` yields for it (findall: its non-empty
    groups, or the whole match when the pattern has none), and the span to replace: the
    first non-empty group where it is the secret and the match holds its keyword
    (`aws_secret_access_key = "..."`, `://user:password@`), else the whole match (GitHub's
    group is the `ghp` prefix alone: its plugin reports "ghp", the token is the match)."""
    for m in pattern.finditer(line):
        groups = [g for g in range(1, pattern.groups + 1) if m.group(g)]
        reported = [m.group(g) for g in groups] or [m.group()]
        yield reported, (m.span(groups[0]) if value_group and groups else m.span())


#: The rest of a JWT after detect-secrets' lazy match (header.payload.): the signature.
_JWT_TAIL = re.compile(r"[A-Za-z0-9\-_.+/=]*")
#: The end line of a private-key block (PEM, OpenSSH, PGP) and PuTTY's last line.
_KEY_END = re.compile(r"-----END [A-Z0-9 ]*(?:PRIVATE KEY|KEY BLOCK)-----|Private-MAC: *[0-9a-fA-F]+")
#: A line of a key body (base64, PEM headers, quotes and escapes of a string literal).
_KEY_BODY = re.compile(r"[\s\"'+,\\nr]*[A-Za-z0-9+/=:\- ]*[\s\"'+,\\nr]*")
#: The most a private-key block spans (an RSA-8192 PEM is ~6.4 KB).
MAX_KEY_BLOCK = 16_384


#: Base64 characters a key body holds at least (the shortest, an Ed25519 OpenSSH key, has ~400):
#: a BEGIN line with no body is a marker in a parser's source, not a key.
MIN_KEY_BODY = 64
_BASE64 = re.compile(r"[A-Za-z0-9+/=]{16,}")


def _key_block(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The whole private-key block around a BEGIN line match at [start, end), or None when
    no key body follows it."""
    block = _key_span(text, start, end)
    body = sum(len(m) for m in _BASE64.findall(text, end, block[1]))
    return block if body >= MIN_KEY_BODY else None


def _key_span(text: str, start: int, end: int) -> tuple[int, int]:
    dashes = text.rfind("-----", max(0, start - 16), start)
    if dashes >= 0 and text[dashes + 5 : start].strip() in ("", "BEGIN"):
        start = dashes
    elif text.startswith("BEGIN", start - 6) and text.startswith("-----", start - 11):
        start -= 11
    m = _KEY_END.search(text, end, min(len(text), end + MAX_KEY_BLOCK))
    if m is not None:
        return start, m.end()
    # no END line (a truncated file): the body lines after the BEGIN line go with it
    line_end = text.find("\n", end)
    pos = len(text) if line_end < 0 else line_end
    while pos < len(text) and pos - start < MAX_KEY_BLOCK:
        nxt = text.find("\n", pos + 1)
        nxt = len(text) if nxt < 0 else nxt
        body = text[pos + 1 : nxt]
        if not body.strip() or not _KEY_BODY.fullmatch(body):
            break
        pos = nxt
    return start, pos


class SecretsDetector:
    """The configured secret types, built once per worker, and the per-document scan."""

    def __init__(self, types: Iterable[str] = SECRET_TYPES):
        logging.getLogger(LOGGER).disabled = True  # no secret value may reach a log
        self.names = [n for n in TYPES if n in set(types)]
        self.plugins: dict[str, Any] = {n: TYPES[n].plugin() for n in self.names}
        #: anchor -> the types it gates (each anchor is searched for once per document)
        self.anchors: dict[str, list[str]] = {}
        for name in self.names:
            for anchor in TYPES[name].anchors:
                self.anchors.setdefault(anchor, []).append(name)
        #: one regex per first character of the anchors: `re` factors the common prefix out of
        #: the alternation and scans for it in C. 12 scans instead of 35 `in` tests, each of
        #: which walks the whole document when the anchor is absent (the usual case): the
        #: secrets pass went from 31 to 52 MB/s on the sample's code.
        groups: dict[str, list[str]] = {}
        for anchor in sorted(self.anchors, key=len, reverse=True):
            groups.setdefault(anchor[0], []).append(anchor)
        self.prefilter = [(re.compile("|".join(map(re.escape, g))), g) for g in groups.values()]
        self.word_types = {
            n: re.compile("|".join(map(re.escape, TYPES[n].words))) for n in self.names if TYPES[n].words
        }
        words = {w for n in self.word_types for w in TYPES[n].words}
        self.roots = [r for r in ROOTS if any(r in w for w in words)]
        self.counters: dict[str, int] = {"secret_lines": 0, "secret_line_chars": 0}

    def find(self, text: str) -> list[SecretHit]:
        """Every secret in `text`, as (type, start, end); spans of different types may overlap."""
        positions: dict[str, list[int]] = {}
        for pattern, anchors in self.prefilter:
            for m in pattern.finditer(text):
                pos = m.start()
                for anchor in anchors:  # ACCA (AWS) also starts AC (Twilio): every anchor there
                    if text.startswith(anchor, pos):
                        for name in self.anchors[anchor]:
                            positions.setdefault(name, []).append(pos)
        candidates = {name: _lines(text, p) for name, p in positions.items()}
        if self.roots:
            self._word_lines(text, candidates)
        hits: dict[tuple[int, int], str] = {}
        for name in self.names:
            for start, end in sorted(set(candidates.get(name, ()))):
                self.counters["secret_lines"] += 1
                self.counters["secret_line_chars"] += end - start
                for a, b in self._line(name, text[start:end]):
                    span: tuple[int, int] | None = (start + a, start + b)
                    if name == "private_key":
                        span = _key_block(text, start + a, start + b)
                    elif TYPES[name].bounded and _glued(text, start + a, start + b):
                        span = None
                    if span is not None:
                        hits.setdefault(span, name)  # first type in TYPES order wins a tie
        return [SecretHit(name, a, b) for (a, b), name in sorted(hits.items())]

    def _word_lines(self, text: str, candidates: dict[str, list[tuple[int, int]]]) -> None:
        """Lines holding a type's words, found in two steps: the few short roots in the whole
        lower-cased document (each `in` is a C scan; 40 words cost 2x the time of 12 roots),
        then the type's own words in the lines with a root."""
        lower = _lower(text)
        positions = [p for r in self.roots if r in lower for p in _find_all(lower, r)]
        for start, end in _lines(text, positions):
            for name, words in self.word_types.items():
                if words.search(lower, start, end):
                    candidates.setdefault(name, []).append((start, end))

    def _line(self, name: str, line: str) -> list[tuple[int, int]]:
        """Spans of the secrets the type's plugin reports in one line."""
        plugin = self.plugins[name]
        if isinstance(plugin, HighEntropyDetector):
            lower = _lower(line)
            words = self.word_types[name]
            spans = []
            for p in plugin.plugins:
                for m in p.regex.finditer(line):
                    value, (a, b) = m.group(2), m.span(2)
                    if (
                        len(value) >= MIN_HIGH_ENTROPY
                        and _assigned_to(words, lower, a - 1)
                        and p.calculate_shannon_entropy(value) > p.entropy_limit
                        and _kept(value, line, p)
                    ):
                        spans.append((a, b))
            return spans
        if isinstance(plugin, KeywordDetector):
            spans = []
            for pattern, group in QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP.items():
                for m in pattern.finditer(line):
                    value = m.group(group)
                    if value and _kept(value, line, plugin) and _plausible(value):
                        spans.append(m.span(group))
            return spans
        values = set(plugin.analyze_string(line))
        if name == "basic_auth":  # "://user:pass@host" in a docstring is an example
            values = {v for v in values if _plausible(unquote(v))}
        if not values:
            return []
        spans = []
        for pattern in plugin.denylist:
            for reported, (a, b) in _regex_spans(pattern, line, TYPES[name].value_group):
                if all(r in values for r in reported) and _kept(line[a:b], line, plugin):
                    if name == "jwt":  # its regex ends lazily, before the signature: take it too
                        b = _JWT_TAIL.match(line, b).end()
                    spans.append((a, b))
        return spans


def _kept(value: str, line: str, plugin: BasePlugin) -> bool:
    """detect-secrets' default heuristic filters on a value (the ones that read the value)."""
    return not (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_likely_id_string(value, line, plugin)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
    )
