"""Word and sentence splitting for the heuristic filters.

datatrove's blocks split text with spaCy (a blank pipeline of the document's language with
a sentencizer). Each block splits the same document again, and spaCy's tokenizer is slow
here (0.2-0.5 MB/s per core for words and sentences: datatrove tokenizes inside a memory
zone, so spaCy's own cache stays empty); four blocks ran at 0.08 MB/s. Two things help:

- `Cached` wraps a tokenizer and remembers the last text it split, so the blocks share
  one run per document (the rules see exactly what they saw);
- `RegexWords` is spaCy's tokenizer algorithm redone in Python with the same rules: the
  prefix, suffix and infix regular expressions, URL and token matches and the exception
  table of the language's spaCy defaults (the language datatrove assigns: en, de, fr, ...;
  `xx` where datatrove uses another library), precompiled once, then spaCy's matcher of
  exceptions that contain punctuation (`:)`, `10a.m.`), and spaCy's sentencizer rule for
  sentence spans. Each whitespace-separated chunk is split once and remembered (a chunk
  always splits the same way, and most chunks of a corpus are repeats); words of letters
  only skip the regexes when no rule of the language can split them.

Measured with `python bench/bench_words.py` (docs/benchmarks.md; 1,790 documents, 6.20 MB:
English web pages, Wikipedia, news, Python docs, package READMEs and dialogs, and 12 other
languages: Vim's tutor, translated program messages, dialogs, web pages): the same
keep/drop decision as datatrove's blocks with datatrove's own tokenizer on 100.0% of the
documents in every language and genre (the single regex used before: 95.8%; English 99.2%,
its Gopher repetition verdicts on English READMEs 78.3%), identical words and sentence
spans on all 448 documents compared (before: 72 and 5), 6.4-6.7x faster than datatrove's
tokenizer from an empty cache and 11-19x on a second pass (CPU time on a shared 2-core
machine; the single regex was 50-63x faster, but wrong). The four blocks together run
3.6-4.2x faster than with datatrove's tokenizer: their own work is then most of the time.

What can still differ: languages datatrove does not split with spaCy (Hindi, Korean,
Vietnamese, ...: another library, often not installed) get spaCy's multi-language (`xx`)
rules here. Scripts written without spaces (Chinese, Japanese, Thai, ...) always go to
datatrove's tokenizer.
"""

from __future__ import annotations

import re
from functools import cache

from datatrove.utils.word_tokenizers import WordTokenizer, load_word_tokenizer

#: Languages whose words are not separated by spaces: a regex cannot find their words.
UNSPACED = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz"})

_CHUNK = re.compile(r"\S+")  # \S is not str.isspace(), as in spaCy and str.split()
_NEVER = re.compile("a^")
_CACHE_SIZE = 100_000  # chunks remembered per language (about 40 MB when full), then cleared

#: spaCy's sentencizer: a sentence ends after one of these tokens (default punct_chars).
_SENT_END_FLAG, _PUNCT_FLAG, _WORD_FLAG = 2, 1, 0


def _sre_constants():
    try:
        from re import _constants  # the regex parser's own constants, Python 3.11+
    except ImportError:  # Python 3.10
        import sre_constants as _constants
    return _constants


def _may_match_letters(seq) -> bool:
    """Whether a parsed regular expression could match a text of letters only: an
    over-approximation (anything not known to need a non-letter counts as could)."""
    c = _sre_constants()

    def in_letters(items) -> bool:
        for op, av in items:
            if op is c.NEGATE or (op is c.LITERAL and chr(av).isalpha()):
                return True
            if op is c.RANGE and any(chr(x).isalpha() for x in range(av[0], av[1] + 1)):
                return True
            if op is c.CATEGORY and av not in (c.CATEGORY_DIGIT, c.CATEGORY_SPACE, c.CATEGORY_NOT_WORD):
                return True
        return False

    for op, av in seq:
        if op is c.LITERAL and not chr(av).isalpha():
            return False
        if op is c.IN and not in_letters(av):
            return False
        if (
            op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None))
            and av[0] > 0
            and not _may_match_letters(av[2])
        ):
            return False
        if op in (c.SUBPATTERN, c.ASSERT) and not _may_match_letters(av[-1]):
            return False
        if op is getattr(c, "ATOMIC_GROUP", None) and not _may_match_letters(av):
            return False
        if op is c.BRANCH and not any(_may_match_letters(alt) for alt in av[1]):
            return False
    return True


