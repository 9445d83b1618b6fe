"""Throughput, MFU, and the run's records: log.jsonl, loss.png, optional TensorBoard."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("prep.train")

#: Dense bf16 tensor-core peaks (FLOP/s) by device name, most specific names first.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("GH200", 989e12),
    ("H200", 989e12),
    ("H100", 989e12),  # SXM
    ("A100", 312e12),
)


def peak_flops(device_name: str | None, override_tflops: float | None = None) -> float | None:
    """The device's bf16 peak; None on CPU and on GPUs not in the table (then MFU is null)."""
    if override_tflops:
        return override_tflops * 1e12
    if not device_name:
        return None
    for key, flops in PEAK_BF16_FLOPS:
        if key.lower() in device_name.lower():
            return flops
    return None


def mfu(flops_per_token: float, tokens_per_s: float, peak: float | None) -> float | None:
    return None if not peak else flops_per_token * tokens_per_s / peak


class RunLog:
    """Appends JSON rows to log.jsonl (flushed per row, so a crash keeps what was logged)."""

    def __init__(self, path: Path, tensorboard_dir: Path | None = None):
        self.path = path
        self.tb = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise RuntimeError(
                    "tensorboard: `pip install tensorboard` to write TensorBoard events"
                ) from exc
            self.tb = SummaryWriter(str(tensorboard_dir))

    def truncate_after(self, step: int) -> None:
        """On resume: drop rows past the checkpoint, which the resumed run writes again."""
        if not self.path.is_file():
            return
        rows = [r for r in read_log(self.path) if r.get("step", 0) <= step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        os.replace(tmp, self.path)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            self._tensorboard(row)

    def _tensorboard(self, row: dict[str, Any]) -> None:
        step = row["step"]
        if row["kind"] == "train":
            for key in ("loss", "lr", "grad_norm", "tokens_per_s", "mfu"):
                if row.get(key) is not None:
                    self.tb.add_scalar(f"train/{key}", row[key], step)
        elif row["kind"] == "val":
            for name, m in row["domains"].items():
                self.tb.add_scalar(f"val_loss/{name}", m["loss"], step)
                self.tb.add_scalar(f"val_bpb/{name}", m["bpb"], step)
            self.tb.add_scalar("val_loss/all", row["loss"], step)
            self.tb.add_scalar("val_bpb/all", row["bpb"], step)
        self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_curves(log_path: Path, png_path: Path) -> Path | None:
    """Training loss and per-domain validation loss and bits per byte against tokens seen."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no %s", png_path.name)
        return None
    rows = read_log(log_path) if log_path.is_file() else []
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    fig, (ax_loss, ax_bpb) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        ax_loss.plot([r["tokens"] for r in train], [r["loss"] for r in train], label="train", color="0.5")
    domains = sorted({d for r in val for d in r["domains"]})
    for name in domains:
        pts = [(r["tokens"], r["domains"][name]) for r in val if name in r["domains"]]
        xs = [p[0] for p in pts]
        ax_loss.plot(xs, [p[1]["loss"] for p in pts], marker="o", ms=3, label=f"val {name}")
        ax_bpb.plot(xs, [p[1]["bpb"] for p in pts], marker="o", ms=3, label=name)
    if val:
        ax_bpb.plot([r["tokens"] for r in val], [r["bpb"] for r in val], "k--", marker="o", ms=3, label="all")
    ax_loss.set(xlabel="tokens", ylabel="loss (nats/token)", title="loss")
    ax_bpb.set(xlabel="tokens", ylabel="bits per byte", title="validation bits per byte")
    for ax in (ax_loss, ax_bpb):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = png_path.with_name(png_path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png_path)
    return png_path
