"""A small GPT in plain PyTorch: RoPE, RMSNorm, causal SDPA attention, GELU MLP, tied embeddings.

The MLP is GPT-2's (4x width, tanh GELU) rather than SwiGLU so that the `gpt2-124m` and
`350m` presets have GPT-2's parameter counts (124M and 355M with a 50,304-token vocabulary)
and MFU figures compare with nanoGPT's. There are no learned positions (RoPE) and no biases.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from prep.training.config import PRESETS


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int  # embedding rows; round the tokenizer's size up (see `padded_vocab`)
    block_size: int  # longest sequence the RoPE tables cover
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6

    @classmethod
    def preset(cls, name: str, vocab_size: int, block_size: int, **overrides: int) -> GPTConfig:
        if name not in PRESETS:
            raise ValueError(f"unknown model size {name!r}; known: {', '.join(PRESETS)}")
        shape = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(vocab_size=vocab_size, block_size=block_size, **shape)

    def to_dict(self) -> dict:
        return asdict(self)


def padded_vocab(vocab_size: int, multiple: int = 64) -> int:
    """Embedding rows rounded up: matmuls with a multiple of 64 columns are markedly faster on GPUs."""
    return -(-vocab_size // multiple) * multiple


def rope_tables(head_dim: int, length: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()  # (length, head_dim / 2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of each head's channels by position-dependent angles."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        if cfg.n_embd % cfg.n_head or (cfg.n_embd // cfg.n_head) % 2:
            raise ValueError(f"n_embd {cfg.n_embd} must split into {cfg.n_head} heads of even width")
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.norm1 = nn.RMSNorm(cfg.n_embd, eps=cfg.norm_eps)
        self.attn = Attention(cfg)
        self.norm2 = nn.RMSNorm(cfg.n_embd, eps=cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = nn.RMSNorm(cfg.n_embd, eps=cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying
        cos, sin = rope_tables(cfg.n_embd // cfg.n_head, cfg.block_size, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)
        # GPT-2: residual projections scaled down with depth so the residual stream starts at unit scale.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        """Every parameter once (the tied embedding counts once): N of the 6·N·D estimate."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, reduction: str = "mean"
    ) -> torch.Tensor:
        """Logits (B, T, V) without targets; with targets (ignore index -1) the loss in nats:
        the mean over counted targets, or per position (B, T) with reduction="none"."""
        t = idx.shape[1]
        if t > self.cfg.block_size:
            raise ValueError(f"sequence of {t} tokens is longer than block_size {self.cfg.block_size}")
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        x = self.wte(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.lm_head(self.norm(x))
        if targets is None:
            return logits
        loss = F.cross_entropy(
            logits.float().view(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=-1,
            reduction=reduction,
        )
        return loss.view(targets.shape) if reduction == "none" else loss


def flops_per_token(model: GPT, seq_len: int) -> tuple[float, float]:
    """Training FLOPs per token: (6·N, 6·N + attention's 12·L·d·T); the first is the MFU basis."""
    dense = 6.0 * model.num_params()
    cfg = model.cfg
    return dense, dense + 12.0 * cfg.n_layer * cfg.n_embd * seq_len
