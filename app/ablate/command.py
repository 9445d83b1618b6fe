"""`prep ablate`: the command line of the ablation driver."""

from __future__ import annotations

import argparse
import logging
import sys

from prep.bootstrap import ensure_base_sample
from prep.core.settings import ConfigError
from prep.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from prep.extras import require


def add_ablate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `ablate` subcommand of `prep`."""
    p = subparsers.add_parser(
        "ablate",
        help="compare mixtures: re-mix, train a proxy per variant, rank, fit a regression",
        description="Re-mix the base config's tokenized data for every mixture variant of CONFIG, "
        "train a proxy model on each (Ray tasks, one GPU each when the cluster has GPUs), rank the "
        "variants by validation loss on the same documents and fit a RegMix-style regression. "
        "Writes OUT/ablate.json and OUT/report.html.",
    )
    p.add_argument("config", help="ablation YAML, e.g. configs/ablate.yaml")
    p.add_argument("--address", help="Ray cluster to join: 'auto', 'host:6379' or 'ray://host:10001'")
    p.set_defaults(func=cmd_ablate)
    return p


def cmd_ablate(args: argparse.Namespace) -> int:
    """Exit 2 on a bad config; 1 when no variant could be trained or a proxy failed."""
    from prep.ablate.config import load_ablate_config
    from prep.ablate.driver import AblateError, ablate
    from prep.ablate.report import print_ranking

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        require("train")
        ensure_base_sample(args.config)
        ab = load_ablate_config(args.config)
    except ConfigError as exc:
        print(f"prep ablate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        summary = ablate(ab, address=args.address)
    except AblateError as exc:
        print(f"prep ablate: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print_ranking(summary)
    print(f"output: {ab.out / 'ablate.json'} (report: {ab.out / 'report.html'})")
    if not summary["best"] or any(v["status"] == "failed" for v in summary["variants"]):
        return EXIT_FAILURE
    return EXIT_OK
