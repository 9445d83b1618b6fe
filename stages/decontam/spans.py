"""Cutting benchmark text out of a document, GPT-3 style: each matched span is removed with a
margin on both sides and the document falls into the pieces around the cuts."""

from __future__ import annotations

from collections.abc import Iterable

#: A cut that lands inside a word moves outward to the next whitespace, at most this far (a
#: 10 kB token of minified code is cut where the margin ends instead).
_MAX_SNAP = 100


def _snap_left(text: str, pos: int) -> int:
    for p in range(pos, max(0, pos - _MAX_SNAP) - 1, -1):
        if p == 0 or text[p - 1].isspace():
            return p
    return pos


def _snap_right(text: str, pos: int) -> int:
    for p in range(pos, min(len(text), pos + _MAX_SNAP) + 1):
        if p == len(text) or text[p].isspace():
            return p
    return pos


def cut(text: str, spans: Iterable[tuple[int, int]], margin: int) -> tuple[list[str], int]:
    """The pieces of `text` left after removing every span widened by `margin` characters, in
    order and stripped (empty ones left out), and the number of characters removed."""
    cuts: list[list[int]] = []
    for start, end in sorted(spans):
        lo = _snap_left(text, max(0, start - margin))
        hi = _snap_right(text, min(len(text), end + margin))
        if cuts and lo <= cuts[-1][1]:
            cuts[-1][1] = max(cuts[-1][1], hi)
        else:
            cuts.append([lo, hi])
    pieces, pos = [], 0
    for lo, hi in cuts:
        pieces.append(text[pos:lo])
        pos = hi
    pieces.append(text[pos:])
    removed = sum(hi - lo for lo, hi in cuts)
    return [p.strip() for p in pieces if p.strip()], removed
