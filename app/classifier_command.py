"""`prep classifier train`: the command line of the quality classifier's trainer.

Positive and negative sources are named the same way: a domain or source name of
`--config` (its format, paths and text field), or a file glob (format by name, or
`--format`). The trainer reads a bounded seeded sample of each in this process.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from prep.exits import EXIT_OK, EXIT_USAGE

log = logging.getLogger("prep")


def _sources(items: list[str], config_path: str | None, fmt: str | None, text_field: str) -> list:
    """The SourceConfigs an argument list names (config domains/sources first, then globs)."""
    from prep.pipeline.config import SourceConfig, load_config
    from prep.pipeline.readers import guess_format

    configured = load_config(config_path).sources if config_path else []
    out = []
    for item in items:
        named = [s for s in configured if item in (s.domain, s.name)]
        if named:
            out += named
        else:
            out.append(
                SourceConfig(
                    name="input",
                    domain="input",
                    format=fmt or guess_format(item),
                    paths=[item],
                    text_field=text_field,
                )
            )
    return out


def _texts(sources: list) -> Iterator[str]:
    from prep.pipeline.readers import read_source_texts

    for source in sources:
        yield from read_source_texts(source)


def _provenance(items: list[str], sources: list) -> dict:
    return {"named": items, "paths": [p for s in sources for p in s.paths]}


def cmd_classifier_train(args: argparse.Namespace) -> int:
    from prep.core.settings import ConfigError
    from prep.pipeline.sources import list_input_files
    from prep.stages.classifier.train import TrainSettings, card_summary, train_classifier

    settings = TrainSettings(
        label=args.label,
        max_docs=args.max_docs,
        valid_fraction=args.valid_fraction,
        word_ngrams=args.word_ngrams,
        dim=args.dim,
        epoch=args.epoch,
        lr=args.lr,
        min_count=args.min_count,
        bucket=args.bucket,
        threads=args.threads,
        seed=args.seed,
        max_chars=args.max_chars,
    )
    try:
        pos = _sources(args.positive, args.config, args.format, args.text_field)
        neg = _sources(args.negative, args.config, args.format, args.text_field)
        for name, group in (("positive", pos), ("negative", neg)):
            for source in group:
                if not list_input_files(source.paths):
                    raise FileNotFoundError(f"--{name}: no file matches {source.paths}")
        provenance = {
            "positive": _provenance(args.positive, pos),
            "negative": _provenance(args.negative, neg),
        }
        card = train_classifier(_texts(pos), _texts(neg), Path(args.out), settings, provenance)
    except (FileNotFoundError, ValueError, ConfigError) as exc:
        print(f"prep classifier train: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.out}: {card_summary(card)}")
    return EXIT_OK


def add_classifier_parser(sub) -> None:
    cls = sub.add_parser(
        "classifier", help="quality classifiers", description="fastText quality classifiers."
    )
    cls_sub = cls.add_subparsers(dest="classifier_command", required=True, parser_class=type(cls))
    p = cls_sub.add_parser(
        "train",
        help="train a fastText quality classifier offline",
        description="Train a fastText supervised classifier (word bigrams, the GPT-3/DCLM recipe) on "
        "positive reference text against negative raw text; writes model.bin and card.json (data, "
        "settings, held-out precision/recall/AUC) to --out.",
    )
    p.add_argument("--positive", action="append", required=True, help="config domain/source or glob")
    p.add_argument("--negative", action="append", required=True, help="config domain/source or glob")
    p.add_argument("--config", help="a prep config whose sources --positive/--negative may name")
    p.add_argument("--format", choices=["jsonl", "parquet", "text", "warc", "wet"], help="for globs")
    p.add_argument("--text-field", default="text", help="jsonl/parquet field with the text (globs)")
    p.add_argument("--out", required=True, help="folder to write model.bin and card.json")
    p.add_argument("--label", default="hq", help="the positive label (default hq, as DCLM's model)")
    p.add_argument("--max-docs", type=int, default=50_000, help="per class, seeded sample (default 50000)")
    p.add_argument("--valid-fraction", type=float, default=0.1, help="held out per class (default 0.1)")
    p.add_argument("--word-ngrams", type=int, default=2, help="fastText wordNgrams (default 2)")
    p.add_argument("--dim", type=int, default=64, help="embedding size (default 64)")
    p.add_argument("--epoch", type=int, default=20, help="epochs (default 20)")
    p.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    p.add_argument("--min-count", type=int, default=2, help="words seen fewer times are dropped")
    p.add_argument("--bucket", type=int, default=200_000, help="n-gram hash buckets (default 200000)")
    p.add_argument("--threads", type=int, default=1, help="1 (default) is reproducible, more is not")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-chars", type=int, help="train on the first N characters of each document")
    p.set_defaults(func=cmd_classifier_train)
