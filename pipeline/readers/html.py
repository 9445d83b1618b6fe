"""HTML payloads to text: content-type checks, charset decoding, and trafilatura extraction.

Trafilatura is called directly. datatrove's `Trafilatura` extractor calls the same
`trafilatura.extract`, but its `run` sends every page through a pipe to a sandbox subprocess
(a per-page round trip, and a process pool beside Ray that the design rules out); its only gain,
a per-page timeout, does not pay for that here.
"""

from __future__ import annotations

import codecs
import re

from prep.pipeline.readers.logs import quiet

#: Media types of pages worth extracting; everything else (images, PDFs, JSON, ...) is not HTML.
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

#: Types servers send when they do not know: the payload itself decides.
_UNKNOWN_TYPES = frozenset({"", "application/octet-stream", "unknown", "unk", "application/unknown"})

_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)

#: Labels that browsers decode as windows-1252 (WHATWG Encoding Standard), and so must we.
_AS_CP1252 = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "cp819"})

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def parse_content_type(header: str | None) -> tuple[str, str | None]:
    """(lower-case media type, charset or None) of a Content-Type header."""
    if not header:
        return "", None
    mime = header.split(";", 1)[0].strip().lower()
    match = _CHARSET.search(header)
    return mime, match.group(1) if match else None


def may_be_html(mime: str) -> bool:
    """Whether a payload of this type must be read to decide (images and the like need not be)."""
    return mime in HTML_TYPES or mime in _UNKNOWN_TYPES


def is_html(mime: str, payload_head: bytes) -> bool:
    """Whether a payload is HTML: by its declared type, or by sniffing when the type says nothing."""
    if mime in HTML_TYPES:
        return True
    if mime not in _UNKNOWN_TYPES:
        return False
    head = payload_head[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head


def decode_html(data: bytes, charset: str | None) -> str:
    """Decode a page: BOM, then UTF-8 if the bytes are valid UTF-8, then the HTTP header's or the
    page's <meta> charset, then UTF-8 with replacement characters.

    Valid UTF-8 is tried before the declared charset because pages that say latin-1 and send
    UTF-8 are common, while text in another charset that happens to be valid UTF-8 is very rare.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for label in (charset, _meta_charset(data)):
        if label:
            codec = "cp1252" if label.lower() in _AS_CP1252 else label
            try:
                return data.decode(codec, "replace")
            except LookupError:  # an unknown label, or a non-text codec such as "base64"
                continue
    return data.decode("utf-8", "replace")


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data, 0, 4096)
    return match.group(1).decode("ascii") if match else None


def extract_text(html: str) -> str | None:
    """Main text of a page, without navigation, footers or comments; None if there is none."""
    import trafilatura  # imported on first use: importing the readers stays cheap

    quiet("trafilatura", "htmldate", "justext", "courlan")
    return trafilatura.extract(
        html,
        # Pre-training text wants clean prose more than every last line: precision mode drops
        # more link lists, teasers and other boilerplate (the setting FineWeb chose).
        favor_precision=True,
        # fast skips the readability/jusText fallback comparison: on 500 real documentation pages
        # the text was identical for 482 at twice the speed; the fallback only helps pages with
        # little main text, which quality filters mostly drop anyway.
        fast=True,
        include_comments=False,  # reader comments are mostly short, low-quality text
        include_tables=True,  # tables often carry the page's facts
        include_images=False,
        include_links=False,
        include_formatting=False,
        # Trafilatura's dedup keeps an LRU cache per process: results would depend on which pages
        # a worker saw before. Deduplication is its own stage.
        deduplicate=False,
        with_metadata=False,  # metadata (htmldate etc.) costs time and is not used
        output_format="txt",
    )
