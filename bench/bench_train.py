"""Training throughput and MFU of the bundled loop, and the shard loader's own throughput.

Run by hand (not a test), on any machine:

    python bench/bench_train.py                      # CUDA: gpt2-124m, T=1024, bf16, compiled
    python bench/bench_train.py --device cpu         # CPU: the tiny model at T=256
    python bench/bench_train.py --data out/mix       # real shards instead of synthetic ones

Without --data it writes synthetic shards (random token ids with a GPT-2-sized vocabulary,
log-normal document lengths around 600 tokens, as web text has) into a temporary folder,
so the figures do not depend on a prep run. Two measurements:

On CPU the synthetic vocabulary is 8,192 (a 50k vocabulary makes the tiny model all embedding).

- loader: `TrainLoader.next_batch` alone (packing plus the copy out of the memory-mapped
  shards), plus pinning and the host-to-device copy on CUDA: tokens per second it can
  produce on one core. It keeps the GPU busy when this is well above the training rate.
- training: `prep.training.train.train` itself (the same loop `prep train` runs) for --steps
  steps; tokens/s, MFU (6·N·D against the device's bf16 peak; also with attention FLOPs)
  and the share of wall time the loop spent waiting for batches, from its log rows after
  the first --warmup-steps (compilation, allocator warm-up).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from prep.core.shards import ShardWriter
from prep.training.config import TrainConfig
from prep.training.data import Corpus, TrainLoader, load_manifest
from prep.training.metrics import read_log
from prep.training.train import batch_to_device, train


def synthetic_shards(out: Path, tokens: int, vocab: int = 50257, mean_doc: int = 600, seed: int = 0) -> Path:
    """Random documents ending with end-of-text (id 0), 2% held out as val."""
    rng = np.random.default_rng(seed)
    lengths = np.maximum(2, rng.lognormal(np.log(mean_doc) - 0.5, 1.0, size=tokens // mean_doc * 2)).astype(
        np.int64
    )
    lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), tokens)) + 1]
    values = rng.integers(1, vocab, size=int(lengths.sum()), dtype=np.uint16)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values[offsets[1:] - 1] = 0
    shards = []
    for split, sel in (
        ("train", slice(0, len(lengths) * 49 // 50)),
        ("val", slice(len(lengths) * 49 // 50, None)),
    ):
        off = offsets[sel.start : (sel.stop + 1 if sel.stop is not None else None)]
        toks = pa.ListArray.from_arrays(
            pa.array(off - off[0], pa.int32()), pa.array(values[off[0] : off[-1]])
        )
        n = len(off) - 1
        table = pa.table(
            {
                "tokens": toks,
                "id": [f"synthetic/{split}/{i}" for i in range(n)],
                "domain": pa.array(np.where(np.arange(n) % 3 == 0, "code", "web")),
                "bytes": pa.array(np.diff(off) * 4),
            }
        )
        writer = ShardWriter(out, split, vocab, shard_tokens=50_000_000)
        writer.write(table)
        shards.extend(s.to_dict() for s in writer.close())
    manifest = {"shards": shards, "tokenizer": {"vocab_size": vocab, "eot_id": 0, "pad_id": 0}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def bench_loader(
    data: Path, seq_len: int, batch_size: int, device: torch.device, seconds: float = 5.0
) -> dict:
    corpus = Corpus(load_manifest(data), "train")
    loader = TrainLoader(corpus, seq_len, batch_size, seed=0)
    loader.next_batch()
    batches, start = 0, time.perf_counter()
    pad = 0
    while time.perf_counter() - start < seconds:
        x, y = loader.next_batch()
        pad += int((y < 0).sum())
        if device.type == "cuda":
            batch_to_device(x, y, device)
        batches += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    positions = batches * batch_size * seq_len
    return {"loader_tokens_per_s": positions / elapsed, "ignored_target_frac": pad / positions}


def bench_training(data: Path, args: argparse.Namespace, out: Path) -> dict:
    cfg = TrainConfig(
        data=str(data),
        out=str(out),
        model=args.model,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        steps=args.steps,
        warmup_steps=min(10, args.steps),
        log_every=args.log_every,
        eval_tokens=args.seq_len * args.batch_size,
        device=args.device,
        compile=args.compile,
        plot=False,
    )
    summary = train(cfg)
    rows = [r for r in read_log(out / "log.jsonl") if r["kind"] == "train" and r["step"] > args.warmup_steps]
    if not rows:
        raise SystemExit("no log rows after the warm-up: raise --steps or lower --warmup-steps")

    def med(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return statistics.median(values) if values else None

    return {
        "params": summary["params"],
        "device": summary["device"],
        "dtype": summary["dtype"],
        "tokens_per_s": med("tokens_per_s"),
        "mfu": med("mfu"),
        "mfu_with_attention": med("mfu_with_attention"),
        "data_time_frac": med("data_time_frac"),
        "final_loss": rows[-1]["loss"],
    }


def main() -> None:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="a prep output folder (default: synthetic shards)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--model", default=None, help="default gpt2-124m on CUDA, tiny on CPU")
    p.add_argument("--seq-len", type=int, default=None, help="default 1024 on CUDA, 256 on CPU")
    p.add_argument("--batch-size", type=int, default=None, help="default 16 on CUDA, 8 on CPU")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--steps", type=int, default=None, help="default 100 on CUDA, 30 on CPU")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--warmup-steps", type=int, default=None, help="log rows to skip (default 2 intervals)")
    p.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=None, help="default on for CUDA"
    )
    p.add_argument("--synthetic-tokens", type=int, default=None, help="default 50M on CUDA, 2M on CPU")
    p.add_argument("--synthetic-vocab", type=int, default=None, help="default 50257 on CUDA, 8192 on CPU")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    args = p.parse_args()
    on_gpu = cuda and args.device != "cpu"
    args.model = args.model or ("gpt2-124m" if on_gpu else "tiny")
    args.seq_len = args.seq_len or (1024 if on_gpu else 256)
    args.batch_size = args.batch_size or (16 if on_gpu else 8)
    args.steps = args.steps or (100 if on_gpu else 30)
    args.compile = on_gpu if args.compile is None else args.compile
    args.warmup_steps = 2 * args.log_every if args.warmup_steps is None else args.warmup_steps
    device = torch.device("cuda" if on_gpu else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else None
        if data is None:
            tokens = args.synthetic_tokens or (50_000_000 if on_gpu else 2_000_000)
            vocab = args.synthetic_vocab or (50257 if on_gpu else 8192)
            data = synthetic_shards(Path(tmp) / "shards", tokens, vocab)
        loader = bench_loader(data, args.seq_len, args.batch_size, device)
        result = bench_training(data, args, Path(tmp) / "run")
    result.update(loader)
    result["loader_headroom"] = result["loader_tokens_per_s"] / result["tokens_per_s"]
    result.update(
        {
            "model": args.model,
            "seq_len": args.seq_len,
            "batch_size": args.batch_size,
            "grad_accum": args.grad_accum,
            "compile": args.compile,
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "data": args.data or "synthetic",
        }
    )
    print(json.dumps(result, indent=1))
    mfu = f"{result['mfu']:.1%}" if result["mfu"] is not None else "n/a"
    print(
        f"\n| {result['device']} | {args.model} ({result['params'] / 1e6:.1f}M) | T={args.seq_len} "
        f"B={args.batch_size}x{args.grad_accum} {result['dtype']}{' compiled' if args.compile else ''} | "
        f"{result['tokens_per_s']:,.0f} tok/s | MFU {mfu} | "
        f"loader {result['loader_tokens_per_s']:,.0f} tok/s "
        f"({result['loader_headroom']:.0f}x) | waiting for data {result['data_time_frac']:.1%} |"
    )


if __name__ == "__main__":
    main()
