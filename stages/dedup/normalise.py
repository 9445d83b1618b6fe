"""Text normalisation before shingling: what makes two near copies hash alike.

Lower case, Unicode normal form, punctuation and digits handled per the dedup config, words
split at any whitespace. Fast: one `bytes.translate` for ASCII documents and one code point
table lookup in numpy for the others (`unicodedata.normalize` only on the stretches that may
change under the normal form). The words depend on `unicodedata` (NFKC, categories), i.e. on
the Python minor version for characters added to Unicode in between.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

# Character classes used by the normaliser, one code per code point.
_OTHER, _SPACE, _PUNCT, _DIGIT, _INVISIBLE = range(5)
# Code point table values: a code point, _DROP, or either with _UNSTABLE set (the character may
# change under the Unicode normal form, so the text must go through unicodedata.normalize).
_DROP = 0x7FFFFFFF
_UNSTABLE = 0x80000000
_HANGUL_V_T = [*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)]  # compose with a preceding jamo


@dataclass(frozen=True)
class _UnicodeData:
    classes: np.ndarray  # uint8 class per code point
    lower: np.ndarray  # uint32 simple lowercase mapping per code point
    assigned: list[int]  # code points with a category other than Cn, Co, Cs


@functools.lru_cache(maxsize=1)
def _unicode_data() -> _UnicodeData:
    """Per code point class and lowercase, from one scan of the running ``unicodedata`` (~0.3 s).

    ``re`` has no ``\\p{P}``: a regex with the ~8,000 punctuation ranges spelt out ran at
    ~200 ns per character here, ``NFKC`` + ``str.lower`` at ~9 ns; one table lookup in numpy
    does lowercasing and all deletions at ~2 ns.
    """
    category = unicodedata.category
    codes = {"Nd": _DIGIT, "Cc": _INVISIBLE, "Cf": _INVISIBLE, "Cs": _INVISIBLE}
    classes = np.zeros(sys.maxunicode + 1, dtype=np.uint8)
    lower = np.arange(sys.maxunicode + 1, dtype=np.uint32)
    assigned = []
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        cat = category(ch)
        if cat in ("Cn", "Co"):
            continue
        if ch.isspace():
            classes[cp] = _SPACE
        else:
            classes[cp] = _PUNCT if cat[0] in "PS" else codes.get(cat, _OTHER)
        if cat == "Cs":
            continue
        assigned.append(cp)
        low = ch.lower()
        lower[cp] = ord(low[0])  # simple mapping: U+0130 -> "i", not "i" + U+0307
    classes.setflags(write=False)
    lower.setflags(write=False)
    return _UnicodeData(classes, lower, assigned)


@functools.lru_cache(maxsize=4)
def unstable_code_points(form: str) -> np.ndarray:
    """Code points that may change when a text containing them is put in ``form`` (bool).

    A text made only of other code points is already in that form (UAX #15 quick check: every
    character "Yes" and no combining marks to reorder), so it can skip ``unicodedata.normalize``.
    Flagged: characters that change alone, combining marks (ccc != 0), the second character of
    every canonical pair decomposition and the Hangul vowel/trailing jamo (they may compose).
    """
    flags = np.zeros(sys.maxunicode + 1, dtype=bool)
    flags[_HANGUL_V_T] = True
    for cp in _unicode_data().assigned:
        ch = chr(cp)
        if unicodedata.combining(ch) or not unicodedata.is_normalized(form, ch):
            flags[cp] = True
        parts = unicodedata.decomposition(ch).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            flags[int(parts[1], 16)] = True
    flags.setflags(write=False)
    return flags


# ASCII whitespace as str.split() sees it (it also splits on the separators \x1c-\x1f).
_ASCII_SPACE = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
_ASCII_PUNCT = bytes(c for c in range(128) if unicodedata.category(chr(c))[0] in "PS")
_ASCII_INVISIBLE = bytes(
    c for c in range(128) if unicodedata.category(chr(c)) == "Cc" and c not in _ASCII_SPACE
)
_DIGITS = b"0123456789"


@dataclass(frozen=True)
class Normalizer:
    """Text normalisation before shingling; words are then the whitespace-separated tokens.

    Defaults: NFKC, lowercase (Unicode simple case mapping, character by character, so U+0130
    becomes "i" and a final capital sigma "σ"), punctuation and symbols (Unicode categories P*
    and S*, which on ASCII is exactly ``string.punctuation``) removed, invisible characters (Cc,
    Cf, Cs: controls, soft hyphen, zero-width space, lone surrogates) removed, digits kept,
    whitespace runs collapsed. ``punctuation="space"`` replaces instead of deleting
    (``"end.Start"`` -> two words); ``digits="zero"`` maps every decimal digit (Nd) to ``0``.
    Words are whitespace-separated, so a run of CJK or Thai text without spaces is one word.
    """

    lowercase: bool = True
    unicode_form: Literal["NFKC", "NFC", "NFKD", "NFD"] | None = "NFKC"
    punctuation: Literal["remove", "space", "keep"] = "remove"
    digits: Literal["keep", "zero", "remove"] = "keep"
    strip_invisible: bool = True

    def __getstate__(self) -> dict[str, object]:
        # Leave the cached tables (4.4 MB) out of pickles, e.g. when Ray ships a stage to workers.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def __call__(self, text: str) -> str:
        """The normalised text, words separated by single spaces."""
        return " ".join(self.words(text))

    def words(self, text: str) -> list[str]:
        """The normalised words of ``text``."""
        return [w for w in self.to_bytes(text).decode("utf-8", "surrogatepass").split(" ") if w]

    def to_bytes(self, text: str) -> bytes:
        """Normalised UTF-8 bytes in which words are separated by runs of b" " (no other space).

        The result is one per-character map applied to the NFKC form of the text. ASCII text
        (``str.isascii`` is O(1); NFKC is the identity on it) takes one ``bytes.translate``;
        other text one lookup in a code point table, and ``unicodedata.normalize`` only when a
        character of it may change under NFKC. Both tables agree on ASCII.
        """
        if text.isascii():
            return self._ascii(text)
        table = self._codepoint_table
        mapped = table.take(
            np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4"), mode="clip"
        )
        if self.unicode_form and mapped.max() >= _UNSTABLE:
            text = self._normalize_unstable(text, mapped >= _UNSTABLE)
            mapped = table.take(
                np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4"), mode="clip"
            )
            mapped &= np.uint32(_DROP)
        mapped = mapped[mapped != _DROP]
        return mapped.tobytes().decode("utf-32-le", "surrogatepass").encode("utf-8", "surrogatepass")

    def _normalize_unstable(self, text: str, unstable: np.ndarray) -> str:
        """``unicodedata.normalize`` applied only to the stretches of ``text`` that may change.

        A character that is not flagged by ``unstable_code_points`` is a normalisation boundary (UAX #15:
        quick check "Yes", combining class 0, never the second of a composition), so the form of
        the text is the concatenation of the forms of the pieces between such characters. Each
        run of flagged characters is normalised with the boundary character before it, which it
        may compose with. On the benchmark this made NFKC of the ~10% of non-ASCII documents
        that need it (mostly for U+2026) 15 ms faster than normalising them whole.
        """
        form = self.unicode_form
        assert form is not None
        flagged = np.flatnonzero(unstable)
        if 16 * len(flagged) > len(text):  # dense (combining scripts): one call is cheaper
            return unicodedata.normalize(form, text)
        cut = np.flatnonzero(np.diff(flagged) > 1)
        run_lo = np.concatenate([flagged[:1], flagged[cut + 1]]) - 1
        run_hi = np.concatenate([flagged[cut], flagged[-1:]]) + 1
        parts, pos = [], 0
        for lo, hi in zip(np.maximum(run_lo, 0).tolist(), run_hi.tolist(), strict=True):
            parts += [text[pos:lo], unicodedata.normalize(form, text[lo:hi])]
            pos = hi
        parts.append(text[pos:])
        return "".join(parts)

    def _ascii(self, text: str) -> bytes:
        table, delete = self._ascii_table
        return text.encode("ascii").translate(table, delete)

    @functools.cached_property
    def _ascii_table(self) -> tuple[bytes, bytes]:
        """(table, delete) for ``bytes.translate``: lowercasing, spaces, punctuation, digits at once."""
        table = bytearray(range(256))
        delete = bytearray()
        if self.lowercase:
            table[ord("A") : ord("Z") + 1] = bytes(range(ord("a"), ord("z") + 1))
        for c in _ASCII_SPACE:
            table[c] = ord(" ")
        if self.punctuation == "space":
            for c in _ASCII_PUNCT:
                table[c] = ord(" ")
        elif self.punctuation == "remove":
            delete += _ASCII_PUNCT
        if self.digits == "zero":
            for c in _DIGITS:
                table[c] = ord("0")
        elif self.digits == "remove":
            delete += _DIGITS
        if self.strip_invisible:
            delete += _ASCII_INVISIBLE
        return bytes(table), bytes(delete)

    @functools.cached_property
    def _codepoint_table(self) -> np.ndarray:
        """Code point -> replacement code point or _DROP, with _UNSTABLE (uint32, 4.4 MB, built once)."""
        data = _unicode_data()
        classes = data.classes
        table = data.lower.copy() if self.lowercase else np.arange(len(classes), dtype=np.uint32)
        table[classes == _SPACE] = ord(" ")
        if self.punctuation != "keep":
            table[classes == _PUNCT] = _DROP if self.punctuation == "remove" else ord(" ")
        if self.digits != "keep":
            table[classes == _DIGIT] = _DROP if self.digits == "remove" else ord("0")
        if self.strip_invisible:
            table[classes == _INVISIBLE] = _DROP
        if self.unicode_form:
            table[unstable_code_points(self.unicode_form)] |= np.uint32(_UNSTABLE)
        return table
