"""The training loop: AdamW, warmup + cosine, clipping, accumulation, bf16, compile, DDP, resume.

One process per GPU under torchrun (`WORLD_SIZE` > 1 turns on DDP; NCCL on CUDA, gloo on
CPU), or a single process on one GPU or the CPU. A checkpoint holds the model, the
optimizer, the step and every rank's loader state, so a resumed run continues with the
same batches and learning rates: on CPU in fp32 its loss curve equals the uninterrupted
run's bit for bit (on CUDA up to the nondeterminism of some kernels).

    prep train OUT --model tiny --steps 300 --out runs/tiny
    torchrun --nproc_per_node 8 -m prep train OUT --model gpt2-124m --seq-len 1024 ...
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from prep.core.settings import ConfigError
from prep.training.config import TrainConfig
from prep.training.data import Corpus, ShardError, TrainLoader, ValSet, load_manifest
from prep.training.metrics import RunLog, mfu, peak_flops, plot_curves
from prep.training.model import GPT, GPTConfig, flops_per_token, padded_vocab

log = logging.getLogger("prep.train")

CHECKPOINTS = "checkpoints"


@dataclass
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str) -> Dist:
    """Join torchrun's process group when there is one; otherwise pick the device asked for."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() and device != "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(["device: cuda asked for, but torch sees no CUDA device"])
    if world == 1:
        return Dist(0, 1, 0, torch.device("cuda" if cuda else "cpu"))
    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local, torch.device(f"cuda:{local}" if cuda else "cpu"))


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to the peak, then cosine decay to peak * min_lr_ratio at the last step."""
    peak, warmup = cfg.peak_lr, cfg.warmup
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    floor = peak * cfg.min_lr_ratio
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: GPT, cfg: TrainConfig, fused: bool) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and embeddings only (not on norm gains)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    kwargs = {"fused": True} if fused else {}
    return torch.optim.AdamW(groups, lr=cfg.peak_lr, betas=(cfg.beta1, cfg.beta2), **kwargs)


def checkpoints(run_dir: Path) -> list[Path]:
    return sorted((run_dir / CHECKPOINTS).glob("step-*.pt"))


def save_checkpoint(run_dir: Path, state: dict[str, Any], keep: int) -> Path:
    """Written under a temporary name and renamed: a checkpoint on disk is always complete."""
    folder = run_dir / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step-{state['step']:07d}.pt"
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in checkpoints(run_dir)[:-keep]:
        old.unlink()
    return path


def batch_to_device(x: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    if device.type == "cuda":
        return xt.pin_memory().to(device, non_blocking=True), yt.pin_memory().to(device, non_blocking=True)
    return xt, yt


@torch.no_grad()
def evaluate(model: torch.nn.Module, valset: ValSet, batch_size: int, ctx: Dist, autocast) -> dict[str, Any]:
    """Per-domain loss (nats/token) and bits per byte over the validation documents."""
    was_training = model.training
    model.eval()
    nats = torch.zeros(len(valset.domains), dtype=torch.float64, device=ctx.device)
    pad_x = np.full(valset.seq_len, valset.pad, dtype=np.int64)
    pad_y = np.full(valset.seq_len, -1, dtype=np.int64)
    for i, domain in enumerate(valset.domains):
        for x, y in valset.batches(domain, batch_size, ctx.rank, ctx.world_size):
            if len(x) < batch_size:  # keep one shape for compiled models
                fill = batch_size - len(x)
                x, y = (
                    np.concatenate([x, np.tile(pad_x, (fill, 1))]),
                    np.concatenate([y, np.tile(pad_y, (fill, 1))]),
                )
            xt, yt = batch_to_device(x, y, ctx.device)
            with autocast:
                per_token = model(xt, yt, reduction="none")
            nats[i] += per_token.double().sum()  # ignored targets contribute 0
    if ctx.world_size > 1:
        dist.all_reduce(nats)
    model.train(was_training)
    out: dict[str, Any] = {"domains": {}}
    for domain, n in zip(valset.domains, nats.tolist(), strict=True):
        out["domains"][domain.name] = {
            "loss": n / domain.tokens,
            "bpb": n / math.log(2) / domain.bytes if domain.bytes else None,
            "tokens": domain.tokens,
            "bytes": domain.bytes,
            "docs": len(domain.docs),
        }
    total_nats = float(nats.sum())
    tokens = sum(d.tokens for d in valset.domains)
    total_bytes = sum(d.bytes for d in valset.domains)
    out["loss"] = total_nats / tokens
    out["bpb"] = total_nats / math.log(2) / total_bytes if total_bytes else None
    return out


def _check_resumable(saved: dict[str, Any], cfg: TrainConfig) -> None:
    now = cfg.trajectory()
    differ = [
        f"{k}: {saved.get(k)!r} in the checkpoint, {v!r} now" for k, v in now.items() if saved.get(k) != v
    ]
    if differ:
        raise ConfigError(["cannot resume with different settings (use another --out):", *differ])


def train(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train as configured; returns the summary (also written to out/summary.json)."""
    ctx = setup_distributed(cfg.device)
    try:
        return _train(cfg, resume, ctx)
    finally:
        if ctx.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(cfg: TrainConfig, resume: bool, ctx: Dist) -> dict[str, Any]:
    run_dir = Path(cfg.out)
    manifest = load_manifest(Path(cfg.data))
    corpus = Corpus(manifest, "train", verify=cfg.verify_shards)
    valset = None
    if manifest.shards.get("val"):
        valset = ValSet(Corpus(manifest, "val", verify=cfg.verify_shards), cfg.seq_len, cfg.eval_tokens)
    elif ctx.main:
        log.warning("%s lists no val shards: no validation", manifest.root / "manifest.json")
    loader = TrainLoader(
        corpus,
        cfg.seq_len,
        cfg.batch_size,
        seed=cfg.seed,
        rank=ctx.rank,
        world_size=ctx.world_size,
        domain_weights=cfg.domain_weights,
        pack_buffer=cfg.pack_buffer,
    )

    cuda = ctx.device.type == "cuda"
    bf16 = cfg.dtype == "bf16" or (cfg.dtype == "auto" and cuda)
    if bf16 and not cuda:
        raise ConfigError(["dtype: bf16 autocast is for CUDA; on CPU training runs in fp32 (dtype: auto)"])
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else nullcontext()
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    torch.manual_seed(cfg.seed)
    model_cfg = GPTConfig.preset(
        cfg.model,
        padded_vocab(manifest.vocab_size),
        cfg.seq_len,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        n_embd=cfg.n_embd,
    )
    raw_model = GPT(model_cfg).to(ctx.device)
    optimizer = make_optimizer(raw_model, cfg, fused=cuda)

    existing = checkpoints(run_dir)
    if existing and not resume:
        raise ConfigError(
            [f"out: {run_dir} already holds checkpoints; pass --resume or choose another --out"]
        )
    step = 0
    if resume and existing:
        state = torch.load(existing[-1], map_location=ctx.device, weights_only=True)
        _check_resumable(state["config"], cfg)
        if len(state["loaders"]) != ctx.world_size:
            raise ConfigError([f"checkpoint made with {len(state['loaders'])} ranks; resume with as many"])
        raw_model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        loader.load_state_dict(state["loaders"][ctx.rank])
        torch.set_rng_state(state["rng"]["cpu"].cpu())
        if cuda and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu())
        step = int(state["step"])
        if ctx.main:
            log.info("resumed from %s (step %d)", existing[-1], step)
    elif resume and ctx.main:
        log.info("no checkpoint in %s: starting from step 0", run_dir)

    stop = min(cfg.steps, cfg.stop_after) if cfg.stop_after else cfg.steps
    if step >= stop and (run_dir / "summary.json").is_file():
        if ctx.main:
            log.info("%s already reached step %d: nothing to do", run_dir, step)
        return json.loads((run_dir / "summary.json").read_text())

    model: torch.nn.Module = torch.compile(raw_model) if cfg.compile else raw_model
    eval_model = model
    if ctx.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[ctx.local_rank] if cuda else None, broadcast_buffers=False)

    n_params = raw_model.num_params()
    fpt, fpt_attn = flops_per_token(raw_model, cfg.seq_len)
    device_name = torch.cuda.get_device_name(ctx.device) if cuda else None
    peak = peak_flops(device_name, cfg.peak_tflops) if (bf16 or cfg.peak_tflops) else None
    tokens_per_step = cfg.batch_size * cfg.seq_len * cfg.grad_accum * ctx.world_size

    runlog = None
    if ctx.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=1))
        runlog = RunLog(run_dir / "log.jsonl", run_dir / "tb" if cfg.tensorboard else None)
        runlog.truncate_after(step)
        log.info(
            "model %s: %.2fM parameters (%d layers, %d heads, width %d, vocab %d); %s%s, %d rank(s); "
            "%s train tokens in %d docs, %d units of <= %d tokens",
            cfg.model, n_params / 1e6, model_cfg.n_layer, model_cfg.n_head, model_cfg.n_embd,
            model_cfg.vocab_size, device_name or "cpu", " bf16" if bf16 else " fp32", ctx.world_size,
            f"{corpus.n_tokens:,}", corpus.n_docs, len(loader.unit_len), cfg.seq_len + 1,
        )  # fmt: skip

    def reduce_mean(t: torch.Tensor) -> float:
        if ctx.world_size > 1:
            t = t.clone()
            dist.all_reduce(t)
            t /= ctx.world_size
        return float(t)

    def do_eval(at: int) -> dict[str, Any] | None:
        if valset is None:
            return None
        result = evaluate(eval_model, valset, cfg.eval_batch_size or cfg.batch_size, ctx, autocast)
        if runlog is not None:
            runlog.write({"kind": "val", "step": at, "tokens": at * tokens_per_step, **result})
            per = ", ".join(f"{k} {v['loss']:.3f}/{v['bpb']:.3f}" for k, v in result["domains"].items())
            log.info("step %d val loss %.4f, bpb %.4f (loss/bpb: %s)", at, result["loss"], result["bpb"], per)
            if cfg.plot:
                plot_curves(run_dir / "log.jsonl", run_dir / "loss.png")
        return result

    def do_checkpoint(at: int) -> None:
        loaders = [loader.state_dict()]
        if ctx.world_size > 1:
            loaders = [None] * ctx.world_size
            dist.all_gather_object(loaders, loader.state_dict())
        if ctx.main:
            state = {
                "step": at,
                "model": raw_model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "loaders": loaders,
                "config": cfg.trajectory(),
                "model_config": model_cfg.to_dict(),
                "rng": {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if cuda else None},
            }
            save_checkpoint(run_dir, state, cfg.keep_checkpoints)
        if ctx.world_size > 1:
            dist.barrier()

    model.train()
    last_time, last_step, data_time = time.perf_counter(), step, 0.0
    targets = positions = 0
    train_loss = None
    final_eval = None
    while step < stop:
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=ctx.device)
        for micro in range(cfg.grad_accum):
            t0 = time.perf_counter()
            x, y = loader.next_batch()
            targets += int(np.count_nonzero(y >= 0))
            positions += y.size
            xt, yt = batch_to_device(x, y, ctx.device)
            data_time += time.perf_counter() - t0
            if ctx.world_size > 1:
                model.require_backward_grad_sync = micro == cfg.grad_accum - 1
            with autocast:
                loss = model(xt, yt)
            (loss / cfg.grad_accum).backward()
            loss_sum += loss.detach()
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip)
            if cfg.grad_clip > 0
            else None
        )
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        if step % cfg.log_every == 0 or step == stop:
            train_loss = reduce_mean(loss_sum / cfg.grad_accum)
            now = time.perf_counter()
            elapsed = now - last_time
            tps = (step - last_step) * tokens_per_step / elapsed
            if runlog is not None:
                row = {
                    "kind": "train",
                    "step": step,
                    "loss": train_loss,
                    "lr": lr,
                    "grad_norm": None if grad_norm is None else float(grad_norm),
                    "tokens": step * tokens_per_step,
                    "epochs": round(loader.epochs, 4),
                    "tokens_per_s": tps,
                    "mfu": mfu(fpt, tps, peak),
                    "mfu_with_attention": mfu(fpt_attn, tps, peak),
                    "data_time_frac": data_time / elapsed,
                    "target_frac": targets / max(1, positions),
                }
                runlog.write(row)
                shown_mfu = f", mfu {row['mfu']:.1%}" if row["mfu"] is not None else ""
                log.info(
                    "step %d/%d loss %.4f lr %.2e %s tok/s%s",
                    step,
                    cfg.steps,
                    train_loss,
                    lr,
                    f"{tps:,.0f}",
                    shown_mfu,
                )
            last_time, last_step, data_time = time.perf_counter(), step, 0.0
            targets = positions = 0
        if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps:
            final_eval = do_eval(step)
            last_time = time.perf_counter()  # keep evaluation out of tokens/s
        if (cfg.ckpt_every and step % cfg.ckpt_every == 0) or step == stop:
            do_checkpoint(step)
            last_time = time.perf_counter()

    summary = {
        "step": step,
        "steps": cfg.steps,
        "finished": step >= cfg.steps,
        "tokens": step * tokens_per_step,
        "train_loss": train_loss,
        "val": final_eval,
        "params": n_params,
        "model": model_cfg.to_dict(),
        "device": device_name or "cpu",
        "world_size": ctx.world_size,
        "dtype": "bf16" if bf16 else "fp32",
    }
    if runlog is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
        if cfg.plot:
            plot_curves(run_dir / "log.jsonl", run_dir / "loss.png")
        runlog.close()
    return summary


__all__ = ["ShardError", "TrainConfig", "evaluate", "lr_at", "train"]
