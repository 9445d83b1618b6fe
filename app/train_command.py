"""`prep train`: the command line of the training loop (`torchrun -m prep train` on many GPUs).

Importing this module does not import torch, so `prep --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from prep.exits import EXIT_OK, EXIT_USAGE
from prep.extras import require
from prep.training.config import PRESETS

#: (flag, TrainConfig key, type, help); every flag defaults to "not given" so a --config file shows through.
FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--out", "out", str, "run folder for config.json, log.jsonl, loss.png, summary.json, checkpoints/"),
    ("--n-layer", "n_layer", int, "override the preset's number of layers"),
    ("--n-head", "n_head", int, "override the preset's attention heads"),
    ("--n-embd", "n_embd", int, "override the preset's width"),
    ("--seq-len", "seq_len", int, "tokens per sequence (default 256)"),
    ("--batch-size", "batch_size", int, "sequences per micro-batch per process (default 8)"),
    ("--grad-accum", "grad_accum", int, "micro-batches per optimizer step (default 1)"),
    ("--steps", "steps", int, "optimizer steps (default 300)"),
    ("--lr", "lr", float, "peak learning rate (default by size: tiny 3e-3 ... 350m 3e-4)"),
    ("--min-lr-ratio", "min_lr_ratio", float, "cosine floor as a fraction of --lr (default 0.1)"),
    ("--warmup-steps", "warmup_steps", int, "linear warmup steps (default 5%% of --steps)"),
    ("--weight-decay", "weight_decay", float, "AdamW weight decay on matrices (default 0.1)"),
    ("--grad-clip", "grad_clip", float, "clip the gradient norm to this; 0 = off (default 1.0)"),
    ("--seed", "seed", int, "initialisation and data order (default 0)"),
    ("--pack-buffer", "pack_buffer", int, "look-ahead units when packing sequences (default 64)"),
    ("--eval-every", "eval_every", int, "steps between validations; 0 = at the end only (default)"),
    ("--eval-batch-size", "eval_batch_size", int, "sequences per validation batch (default --batch-size)"),
    ("--log-every", "log_every", int, "steps between log rows (default 10)"),
    ("--ckpt-every", "ckpt_every", int, "steps between checkpoints; 0 = at the end only (default)"),
    ("--keep-checkpoints", "keep_checkpoints", int, "checkpoints kept on disk (default 2)"),
    ("--stop-after", "stop_after", int, "stop with a checkpoint after this step; --resume continues"),
    ("--peak-tflops", "peak_tflops", float, "device peak for MFU when the GPU is not in prep's table"),
)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="?", help="output folder of a prep run (manifest.json, shards/)")
    p.add_argument("--config", help="YAML file of training settings (keys as the flags, with _); flags win")
    p.add_argument("--model", choices=list(PRESETS), help="model size (default tiny)")
    for flag, _key, kind, text in FLAGS:
        p.add_argument(flag, type=kind, help=text)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default auto: CUDA when available")
    p.add_argument(
        "--dtype", choices=["auto", "bf16", "fp32"], help="auto: bf16 autocast on CUDA, fp32 on CPU"
    )
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, help="torch.compile the model")
    p.add_argument("--domain-weights", help="token share per domain at sampling time, e.g. web=0.5,code=0.5")
    p.add_argument(
        "--eval-tokens", help="validation tokens per domain, whole documents (default 1048576; all)"
    )
    p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, help="also write out/tb events")
    p.add_argument("--plot", action=argparse.BooleanOptionalAction, help="write out/loss.png (default on)")
    p.add_argument("--verify-shards", action=argparse.BooleanOptionalAction, help="check shard sha256s first")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.set_defaults(func=cmd_train)


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `train` subcommand of `prep`."""
    p = subparsers.add_parser(
        "train",
        help="train a small GPT on a run's shards",
        description="Train a small GPT on the shards of a prep run (OUT/manifest.json, OUT/shards/) "
        "and report validation loss and bits per byte per domain. Several GPUs: "
        "torchrun --nproc_per_node N -m prep train OUT ...",
    )
    add_train_arguments(p)
    return p


def config_from_args(args: argparse.Namespace):
    from prep.core.settings import ConfigError
    from prep.training.config import load_train_config
    from prep.training.data import parse_domain_weights

    overrides: dict[str, Any] = {key: getattr(args, key) for _flag, key, _kind, _text in FLAGS}
    for key in ("data", "model", "device", "dtype", "compile", "tensorboard", "plot", "verify_shards"):
        overrides[key] = getattr(args, key)
    nulls = []
    if args.eval_tokens is not None:
        if args.eval_tokens == "all":
            nulls.append("eval_tokens")
        elif args.eval_tokens.isdigit() and int(args.eval_tokens) > 0:
            overrides["eval_tokens"] = int(args.eval_tokens)
        else:
            raise ConfigError(
                [f"eval_tokens: expected a positive number or 'all' (got {args.eval_tokens!r})"]
            )
    try:
        overrides["domain_weights"] = parse_domain_weights(args.domain_weights)
    except ValueError as exc:
        raise ConfigError([f"domain_weights: {exc}"]) from exc
    return load_train_config(args.config, overrides, nulls)


def cmd_train(args: argparse.Namespace) -> int:
    from prep.core.settings import ConfigError

    require("train")
    from prep.training.data import ShardError

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    if int(os.environ.get("RANK", "0")) != 0:
        logging.getLogger("prep.train").setLevel(logging.WARNING)
    try:
        cfg = config_from_args(args)
        from prep.training.train import train

        summary = train(cfg, resume=args.resume)
    except (ConfigError, ShardError) as exc:
        print(f"prep train: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if int(os.environ.get("RANK", "0")) == 0:
        print(format_summary(summary, cfg.out))
    return EXIT_OK


def format_summary(summary: dict[str, Any], out: str) -> str:
    state = "finished" if summary["finished"] else "stopped"
    lines = [
        f"{out}: {state} at step {summary['step']}/{summary['steps']}, {summary['tokens']:,} tokens, "
        f"{summary['params'] / 1e6:.2f}M parameters"
        + (f", train loss {summary['train_loss']:.4f}" if summary.get("train_loss") is not None else "")
    ]
    val = summary.get("val")
    if val:
        lines.append(f"  {'domain':<12} {'val loss':>9} {'bpb':>7} {'tokens':>11}")
        for name, m in val["domains"].items():
            lines.append(f"  {name:<12} {m['loss']:>9.4f} {m['bpb']:>7.4f} {m['tokens']:>11,}")
        lines.append(f"  {'all':<12} {val['loss']:>9.4f} {val['bpb']:>7.4f}")
    return "\n".join(lines)
