"""`prep classifier train`: a fastText quality classifier from reference text against raw text.

The GPT-3 / DCLM recipe: positives are text that looks like what you want (reference
domains: wiki, books, papers; DCLM used OpenHermes + ELI5), negatives a seeded sample of
raw web; fastText supervised with word bigrams; each document one line, normalised as the
stage scores it. Classes are balanced by sampling (reservoirs of `max_docs`, seeded), a
held-out share of each class measures precision, recall and AUC, and the folder written
holds `model.bin` and `card.json` (data, settings, metrics). One thread by default: fastText's
multi-threaded training is not reproducible; a seeded single thread is.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from prep.core.files import write_json_atomic
from prep.stages.classifier.fasttext_model import LABEL_PREFIX, FastTextScorer, normalise

MODEL_FILE = "model.bin"
CARD_FILE = "card.json"


@dataclass(frozen=True)
class TrainSettings:
    label: str = "hq"  # the positive label; negatives are `lq`
    max_docs: int = 50_000  # per class, sampled (reservoir) when a class has more
    valid_fraction: float = 0.1  # of each class, held out
    balance: bool = True  # as many negatives as positives (and the reverse)
    word_ngrams: int = 2
    dim: int = 64
    #: fastText's own defaults (5 epochs, lr 0.1) underfit a few hundred documents: on the
    #: sample (363 per class) they gave held-out AUC 0.88 and scores within 0.002 of 0.5;
    #: 20 epochs at 0.5 gave AUC 1.0 in 6.6 s (20 epochs at 0.1: 0.975).
    epoch: int = 20
    lr: float = 0.5
    min_count: int = 2
    #: Hash buckets of the word bigrams: fastText's default 2M makes a 64-wide model 523 MB
    #: (2M x 64 x 4 bytes), loaded by every actor; 200k makes it ~55 MB, enough for the
    #: n-grams of 50k documents per class.
    bucket: int = 200_000
    threads: int = 1
    seed: int = 0
    max_chars: int | None = None


def reservoir(texts: Iterable[str], k: int, rng: random.Random) -> tuple[list[str], int]:
    """A uniform sample of k non-empty texts (Algorithm R) and how many there were."""
    out: list[str] = []
    n = 0
    for text in texts:
        if not text or not text.strip():
            continue
        n += 1
        if len(out) < k:
            out.append(text)
        else:
            j = rng.randrange(n)
            if j < k:
                out[j] = text
    return out, n


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def held_out_metrics(scores: np.ndarray, positive: np.ndarray, threshold: float = 0.5) -> dict:
    predicted = scores >= threshold
    tp = int((predicted & positive).sum())
    fp = int((predicted & ~positive).sum())
    fn = int((~predicted & positive).sum())
    return {
        "documents": int(scores.size),
        "positives": int(positive.sum()),
        "threshold": threshold,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "accuracy": round(float((predicted == positive).mean()), 4) if scores.size else None,
        "auc": round(auc(scores, positive), 4),
    }


def _split(texts: list[str], fraction: float, rng: random.Random) -> tuple[list[str], list[str]]:
    texts = texts[:]
    rng.shuffle(texts)
    if len(texts) < 2 or fraction <= 0:
        return texts, []
    held = min(max(round(len(texts) * fraction), 1), len(texts) - 1)  # both sides keep one
    return texts[held:], texts[:held]


def train_classifier(
    positive: Iterable[str],
    negative: Iterable[str],
    out: Path,
    settings: TrainSettings = TrainSettings(),
    provenance: dict | None = None,
) -> dict:
    """Sample, train, evaluate and write `out/model.bin` and `out/card.json`; returns the card."""
    import fasttext

    t0 = time.time()
    rng = random.Random(settings.seed)
    pos, n_pos = reservoir(positive, settings.max_docs, rng)
    neg, n_neg = reservoir(negative, settings.max_docs, rng)
    if not pos:
        raise ValueError("classifier train: the positive sources hold no document with text")
    if not neg:
        raise ValueError("classifier train: the negative sources hold no document with text")
    if settings.balance:
        k = min(len(pos), len(neg))
        pos, neg = rng.sample(pos, k), rng.sample(neg, k)
    pos_train, pos_valid = _split(pos, settings.valid_fraction, rng)
    neg_train, neg_valid = _split(neg, settings.valid_fraction, rng)
    good, bad = LABEL_PREFIX + settings.label, LABEL_PREFIX + "lq"
    lines = [f"{good} {normalise(t, settings.max_chars)}" for t in pos_train]
    lines += [f"{bad} {normalise(t, settings.max_chars)}" for t in neg_train]
    rng.shuffle(lines)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        model = fasttext.train_supervised(
            str(train_file),
            wordNgrams=settings.word_ngrams,
            dim=settings.dim,
            epoch=settings.epoch,
            lr=settings.lr,
            minCount=settings.min_count,
            bucket=settings.bucket,
            thread=settings.threads,
            seed=settings.seed,
            verbose=0,
        )
        model_tmp = Path(tmp) / MODEL_FILE
        model.save_model(str(model_tmp))
        os.replace(model_tmp, out / MODEL_FILE)
    scorer = FastTextScorer(out / MODEL_FILE, settings.label, settings.max_chars)
    valid = pos_valid + neg_valid
    truth = np.array([True] * len(pos_valid) + [False] * len(neg_valid))
    card = {
        "model": MODEL_FILE,
        "label": good,
        "negative_label": bad,
        "fasttext": f"fasttext-numpy2 {version('fasttext-numpy2')}",
        "data": {
            "positive": {**(provenance or {}).get("positive", {}), "documents_read": n_pos},
            "negative": {**(provenance or {}).get("negative", {}), "documents_read": n_neg},
            "train": {"positive": len(pos_train), "negative": len(neg_train)},
            "held_out": {"positive": len(pos_valid), "negative": len(neg_valid)},
        },
        "settings": asdict(settings),
        "held_out": held_out_metrics(scorer.scores(valid), truth) if valid else None,
        "seconds": round(time.time() - t0, 2),
    }
    write_json_atomic(out / CARD_FILE, card)
    return card


def card_summary(card: dict) -> str:
    """One line for the terminal."""
    m = card.get("held_out") or {}
    data = card["data"]["train"]
    return (
        f"trained on {data['positive']:,} positive and {data['negative']:,} negative documents; "
        f"held out: precision {m.get('precision')}, recall {m.get('recall')}, AUC {m.get('auc')}"
    )


def read_card(folder: Path) -> dict:
    return json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
