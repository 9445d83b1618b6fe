"""Cheap prefilter: the few short stretches of a document where an entity could be.

Running Presidio's recognizers over whole documents is what makes naive Presidio slow
(phonenumbers tries 8+ regions over every digit, the e-mail and IP regexes walk every
character). Most text holds no candidate at all: no '@', no run of four digits, no
hex-colon group. For each requested entity a loose regex (a superset of what the
recognizer can match) finds candidates; the recognizer then runs only on a window around
each, and its matches are mapped back to document offsets.

Windows give the recognizer exactly what it would see in the whole document, because
their edges are *safe points*: a newline, or a space between two lower-case letters. No
match of these recognizers crosses one (none spans lines; the only matches with inner
spaces are digit groups: phone numbers, cards, SSNs, and IBAN groups; a lower-case IBAN's
letter groups may hold one, so its candidate spans the whole IBAN-shaped run), and a
regex lookaround at a window edge sees the start/end of the string where the document
has whitespace: the same answer for `\\b`, `(?<![A-Z0-9])` and phonenumbers' checks of
the character before and after a number.
"""

from __future__ import annotations

from collections.abc import Iterable

import regex

#: Four or more digits separated by runs of punctuation/spaces (never a newline): a superset of
#: phonenumbers' candidates (its separators are punctuation, spaces and 'x'; the shortest valid
#: numbers have 4 digits, e.g. some German ones), of card numbers and of SSNs.
_DIGITS = r"\d(?:(?:[^\w\n\r]|[xX]){0,8}\d){3,}"

#: The fewest digits a match of the entity holds: shorter digit candidates are skipped.
MIN_DIGITS = {"PHONE_NUMBER": 4, "US_SSN": 9, "CREDIT_CARD": 12}

#: entity -> loose patterns, each a superset of what the entity's recognizers can match
#: there. Patterns that start with a literal character ("@", ":", ".") are scanned for at
#: hundreds of MB/s; the `regex` module scans a leading class 2-8x faster than `re`
#: (digits: 117 vs 49 Mchar/s on the sample's prose), so patterns run one by one with it.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "EMAIL_ADDRESS": ("@",),
    "PHONE_NUMBER": (_DIGITS,),
    "CREDIT_CARD": (_DIGITS,),
    "US_SSN": (_DIGITS,),
    # the whole IBAN-shaped run, upper or lower case: a lower-case IBAN's letter groups can hold
    # a space between two lower-case letters ("mt84 malt 0110 0001 2345 mtlc ast0 01s"), and the
    # window must reach past it (windows end at the first safe point after the candidate)
    # (led by the digits: a leading letter class scans at 20 MB/s, digits at 200)
    "IBAN_CODE": (r"(?<=[A-Za-z]{2})\d{2}(?:[ -]?[A-Za-z0-9]{4}){2,7}(?:[ -]?[A-Za-z0-9]{1,3})?",),
    # IPv4 holds ".n.n." (n: 1-3 digits); IPv6 and IPv4-mapped forms hold ":h:" (h: 0-4 hex)
    "IP_ADDRESS": (r"\.\d{1,3}\.\d{1,3}\.", r":[0-9A-Fa-f]{0,4}:"),
    "MAC_ADDRESS": (r":[0-9A-Fa-f]{2}:", r"-[0-9A-Fa-f]{2}-", r"\.[0-9A-Fa-f]{4}\."),
    # Presidio's (bc1|[13])[a-zA-HJ-NP-Z0-9]{25,59}, compiled case-insensitive
    "CRYPTO": (r"(?:[13]|[bB][cC]1)[0-9A-Za-z]{25}",),
    "URL": (r"://[^\s/@]+@",),  # credentials: scheme://user:password@host
}
#: `url: all` (plain URLs too): any "x.tld"-like token.
URL_ANY = r"[0-9A-Za-z-]\.[A-Za-z]{2}"

#: Characters a window reaches beyond its candidate before the next safe point. None are
#: needed: matches end at safe points, and context words are read in the document, not the
#: window. Every character more is work: with 128 characters of margin, phonenumbers tried
#: (in 16 regions) the years and counts around each candidate, 2.4x the cost.
MARGIN_BEFORE = 0
MARGIN_AFTER = 0


def compile_candidate(pattern: str) -> regex.Pattern:
    return regex.compile(pattern)


def find_spans(text: str, pattern: regex.Pattern) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def count_digits(text: str, start: int, end: int) -> int:
    return sum(c.isdigit() for c in text[start:end])


