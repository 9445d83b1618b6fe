"""Perplexity under a KenLM n-gram model, the way CCNet computes it.

Each line of a document is normalised (lower case, accents stripped, digits to 0,
Unicode punctuation to ASCII, control characters removed), tokenised with the model's
own tokenizer (SentencePiece as CCNet ships it, or an HF `tokenizers` JSON as
`prep lm train` writes it) and scored by `kenlm`; the document's perplexity is
10^(-sum of line log10 scores / (tokens + one end-of-line per line)).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import unicodedata
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

#: Written by `prep lm train` beside the model: order, tokenizer, normalisation, provenance.
LM_META = "lm.json"
#: The first bytes of a KenLM binary model.
KENLM_BINARY_MAGIC = b"mmap lm http://kheafield.com/code"
#: ARPA files smaller than this are fully loaded at config validation to prove they parse.
ARPA_CHECK_BYTES = 500_000_000

#: Unicode punctuation mapped to ASCII before scoring (CCNet's normalisation).
_PUNCT = {
    "，": ",",
    "。": ". ",
    "、": ",",
    "”": '"',
    "“": '"',
    "∶": ":",
    "：": ":",
    "？": "?",
    "《": '"',
    "》": '"',
    "）": ")",
    "！": "!",
    "（": "(",
    "；": ";",
    "」": '"',
    "「": '"',
    "–": "-",
    "—": " - ",
    "．": ". ",
    "～": "~",
    "’": "'",
    "…": "...",
    "━": "-",
    "〈": "<",
    "〉": ">",
    "【": "[",
    "】": "]",
    "％": "%",
    "►": "-",
}


@functools.lru_cache(maxsize=1)
def _table() -> dict[int, str | None]:
    """One `str.translate` table: combining marks and control characters removed, every
    Unicode digit to 0, punctuation to ASCII. A translate pass is C speed; per-character
    Python (unicodedata.category on each character) made normalisation 6x slower."""
    table: dict[int, str | None] = {}
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat == "Mn" or cp < 32 or 127 <= cp < 160:
            table[cp] = None
        elif cat == "Nd":
            table[cp] = "0"
    for src, dst in _PUNCT.items():
        table[ord(src)] = dst
    return table


def normalise_line(line: str) -> str:
    """CCNet's normalisation of one line (the model was trained on text normalised so)."""
    line = line.strip()
    if not line:
        return line
    return unicodedata.normalize("NFD", line.lower()).translate(_table()).strip()


def normalise_lines(text: str, how: str = "ccnet") -> list[str]:
    """The non-empty lines of a document, normalised: the units CCNet scores."""
    clean = normalise_line if how == "ccnet" else str.strip
    return [line for line in map(clean, text.split("\n")) if line]


