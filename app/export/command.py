"""`prep export OUT --format F --to DIR`: the command line of the export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prep.exits import EXIT_OK, EXIT_USAGE


def add_export_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `export` subcommand of `prep`."""
    from prep.export.job import FORMATS

    p = subparsers.add_parser(
        "export",
        help="write a run's shards in another trainer's format",
        description="Convert the Arrow shards of OUT, shard by shard on Ray, into FORMAT under DIR: "
        "megatron (Megatron-LM / NeMo .bin + .idx), llmc (llm.c / nanoGPT token files) or hf "
        "(a Hugging Face datasets folder of Parquet). DIR/export.json lists every file.",
    )
    p.add_argument("out", help="the run's output directory (run.output)")
    p.add_argument("--format", required=True, choices=sorted(FORMATS))
    p.add_argument("--to", required=True, help="folder to write (created, or a previous export replaced)")
    p.add_argument("--address", help="Ray cluster to join: 'auto', 'host:6379' or 'ray://host:10001'")
    p.set_defaults(func=cmd_export)
    return p


def cmd_export(args: argparse.Namespace) -> int:
    """Exit 2 when OUT or DIR cannot be used as asked."""
    from prep.export.job import ExportError, export

    try:
        summary = export(Path(args.out), args.format, Path(args.to), address=args.address)
    except ExportError as exc:
        print(f"prep export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    counts = ", ".join(f"{s} {v['docs']:,} docs {v['tokens']:,} tokens" for s, v in summary["splits"].items())
    print(f"{args.to}: {args.format}, {len(summary['files'])} files; {counts}")
    return EXIT_OK
