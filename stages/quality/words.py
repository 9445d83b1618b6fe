"""Word and sentence splitting for the heuristic filters.

datatrove's blocks split text with spaCy (a blank pipeline with a sentencizer). Each
block splits the same document again, and spaCy's tokenizer runs at about 0.5 MB/s per
core here, so four blocks ran at 0.08 MB/s. Two things are done about it:

- `Cached` wraps datatrove's own tokenizer and remembers the last text it split, so
  the blocks share one spaCy run per document (the rules see exactly what they saw);
- `RegexWords` splits with one regular expression (words with inner hyphens,
  apostrophes and dots; every other non-space character alone) — about 40x faster than
  spaCy on the sample's English prose; the filter decisions it leads to are compared
  with spaCy's in docs/benchmarks.md. Scripts written without spaces (Chinese,
  Japanese, Thai, ...) always go to datatrove's tokenizer.
"""

from __future__ import annotations

import re

from datatrove.utils.word_tokenizers import WordTokenizer, load_word_tokenizer

#: Languages whose words are not separated by spaces: a regex cannot find their words.
UNSPACED = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz"})

_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")
_SENTENCE_END = re.compile(r"[.!?。！？]+[\"')\]”’]*\s+|\n+")


class RegexWords(WordTokenizer):
    """Words and sentences by regular expression, for languages written with spaces."""

    def word_tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        """Sentence spans, as datatrove's `split_into_sentences` expects them."""
        spans, start = [], 0
        for m in _SENTENCE_END.finditer(text):
            if m.start() > start:
                spans.append((start, m.start() + len(m.group().rstrip())))
            start = m.end()
        if start < len(text) and text[start:].strip():
            spans.append((start, len(text)))
        return spans

    def sent_tokenize(self, text: str) -> list[str]:
        return [text[a:b] for a, b in self.span_tokenize(text)]


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