class LMSpec(BaseModel):
    """One language's model: a folder from `prep lm train`, or a model and its tokenizer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: str | None = None  # folder with lm.json, the ARPA/binary model and its tokenizer
    model: str | None = None  # ARPA or KenLM binary (CCNet: en.arpa.bin)
    tokenizer: str | None = None  # SentencePiece .model (CCNet: en.sp.model) or HF tokenizer.json
    normalise: Literal["ccnet", "none"] = "ccnet"

    @model_validator(mode="after")
    def _one_way(self) -> LMSpec:
        if self.dir is None and (self.model is None or self.tokenizer is None):
            raise ValueError("give either dir: (from `prep lm train`) or both model: and tokenizer:")
        if self.dir is not None and (self.model is not None or self.tokenizer is not None):
            raise ValueError("dir: already names the model and tokenizer; drop model:/tokenizer:")
        return self

    def resolve(self) -> tuple[Path, Path, str]:
        """(model file, tokenizer file, normalisation)."""
        if self.dir is None:
            assert self.model is not None and self.tokenizer is not None
            return Path(self.model), Path(self.tokenizer), self.normalise
        folder = Path(self.dir)
        meta = json.loads((folder / LM_META).read_text(encoding="utf-8"))
        return folder / meta["model"], folder / meta["tokenizer"], meta.get("normalise", "ccnet")

    def files(self) -> list[Path]:
        """Every file the model is read from (lm.json too: it names the others)."""
        if self.dir is None:
            return [Path(self.model or ""), Path(self.tokenizer or "")]
        try:
            model, tokenizer, _ = self.resolve()
        except (OSError, ValueError, KeyError):  # check() reports it
            return [Path(self.dir) / LM_META]
        return [Path(self.dir) / LM_META, model, tokenizer]

    def check(self) -> list[str]:
        """Problems a run would hit, found at config validation instead of mid-run."""
        if self.dir is not None:
            folder = Path(self.dir)
            if not (folder / LM_META).is_file():
                return [f"dir: {folder} has no {LM_META} (is it a `prep lm train` output?)"]
            try:
                model, tokenizer, _ = self.resolve()
            except (ValueError, KeyError) as exc:
                return [f"dir: {folder / LM_META} is not valid ({exc})"]
        else:
            model, tokenizer, _ = self.resolve()
        problems = [f"model: {p}" for p in check_model_file(model)]
        problems += [f"tokenizer: {p}" for p in check_tokenizer_file(tokenizer)]
        return problems


def check_model_file(path: Path) -> list[str]:
    if not path.is_file():
        return [f"file not found: {path}"]
    with open(path, "rb") as f:
        head = f.read(64)
    binary = head.startswith(KENLM_BINARY_MAGIC)
    if not binary and not head.lstrip().startswith(b"\\data\\"):
        return [f"not an ARPA or KenLM binary model: {path}"]
    if binary or path.stat().st_size <= ARPA_CHECK_BYTES:
        try:
            load_kenlm(path, lazy=True)
        except Exception as exc:  # kenlm raises OSError/RuntimeError with its own message
            return [f"kenlm cannot load {path}: {str(exc).splitlines()[0] if str(exc) else exc}"]
    return []


def check_tokenizer_file(path: Path) -> list[str]:
    if not path.is_file():
        return [f"file not found: {path}"]
    try:
        load_tokenizer(path)
    except Exception as exc:
        return [f"not a SentencePiece model or tokenizer.json: {path} ({exc})"]
    return []


def load_kenlm(path: Path, lazy: bool = False):
    """kenlm.Model, without the progress bar of stars it draws on stderr while reading ARPA
    (into every Ray worker's log); kenlm's errors still arrive as exceptions."""
    import kenlm

    config = kenlm.Config()
    if lazy:  # map a binary model instead of reading it (validation of multi-GB CCNet models)
        config.load_method = kenlm.LoadMethod.LAZY
    with _quiet_stderr():
        return kenlm.Model(str(path), config)


@contextlib.contextmanager
def _quiet_stderr():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Tokenizer:
    """Splits normalised lines into the model's tokens, as space-joined strings for kenlm."""

    def __init__(self, path: Path):
        self.path = path
        if path.suffix == ".json":
            from tokenizers import Tokenizer as HFTokenizer

            self._hf = HFTokenizer.from_file(str(path))
            self._sp = None
        else:
            import sentencepiece

            self._sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
            self._hf = None

    def pieces(self, lines: list[str]) -> list[list[str]]:
        if not lines:
            return []
        if self._hf is not None:
            return [e.tokens for e in self._hf.encode_batch(lines, add_special_tokens=False)]
        return self._sp.encode(lines, out_type=str)


def load_tokenizer(path: Path) -> Tokenizer:
    return Tokenizer(path)


class PerplexityModel:
    """A language's KenLM model with its tokenizer and normalisation."""

    def __init__(self, spec: LMSpec):
        model, tokenizer, self.normalise = spec.resolve()
        self.model = load_kenlm(model)
        self.tokenizer = load_tokenizer(tokenizer)

    def tokenised_lines(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """Every document's lines as space-joined tokens, and each document's line count."""
        per_doc = [normalise_lines(t, self.normalise) for t in texts]
        counts = np.array([len(lines) for lines in per_doc], dtype=np.int64)
        flat = [line for lines in per_doc for line in lines]
        return [" ".join(p) for p in self.tokenizer.pieces(flat)], counts

    def perplexities(self, texts: list[str]) -> np.ndarray:
        """Perplexity of each document (NaN when it has no scorable line)."""
        lines, counts = self.tokenised_lines(texts)
        return score_lines(self.model, lines, counts)


def score_lines(model, lines: list[str], counts: np.ndarray) -> np.ndarray:
    """Documents' perplexities from their tokenised lines (`counts[i]` lines for document i).

    The kernel the benchmark compares with raw kenlm: one `score` call per line, as a
    user of kenlm writes it, and numpy for the per-document sums.
    """
    score = model.score
    logs = np.fromiter((score(line) for line in lines), dtype=np.float64, count=len(lines))
    tokens = np.fromiter((line.count(" ") + 2 for line in lines), dtype=np.float64, count=len(lines))
    doc_of_line = np.repeat(np.arange(len(counts)), counts)
    doc_log = np.bincount(doc_of_line, weights=logs, minlength=len(counts))
    doc_len = np.bincount(doc_of_line, weights=tokens, minlength=len(counts))
    out = np.full(len(counts), np.nan)
    has = counts > 0
    out[has] = 10.0 ** (-doc_log[has] / doc_len[has])
    return out
