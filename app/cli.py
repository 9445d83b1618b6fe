"""`prep` command line. Exit codes: 0 ok, 2 bad config or command line, 1 run failure."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from prep import __version__
from prep.ablate.command import add_ablate_parser
from prep.bootstrap import SAMPLE_DIR, build_sample, ensure_base_sample, ensure_sample
from prep.classifier_command import add_classifier_parser
from prep.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from prep.export.command import add_export_parser
from prep.train_command import add_train_parser

err_console = Console(stderr=True, soft_wrap=True)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; make the message one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
        force=True,
    )


def cmd_validate(args: argparse.Namespace) -> int:
    from prep.pipeline.config import load_config, read_yaml

    data = read_yaml(args.config)
    if isinstance(data, dict) and "base" in data and "sources" not in data:  # a `prep ablate` config
        from prep.ablate.config import load_ablate_config

        ensure_base_sample(args.config)
        ab = load_ablate_config(args.config)
        print(f"{args.config}: ok (ablation of {ab.config.base}; {len(ab.variants)} variants)")
        return EXIT_OK
    ensure_sample(args.config)
    config = load_config(args.config)
    names = ", ".join(s.name for s in config.stages) or "no stages"
    print(f"{args.config}: ok ({len(config.sources)} sources; stages: {names})")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from prep.pipeline.config import load_config
    from prep.pipeline.runner import run
    from prep.pipeline.summary import print_summary

    ensure_sample(args.config)
    config = load_config(args.config)
    from prep.core.files import read_json

    result = run(config, fresh=args.fresh, address=args.address, output=args.output)
    print_summary(result.stats, manifest=read_json(result.output / "manifest.json"))
    print(f"output: {result.output} (report: {result.output / 'report.html'})")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from prep.core.files import read_json
    from prep.pipeline.summary import print_summary

    stats_path = Path(args.out) / "stats.json"
    if not stats_path.is_file():
        err_console.print(f"prep report: {stats_path} not found (is {args.out} the output of a prep run?)")
        return EXIT_USAGE
    from prep.pipeline.report import write_report

    manifest_path = Path(args.out) / "manifest.json"
    print_summary(
        read_json(stats_path), manifest=read_json(manifest_path) if manifest_path.is_file() else None
    )
    print(f"report: {write_report(Path(args.out))}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from prep.pipeline.verify import verify

    problems, summary = verify(Path(args.out), address=args.address)
    for problem in problems:
        err_console.print(f"prep verify: {problem}", markup=False, highlight=False)
    if problems:
        return EXIT_FAILURE
    print(
        f"{args.out}: {summary['shards']} shards ok; train {summary['train']['docs']:,} docs "
        f"{summary['train']['tokens']:,} tokens, val {summary['val']['docs']:,} docs "
        f"{summary['val']['tokens']:,} tokens, disjoint"
    )
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    manifest = build_sample(Path(args.dest), force=args.force)
    print(f"sample corpus in {args.dest}: {manifest.get('description', '')}".rstrip(": "))
    return EXIT_OK


def cmd_lm_train(args: argparse.Namespace) -> int:
    from prep.pipeline.readers import guess_format, read_texts
    from prep.stages.quality.train_lm import train_lm

    fmt = args.format or guess_format(args.input[0])
    provenance = {"format": fmt, "paths": args.input, "text_field": args.text_field}
    tokenizer = Path(args.tokenizer) if args.tokenizer else None
    try:
        texts = read_texts(args.input, fmt, args.text_field)
        meta = train_lm(
            texts, Path(args.out), args.order, args.vocab_size, args.normalise, tokenizer, provenance
        )
    except FileNotFoundError as exc:
        err_console.print(f"prep lm train: {exc}", markup=False)
        return EXIT_USAGE
    print(
        f"{args.out}: order {meta['order']}, {meta['tokens']:,} tokens in {meta['lines']:,} lines, "
        f"n-grams {meta['ngrams']}, {meta['seconds']['total']:.1f} s"
    )
    return EXIT_OK


def cmd_benchmarks_list(args: argparse.Namespace) -> int:
    from prep.stages.decontam import Config as DecontamConfig
    from prep.stages.decontam.listing import format_table, list_benchmarks

    decontam = None
    if args.config:
        from prep.pipeline.config import load_config

        config = load_config(args.config)
        decontam = next((s.config for s in config.stages if s.name == "decontam"), None)
        if decontam is None:
            err_console.print(f"prep benchmarks list: {args.config} has no decontam stage", markup=False)
            return EXIT_USAGE
    print(format_table(list_benchmarks(decontam or DecontamConfig())))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prep", description="Prepare LLM pre-training data on Ray.")
    parser.add_argument("--version", action="version", version=f"prep {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="run the pipeline of a config", description="Run the pipeline of CONFIG.")
    p.add_argument("config", help="YAML config, e.g. configs/mix.yaml")
    p.add_argument("--address", help="Ray cluster to join: 'auto', 'host:6379' or 'ray://host:10001'")
    p.add_argument("--output", help="output directory (overrides run.output)")
    p.add_argument("--fresh", action="store_true", help="ignore checkpoints and recompute every pass")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a config without running it", description="Check CONFIG.")
    p.add_argument("config")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "report",
        help="summarise a run's output",
        description="Print the funnel of the run in OUT and write OUT/report.html.",
    )
    p.add_argument("out", help="the run's output directory (run.output)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "verify",
        help="check shards against the manifest",
        description="Re-read every shard of OUT: checksums, counts, end-of-text tokens, train/val disjoint.",
    )
    p.add_argument("out", help="the run's output directory (run.output)")
    p.add_argument("--address", help="Ray cluster to check on: 'auto', 'host:6379' or 'ray://host:10001'")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "sample", help="build the bundled sample corpus", description="Build the sample corpus offline."
    )
    p.add_argument("--dest", default=str(SAMPLE_DIR), help="where to write it (default data/sample)")
    p.add_argument("--force", action="store_true", help="rebuild even if it exists")
    p.set_defaults(func=cmd_sample)

    lm = sub.add_parser("lm", help="perplexity models", description="Perplexity (KenLM n-gram) models.")
    lm_sub = lm.add_subparsers(dest="lm_command", required=True, parser_class=_Parser)
    p = lm_sub.add_parser(
        "train",
        help="train a Kneser-Ney n-gram model offline",
        description="Estimate a modified Kneser-Ney n-gram model (ARPA, loads in kenlm) and its "
        "tokenizer from reference text, normalised as the quality stage normalises it.",
    )
    p.add_argument("--input", action="append", required=True, help="file glob (repeatable)")
    p.add_argument("--format", choices=["jsonl", "parquet", "text", "warc", "wet"], help="default: by name")
    p.add_argument("--text-field", default="text", help="jsonl/parquet field with the text")
    p.add_argument("--order", type=int, default=5, help="n-gram order (default 5, as CCNet)")
    p.add_argument("--out", required=True, help="folder to write model.arpa, tokenizer.json, lm.json")
    p.add_argument("--vocab-size", type=int, default=16000, help="tokenizer vocabulary (default 16000)")
    p.add_argument("--tokenizer", help="use this tokenizer (.model or tokenizer.json) instead of training")
    p.add_argument("--normalise", choices=["ccnet", "none"], default="ccnet")
    p.set_defaults(func=cmd_lm_train)

    bench = sub.add_parser(
        "benchmarks", help="benchmarks for decontamination", description="Benchmarks the decontam stage uses."
    )
    bench_sub = bench.add_subparsers(dest="benchmarks_command", required=True, parser_class=_Parser)
    p = bench_sub.add_parser(
        "list",
        help="list the benchmarks, their source files, items and indexed n-grams",
        description="List the bundled benchmarks (and a config's user benchmarks): where each one is "
        "read from, how many items it has and how many n-grams the decontam index holds for it.",
    )
    p.add_argument("--config", help="use this config's decontam settings and user benchmarks")
    p.set_defaults(func=cmd_benchmarks_list)

    add_classifier_parser(sub)
    add_train_parser(sub)
    add_ablate_parser(sub)
    add_export_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from prep.core.settings import ConfigError
    from prep.pipeline.accounting import AccountingError

    args = build_parser().parse_args(argv)
    verbose = args.verbose or bool(os.environ.get("PREP_DEBUG"))
    _setup_logging(verbose)
    try:
        return args.func(args)
    except ConfigError as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        return EXIT_USAGE
    except AccountingError as exc:
        err_console.print(f"prep: accounting check failed, no output is trustworthy: {exc}", markup=False)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        err_console.print("prep: interrupted; completed passes are kept and a re-run resumes from them")
        return EXIT_FAILURE
    except Exception as exc:
        from prep.pipeline.failures import describe, find_failure

        if verbose:
            err_console.print_exception()
        failure = find_failure(exc)
        told = str(failure) if failure is not None else describe(exc)
        hint = "" if verbose else " (--verbose shows the traceback)"
        err_console.print(f"prep: run failed: {told}{hint}", markup=False, highlight=False)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