def _splits_letters(method) -> bool:
    """Whether a prefix, suffix or infix regex (a compiled pattern's method) could split a
    word of letters only."""
    if method is None:
        return False
    try:
        from re import _parser  # Python 3.11+
    except ImportError:  # Python 3.10
        import sre_parse as _parser

    pattern = method.__self__
    return _may_match_letters(_parser.parse(pattern.pattern, pattern.flags))


class _Rules:
    """The tokenizer rules of one spaCy language, as spaCy's `Tokenizer` applies them."""

    def __init__(self, code: str):
        import spacy
        from spacy.attrs import IS_PUNCT, ORTH
        from spacy.pipeline import Sentencizer
        from spacy.tokenizer import Tokenizer

        nlp = spacy.blank(code)
        tok = nlp.tokenizer
        if type(tok) is not Tokenizer:
            raise ValueError(f"spaCy's {code!r} tokenizer is not the rule-based one")
        self.prefix = tok.prefix_search or _NEVER.search
        self.suffix = tok.suffix_search or _NEVER.search
        self.infixes = tok.infix_finditer or _NEVER.finditer
        self.token_match = tok.token_match or _NEVER.match
        self.url_match = tok.url_match or _NEVER.match
        self.specials: dict[str, tuple[str, ...]] = {
            orth: tuple(t[ORTH] if ORTH in t else t["ORTH"] for t in subs) for orth, subs in tok.rules.items()
        }
        # Words of letters only are one token unless a special case, when no rule of the
        # language can split them (true of every language checked: en, de, fr, ru, ...).
        self.letters_whole = not any(
            map(_splits_letters, (tok.prefix_search, tok.suffix_search, tok.infix_finditer))
        )
        self.is_punct = nlp.vocab.lex_attr_getters.get(IS_PUNCT) or (lambda s: False)
        self.sent_chars = frozenset(Sentencizer.default_punct_chars)
        # Special cases that contain a prefix, suffix or infix are found again after the
        # affixes were split (spaCy's special matcher): their split without special cases.
        self.patterns: dict[tuple[str, ...], tuple[str, ...]] = {}
        for orth, subs in self.specials.items():
            if " " in orth:
                continue
            if tok.faster_heuristics and not (
                self.prefix(orth) or self.suffix(orth) or any(self.infixes(orth))
            ):
                continue
            self.patterns[tuple(self.split(orth, specials=False))] = subs
        self.longest = max(map(len, self.patterns), default=0)
        self.firsts = frozenset(p[0] for p in self.patterns)
        self.rematched: dict[str, tuple[str, ...]] = {}  # chunk -> its tokens before the matcher
        # A special case can also match tokens of two chunks one space apart (spaCy matches
        # on the whole document). It then changes nothing itself (spaCy finds no rule for a
        # text with a space), but the tokens it covers are taken, so a shorter special case
        # inside one of the chunks is not applied (`клас:) )` stays `:`, `)`, `)`). Only a
        # chunk where a special case was applied inside (`rematched`) can be changed so.

    def split(self, chunk: str, specials: bool = True, match: bool = True) -> list[str]:
        """The tokens of one chunk without whitespace (spaCy's `_split_affixes` and
        `_attach_tokens`, then, with `match`, its special-case matcher within the chunk)."""
        sp = self.specials if specials else {}
        if chunk in sp:
            return list(sp[chunk])
        if self.letters_whole and chunk.isalpha():
            return [chunk]
        prefixes: list[str] = []
        suffixes: list[str] = []
        string, last = chunk, 0
        while string and len(string) != last:
            if self.token_match(string) or string in sp:
                break
            last = len(string)
            m = self.prefix(string)
            pre = m.end() - m.start() if m else 0
            if pre:
                minus_pre = string[pre:]
                if minus_pre and minus_pre in sp:
                    prefixes.append(string[:pre])
                    string = minus_pre
                    break
            m = self.suffix(string[pre:])
            suf = m.end() - m.start() if m else 0
            if suf:
                minus_suf = string[:-suf]
                if minus_suf and minus_suf in sp:
                    suffixes.append(string[-suf:])
                    string = minus_suf
                    break
            if pre and suf and pre + suf <= len(string):
                prefixes.append(string[:pre])
                suffixes.append(string[-suf:])
                string = string[pre:-suf]
            elif pre:
                prefixes.append(string[:pre])
                string = string[pre:]
            elif suf:
                suffixes.append(string[-suf:])
                string = string[:-suf]
        tokens = prefixes
        if string:
            if string in sp:
                tokens.extend(sp[string])
            elif self.token_match(string) or self.url_match(string):
                tokens.append(string)
            else:
                start = 0
                for m in self.infixes(string):
                    a, b = m.start(), m.end()
                    if a == 0:
                        continue
                    if a != start:
                        tokens.append(string[start:a])
                    if a != b:
                        tokens.append(string[a:b])
                    start = b
                if string[start:]:
                    tokens.append(string[start:])
        tokens.extend(reversed(suffixes))
        if specials and match and self.longest and len(tokens) > 1:
            spans = self._matches(tokens)
            if spans:
                out, pos = [], 0
                for i, j in spans:
                    out += tokens[pos:i]
                    out += self.patterns[tuple(tokens[i:j])]
                    pos = j
                out += tokens[pos:]
                if out != tokens:
                    if len(self.rematched) >= _CACHE_SIZE:
                        self.rematched.clear()
                    self.rematched[chunk] = tuple(tokens)
                    tokens = out
        return tokens

    def _matches(self, tokens: list) -> list[tuple[int, int]]:
        """The special-case spans spaCy's matcher keeps, in order: longest first, then
        leftmost; a span is dropped when a token at its ends was covered by one before."""
        found = []
        n, patterns, firsts, longest = len(tokens), self.patterns, self.firsts, self.longest
        for i in range(n):
            if tokens[i] not in firsts:
                continue
            for j in range(i + 1, min(n, i + longest) + 1):
                if tuple(tokens[i:j]) in patterns:
                    found.append((i, j))
        if not found:
            return found
        found.sort(key=lambda s: (s[1] - s[0], -s[0]))
        seen: set[int] = set()
        taken = []
        for i, j in reversed(found):
            if i not in seen and j - 1 not in seen:
                taken.append((i, j))
            seen.update(range(i, j))
        return sorted(taken)

    def fix_across(self, text: str, chunks: list, get) -> list[tuple[str, ...]]:
        """The tokens of each chunk (`chunks`: their regex matches), redone where a special
        case applied inside a chunk is overruled by one across chunks (spaCy's matcher over
        the whole text). A special case covers at most `longest` tokens, so the chunks
        within twice that around a chunk decide it."""
        out = [get(m.group()) for m in chunks]
        reach = 2 * self.longest
        for c, m in enumerate(chunks):
            if m.group() not in self.rematched:
                continue
            lo, hi = max(0, c - reach), min(len(chunks), c + reach + 1)
            tokens: list = []  # None: whitespace other than one space, which no special case spans
            first = last = 0
            for k in range(lo, hi):
                if k > lo and not (
                    chunks[k].start() == chunks[k - 1].end() + 1 and text[chunks[k].start() - 1] == " "
                ):
                    tokens.append(None)
                if k == c:
                    first = len(tokens)
                tokens.extend(self.rematched.get(chunks[k].group(), out[k]))
                if k == c:
                    last = len(tokens)
            mine = []
            pos = first
            for i, j in self._matches(tokens):
                if i >= first and j <= last:  # inside this chunk: the special case's tokens
                    mine += tokens[pos:i]
                    mine += self.patterns[tuple(tokens[i:j])]
                    pos = j
            out[c] = tuple(mine + tokens[pos:last])
        return out

    def flag(self, token: str) -> int:
        if token in self.sent_chars:
            return _SENT_END_FLAG
        return _PUNCT_FLAG if self.is_punct(token) else _WORD_FLAG


