"""Training a byte-level BPE on a seeded sample of the cleaned corpus.

The sample is drawn per domain in proportion to the weights (the mixture's by default),
by a hash of the document id and the seed, so it does not depend on how Ray split the
data into blocks. The tokenizer is GPT-2 style: byte-level pre-tokenization (every byte
is in the alphabet, so nothing is ever unknown) with `<|endoftext|>` and `<|pad|>`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prep.core.hashing import unit_hash

EOT = "<|endoftext|>"
PAD = "<|pad|>"


def _bytes_per_domain(data) -> dict[str, int]:
    def lengths(batch: pa.Table) -> pa.Table:
        return pa.table({"domain": batch.column("domain"), "n": pc.binary_length(batch.column("text"))})

    totals: dict[str, int] = {}
    for batch in data.map_batches(lengths, batch_format="pyarrow").iter_batches(batch_format="pyarrow"):
        grouped = batch.group_by("domain").aggregate([("n", "sum")])
        for domain, n in zip(
            grouped.column("domain").to_pylist(), grouped.column("n_sum").to_pylist(), strict=True
        ):
            totals[domain] = totals.get(domain, 0) + int(n or 0)
    return totals


def sample_texts(
    data, sample_bytes: int, weights: dict[str, float] | None, seed: int
) -> tuple[list[str], dict]:
    """Texts for training, about `sample_bytes` in all, split across domains by weight
    (domains without a weight get none; no weights: every domain in its natural share)."""
    totals = _bytes_per_domain(data)
    if weights:
        norm = sum(weights.values())
        share = {d: weights.get(d, 0.0) / norm for d in totals}
    else:
        whole = sum(totals.values()) or 1
        share = {d: n / whole for d, n in totals.items()}
    keep = {d: min(1.0, sample_bytes * share[d] / totals[d]) if totals[d] else 0.0 for d in totals}
    salt = f"tokenizer-sample:{seed}"

    def pick(batch: pa.Table) -> pa.Table:
        u = unit_hash(batch.column("id").to_pylist(), salt) if "id" in batch.column_names else None
        domains = batch.column("domain").to_pylist()
        if u is None:
            u = np.arange(batch.num_rows) / max(batch.num_rows, 1)
        mask = np.array([u[i] < keep.get(d, 0.0) for i, d in enumerate(domains)], dtype=bool)
        picked = batch.filter(pa.array(mask)).select(["domain", "text"])
        return picked.append_column("u", pa.array(u[mask], pa.float64()))

    drawn: list[tuple[float, str, str]] = []
    for batch in data.map_batches(pick, batch_format="pyarrow").iter_batches(batch_format="pyarrow"):
        columns = (batch.column(c).to_pylist() for c in ("u", "domain", "text"))
        drawn.extend(zip(*columns, strict=True))
    drawn.sort()  # block order varies with the cluster; the BPE's tie-breaks must not
    sampled: dict[str, int] = {}
    for _, domain, text in drawn:
        sampled[domain] = sampled.get(domain, 0) + len(text.encode())
    return [text for _, _, text in drawn], {"bytes": dict(sorted(sampled.items())), "weights": share}


def train_bpe(texts: list[str], vocab_size: int, min_frequency: int, dest: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if not texts:
        raise ValueError("tokenizer: no text to train on (every document was dropped before tokenize)")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOT, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tmp = dest.with_name(dest.name + ".tmp")
    tokenizer.save(str(tmp))
    os.replace(tmp, dest)