#: A run of digits joined only by phonenumbers' own separators (its _VALID_PUNCTUATION and
#: spaces): what it can read as one number. "24,383,301" is three numbers to it.
_PHONE_SEPARATORS = (
    "-x\u2010-\u2015\u2212\u30fc\uff0d-\uff0f \xa0\xad\u200b\u2060\u3000"
    "()\uff08\uff09\uff3b\uff3d.\\[\\]/~\u2053\u223c\uff5e"
)
PHONE_RUN = regex.compile(rf"\d(?:[{_PHONE_SEPARATORS}]{{0,4}}\d)*")
#: Year ranges, dotted quads and ISBNs: 8+ digit runs in every history article, server log
#: and bibliography.
_NOT_PHONE = regex.compile(
    r"(?:1\d|20)\d\d ?[-\u2010-\u2015] ?(?:(?:1\d|20)?\d\d)|\d{1,3}(?:\.\d{1,3}){3}|97[89]-\d.*"
)
#: E.164 numbers have at most 15 digits (a national trunk prefix stands for the country code);
#: longer runs are card, account or reference numbers.
MAX_PHONE_DIGITS = 15


def phone_shaped(text: str, start: int, end: int, min_digits: int) -> bool:
    """Whether the candidate holds a run phonenumbers reads as one number of `min_digits` to
    MAX_PHONE_DIGITS digits that is not a year range, an IPv4 address or an ISBN."""
    for m in PHONE_RUN.finditer(text, start, end):
        run = m.group()
        if min_digits <= sum(c.isdigit() for c in run) <= MAX_PHONE_DIGITS and not _NOT_PHONE.fullmatch(run):
            return True
    return False


_DATE = regex.compile(r"\d{4}-\d\d-\d\d|\d\d?[./-]\d\d?[./-]\d{2,4}")
_ISBN10 = regex.compile(r"\d{1,5}-\d{1,7}-\d{1,7}-[\dX]")


def free_phone_text(raw: str) -> bool:
    """Whether `raw` is written like a phone number (see recognizers.FreePhoneRecognizer):
    "+" or "00" and 6-17 digits, or 7-15 digits with a separator other than one dot
    (a decimal) and no double space (table columns), and not a date, a year range, an IPv4
    address or an ISBN."""
    plus = raw.lstrip("(").startswith("+")
    run = raw.lstrip("(+")
    digits = sum(c.isdigit() for c in run)
    if _NOT_PHONE.fullmatch(run) or _DATE.fullmatch(run):
        return False
    separators = [c for c in run if not c.isdigit()]
    if separators == ["."]:
        return False  # a decimal, signed or not: "+35236450.6"
    if plus or run.startswith("00"):
        return 6 <= digits <= MAX_PHONE_DIGITS + 2
    if not separators or (digits == 10 and _ISBN10.fullmatch(run)) or "  " in run:
        return False  # one block, a decimal, an ISBN-10, or columns of a table
    return 7 <= digits <= MAX_PHONE_DIGITS


def free_phone_shaped(text: str, start: int, end: int) -> bool:
    """Whether the candidate holds a run written like a phone number (`free_phone_text`)."""
    for m in PHONE_RUN.finditer(text, start, end):
        plus = "+" if text[max(0, m.start() - 2) : m.start()].endswith("+") else ""
        if free_phone_text(plus + m.group()):
            return True
    return False


def _safe_space(text: str, p: int) -> bool:
    """A space between two lower-case letters (any script): never inside a match."""
    return 0 < p < len(text) - 1 and text[p - 1].islower() and text[p + 1].islower()


def _left_edge(text: str, pos: int) -> int:
    """Start of a window reaching back to `pos`: just after the last safe point before it.

    str.rfind walks back in C; a regex cannot search backwards (a finditer over the 256
    characters before each candidate cost 5 of 94 s in a profile of the sample)."""
    line = text.rfind("\n", 0, pos) + 1
    p = pos
    while True:
        p = text.rfind(" ", line, p)
        if p < 0:
            return line
        if _safe_space(text, p):
            return p + 1


def _right_edge(text: str, pos: int) -> int:
    """End (exclusive) of a window reaching forward to `pos`: the first safe point after it."""
    line = text.find("\n", pos)
    line = len(text) if line < 0 else line
    p = pos - 1
    while True:
        p = text.find(" ", p + 1, line)
        if p < 0:
            return line
        if _safe_space(text, p):
            return p


def windows(
    text: str, spans: Iterable[tuple[int, int]], before: int = MARGIN_BEFORE, after: int = MARGIN_AFTER
) -> list[tuple[int, int]]:
    """Merged [start, end) windows around candidate `spans` (sorted by start) of `text`."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and start < out[-1][1]:  # inside the last window: widen it if needed
            if end + after > out[-1][1]:
                out[-1] = (out[-1][0], _right_edge(text, min(len(text), end + after)))
            continue
        w_start = _left_edge(text, max(0, start - before))
        w_end = _right_edge(text, min(len(text), end + after))
        if out and w_start <= out[-1][1]:
            out[-1] = (out[-1][0], w_end)
        else:
            out.append((w_start, w_end))
    return out
