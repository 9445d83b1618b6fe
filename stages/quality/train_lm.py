"""`prep lm train`: a CCNet-style perplexity model from a reference corpus, offline.

There is no `lmplz` here, so the model is estimated by our own modified Kneser-Ney
(`kneser_ney.py`). The text is normalised as the quality stage normalises it, split
into tokens by a SentencePiece-style unigram tokenizer trained on the same text (HF
`tokenizers`), and the folder written holds what the stage needs: `model.arpa`,
`tokenizer.json` and `lm.json` (order, normalisation, counts, where the text came from).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

from prep.core.files import write_json_atomic
from prep.stages.quality.kneser_ney import count_ngrams, estimate, write_arpa
from prep.stages.quality.perplexity import LM_META, Tokenizer, normalise_lines

log = logging.getLogger("prep")

DEFAULT_VOCAB = 16000


def _train_tokenizer(lines: list[str], vocab_size: int, path: Path) -> Tokenizer:
    """A unigram tokenizer with SentencePiece's word-boundary marker (as CCNet's models use)."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    tok = HFTokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, unk_token="<unk>", special_tokens=["<unk>"], show_progress=False
    )
    tok.train_from_iterator(lines, trainer=trainer)
    tmp = path.with_name(path.name + ".tmp")
    tok.save(str(tmp))
    os.replace(tmp, path)
    return Tokenizer(path)


def train_lm(
    texts: Iterable[str],
    out: Path,
    order: int = 5,
    vocab_size: int = DEFAULT_VOCAB,
    normalise: str = "ccnet",
    tokenizer: Path | None = None,
    provenance: dict | None = None,
) -> dict:
    """Train and write a model folder; returns its lm.json."""
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    lines = [line for text in texts for line in normalise_lines(text, normalise)]
    if not lines:
        raise ValueError("lm train: the input has no text")
    if tokenizer is None:
        tok_path = out / "tokenizer.json"
        tok = _train_tokenizer(lines, vocab_size, tok_path)
    else:
        tok_path = out / ("tokenizer.json" if tokenizer.suffix == ".json" else "tokenizer.model")
        tok_path.write_bytes(tokenizer.read_bytes())
        tok = Tokenizer(tok_path)
    t_tok = time.time()
    pieces = tok.pieces(lines)
    counts = count_ngrams(pieces, order)
    model = estimate(counts)
    if model.used_fallback:
        log.warning("lm train: too little text for Kneser-Ney discounts; fixed fallback discounts used")
    write_arpa(model, out / "model.arpa")
    meta = {
        "model": "model.arpa",
        "tokenizer": tok_path.name,
        "normalise": normalise,
        "order": order,
        "lines": len(lines),
        "tokens": int(sum(len(p) for p in pieces)),
        "ngrams": model.sizes(),
        "discount_fallback": bool(model.used_fallback),
        "vocab_size": vocab_size if tokenizer is None else None,
        "seconds": {"tokenizer": round(t_tok - t0, 2), "total": round(time.time() - t0, 2)},
        "trained_on": provenance or {},
    }
    write_json_atomic(out / LM_META, meta)
    return meta
