"""Rule-based quality filters: datatrove's Gopher, C4 and FineWeb blocks, per document.

datatrove's filter blocks are reused as they are (their `filter(doc)` is the rule set
of the papers); this module only picks the block instance for the document's language,
turns its verdict into a prep rule code, and keeps the text a block rewrote (C4 drops
lines without terminal punctuation, citations, javascript and policy lines).
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from prep.stages.quality.words import word_tokenizer

log = logging.getLogger("prep")

#: Config key -> (datatrove class name, prefix of its rule codes).
FILTERS: dict[str, tuple[str, str]] = {
    "gopher_quality": ("GopherQualityFilter", "gopher"),
    "gopher_repetition": ("GopherRepetitionFilter", "gopher_rep"),
    "c4": ("C4QualityFilter", "c4"),
    "fineweb": ("FineWebQualityFilter", "fineweb"),
}

#: Arguments of the datatrove blocks that prep sets itself.
_MANAGED_ARGS = {"self", "exclusion_writer", "language", "batch_size"}


def _filter_class(key: str):
    from datatrove.pipeline import filters

    return getattr(filters, FILTERS[key][0])


def filter_arguments(key: str) -> dict[str, inspect.Parameter]:
    """The thresholds a datatrove block accepts (what users may set in the config)."""
    params = inspect.signature(_filter_class(key).__init__).parameters
    return {n: p for n, p in params.items() if n not in _MANAGED_ARGS and p.kind is p.POSITIONAL_OR_KEYWORD}


class FilterConfig(BaseModel):
    """One filter block: where it applies, plus any threshold of the datatrove block."""

    model_config = ConfigDict(extra="allow", frozen=True)

    languages: list[str] | None = None  # apply to documents of these languages; null: all
    domains: list[str] | None = None  # apply to documents of these domains; null: all

    def thresholds(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class HeuristicsConfig(BaseModel):
    """Each block is on with datatrove's defaults (`{}`), tuned (`{min_doc_words: 100}`), or
    off (`false`). Gopher's quality rules count English stop words, so they default to English."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: `regex`: spaCy's rules for the language redone in Python with a chunk cache (6.5x faster
    #: than spaCy cold, 11-19x warm; the same decisions on 13 languages, docs/benchmarks.md);
    #: `datatrove`: datatrove's own tokenizer for the language (spaCy).
    word_tokenizer: Literal["regex", "datatrove"] = "regex"
    gopher_quality: FilterConfig | None = FilterConfig(languages=["en"])
    gopher_repetition: FilterConfig | None = FilterConfig()
    c4: FilterConfig | None = FilterConfig()
    fineweb: FilterConfig | None = FilterConfig()

    @model_validator(mode="before")
    @classmethod
    def _false_is_off(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: (None if v is False else ({} if v is True else v)) for k, v in data.items()}
        gopher = data.get("gopher_quality")
        if isinstance(gopher, dict) and "languages" not in gopher:
            data["gopher_quality"] = {**gopher, "languages": ["en"]}
        return data

    @model_validator(mode="after")
    def _known_thresholds(self) -> HeuristicsConfig:
        problems = []
        for key in FILTERS:
            block: FilterConfig | None = getattr(self, key)
            if block is None:
                continue
            known = filter_arguments(key)
            for name in block.thresholds():
                if name not in known:
                    problems.append(f"{key}.{name}: unknown threshold (known: {', '.join(sorted(known))})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def enabled(self) -> dict[str, FilterConfig]:
        return {k: getattr(self, k) for k in FILTERS if getattr(self, k) is not None}


@dataclass
class Decision:
    rule: str | None  # None keeps the document
    text: str  # the text after the blocks that rewrite it
    skipped: list[str]  # blocks that could not run on this language (no word tokenizer)


class Heuristics:
    """The enabled blocks, one instance per (block, language), built on first use."""

    def __init__(self, config: HeuristicsConfig):
        self.config = config
        self.blocks = config.enabled()
        self._instances: dict[tuple[str, str], Any] = {}
        self._unsupported: set[tuple[str, str]] = set()
        self._tokenizers: dict[str, Any] = {}  # one per language, shared by its blocks

    def _instance(self, key: str, lang: str):
        """The block for this language, or None when datatrove has no word tokenizer for it."""
        slot = (key, lang)
        if slot in self._unsupported:
            return None
        if slot not in self._instances:
            try:
                if lang not in self._tokenizers:
                    self._tokenizers[lang] = word_tokenizer(lang, self.config.word_tokenizer)
                block = _filter_class(key)(language=self._tokenizers[lang], **self.blocks[key].thresholds())
                block.filter(_document("A short check. It has two sentences."))  # loads the tokenizer
            except (ImportError, ValueError, LookupError, OSError) as exc:
                log.warning("quality: %s cannot run on language %s (%s); documents pass it", key, lang, exc)
                self._unsupported.add(slot)
                return None
            self._instances[slot] = block
        return self._instances[slot]

    def check(self, text: str, lang: str | None, domain: str) -> Decision:
        lang = lang or "en"
        skipped = []
        for key, block_cfg in self.blocks.items():
            if block_cfg.languages is not None and lang not in block_cfg.languages:
                continue
            if block_cfg.domains is not None and domain not in block_cfg.domains:
                continue
            block = self._instance(key, lang)
            if block is None:
                skipped.append(key)
                continue
            doc = _document(text)
            result = block.filter(doc)
            keep, reason = result if isinstance(result, tuple) else (result, None)
            if not keep:
                return Decision(_rule(key, reason), text, skipped)
            text = doc.text
            if not text.strip():
                return Decision(_rule(key, "empty_after_cleaning"), text, skipped)
        return Decision(None, text, skipped)


def _document(text: str):
    from datatrove.data import Document

    return Document(text=text, id="")


def _rule(key: str, reason: str | None) -> str:
    """A stable rule code: the block's prefix and datatrove's reason (`gopher_short_doc`)."""
    prefix = FILTERS[key][1]
    reason = (reason or "failed").replace(" ", "_").replace("<", "lt").strip("_")
    return reason if reason.startswith(prefix + "_") else f"{prefix}_{reason}"