@cache
def _rules(code: str) -> _Rules:
    return _Rules(code)


def _spacy_code(language: str) -> tuple[str, WordTokenizer | None]:
    """The spaCy language datatrove tokenizes `language` with (`xx` where it uses another
    library), and datatrove's tokenizer when only its sentence splitter is to be kept."""
    from datatrove.utils.word_tokenizers import (
        SpaCyTokenizer,
        WhitespaceTokenizer,
        load_tokenizer_assignments,
    )

    factories = load_tokenizer_assignments()
    try:
        tok = factories.get(language, factories.get(language.split("_")[0]))()
    except (TypeError, ImportError, ValueError, OSError):  # TypeError: no factory
        return "xx", None
    if isinstance(tok, SpaCyTokenizer) and tok.config is None:
        return tok.language, None
    if isinstance(tok, WhitespaceTokenizer):
        return "xx", tok  # words by spaCy's xx rules, sentences by datatrove's own regex
    return "xx", None


class _Chunks(dict):
    """Chunk -> its tokens, split on first sight (bounded: cleared when full)."""

    def __init__(self, split):
        super().__init__()
        self._split = split

    def __missing__(self, chunk: str) -> tuple[str, ...]:
        if len(self) >= _CACHE_SIZE:
            self.clear()
        tokens = self[chunk] = tuple(self._split(chunk))
        return tokens


class RegexWords(WordTokenizer):
    """spaCy's tokenizer and sentencizer rules for a language written with spaces, redone
    with its precompiled regular expressions and a chunk cache (see the module notes)."""

    def __init__(self, language: str):
        super().__init__(language)
        self._code, self._sentences = _spacy_code(language)
        self._rules: _Rules | None = None
        self._words: _Chunks | None = None
        self._flags: dict[str, tuple[tuple[int, int, int], ...]] = {}

    def __getstate__(self) -> dict:
        """Pickled without the rules and caches (rebuilt on first use)."""
        return {**self.__dict__, "_rules": None, "_words": None, "_flags": {}}

    def _load(self) -> _Rules:
        if self._rules is None:
            try:
                self._rules = _rules(self._code)
            except (ImportError, OSError, ValueError):
                self._code = "xx"
                self._rules = _rules("xx")
            self._words = _Chunks(self._rules.split)
        return self._rules

    def word_tokenize(self, text: str) -> list[str]:
        rules = self._rules or self._load()
        chunks = text.split()
        get = self._words.__getitem__
        words = [t for chunk in chunks for t in get(chunk)]
        if rules.rematched and not rules.rematched.keys().isdisjoint(chunks):
            fixed = rules.fix_across(text, list(_CHUNK.finditer(text)), get)
            return [t for tokens in fixed for t in tokens]
        return words

    def _flags_of(self, tokens: tuple[str, ...]) -> tuple[tuple[int, int, int], ...] | None:
        """(start, end, flag) of each token, relative to the chunk; None: no punctuation."""
        flag, pos, out, plain = self._rules.flag, 0, [], True
        for t in tokens:
            f = flag(t)
            plain = plain and f == _WORD_FLAG
            out.append((pos, pos + len(t), f))
            pos += len(t)
        return None if plain else tuple(out)

    def _chunk_flags(self, chunk: str) -> tuple[tuple[int, int, int], ...] | None:
        try:
            return self._flags[chunk]
        except KeyError:
            if len(self._flags) >= _CACHE_SIZE:
                self._flags.clear()
            flags = self._flags[chunk] = self._flags_of(self._words[chunk])
            return flags

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        """Sentence spans as spaCy's sentencizer gives them after spaCy's tokenizer: a
        sentence ends after `.`, `!`, `?` (and the like) tokens, at the next token that is
        not punctuation; whitespace other than one plain space after a token is a token."""
        if self._sentences is not None:
            return self._sentences.span_tokenize(text)
        rules = self._rules or self._load()
        chunks = list(_CHUNK.finditer(text))
        flags = [self._chunk_flags(m.group()) for m in chunks]  # also fills `rules.rematched`
        if rules.rematched and not rules.rematched.keys().isdisjoint([m.group() for m in chunks]):
            fixed = rules.fix_across(text, chunks, self._words.__getitem__)
            flags = [self._flags_of(tokens) for tokens in fixed]
        spans: list[tuple[int, int]] = []
        sent_start = -1  # no token yet
        last_end = 0
        seen = False
        for m, chunk_flags in zip(chunks, flags, strict=True):
            p = m.start()
            if p > last_end or (sent_start < 0 and p > 0):  # whitespace before the chunk
                ws = last_end + 1 if sent_start >= 0 and text[last_end] == " " else last_end
                if ws < p:  # a whitespace token
                    if sent_start < 0:
                        sent_start = ws
                    elif seen:
                        spans.append((sent_start, last_end))
                        sent_start, seen = ws, False
                    last_end = p
            if chunk_flags is None:  # words only
                if sent_start < 0:
                    sent_start = p
                elif seen:
                    spans.append((sent_start, last_end))
                    sent_start, seen = p, False
            else:
                for a, b, flag in chunk_flags:
                    if sent_start < 0:
                        sent_start = p + a
                        seen = flag == _SENT_END_FLAG
                    elif seen and flag == _WORD_FLAG:
                        spans.append((sent_start, last_end))
                        sent_start, seen = p + a, False
                    elif flag == _SENT_END_FLAG:
                        seen = True
                    last_end = p + b
            last_end = m.end()
        if last_end < len(text):
            ws = last_end + 1 if sent_start >= 0 and text[last_end] == " " else last_end
            if ws < len(text):
                if sent_start < 0:
                    sent_start = ws
                elif seen:
                    spans.append((sent_start, last_end))
                    sent_start = ws
                last_end = len(text)
        if sent_start >= 0:
            spans.append((sent_start, last_end))
        return spans

    def sent_tokenize(self, text: str) -> list[str]:
        return [s for a, b in self.span_tokenize(text) if (s := text[a:b].strip())]


class Cached(WordTokenizer):
    """Another tokenizer, remembering its last answers so the blocks share one run."""

    def __init__(self, inner: WordTokenizer, language: str):
        super().__init__(language)
        self.inner = inner
        self._last: dict[str, tuple[str, object]] = {}

    def _memo(self, kind: str, text: str, compute):
        hit = self._last.get(kind)
        if hit is not None and hit[0] is text:  # the same string object: same document
            return hit[1]
        value = compute(text)
        self._last[kind] = (text, value)
        return value

    def word_tokenize(self, text: str) -> list[str]:
        return self._memo("words", text, self.inner.word_tokenize)

    def sent_tokenize(self, text: str) -> list[str]:
        return self._memo("sentences", text, self.inner.sent_tokenize)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return self._memo("spans", text, self.inner.span_tokenize)


def word_tokenizer(language: str, kind: str) -> WordTokenizer:
    """The tokenizer the blocks get for a language: `regex` (default) or `datatrove`."""
    base = language.split("_")[0]
    if kind == "regex" and base not in UNSPACED:
        inner: WordTokenizer = RegexWords(language)
    else:
        inner = load_word_tokenizer(language)
    return Cached(inner, language)
