"""A small real OUT folder for training tests: the sample's text, a byte-level BPE, Arrow shards.

Stands in for a run's output where a training test needs shards in seconds rather than a whole
pipeline run (same contract: core/shards.py and the manifest of docs/design.md); about 1.3 MB of
text and 3 s to build.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from prep.core.files import sha256_file
from prep.core.shards import ShardWriter
from prep.pipeline.config import SourceConfig
from prep.pipeline.readers import read_file
from prep.pipeline.sources import list_input_files

#: (domain, format, glob, files to read): one file per domain keeps reading fast (web is WARC).
DOMAINS = (
    ("web", "warc", "web/*.warc.gz", 1),
    ("wiki", "jsonl", "wiki/*.jsonl.gz", 1),
    ("books", "text", "books/en/*.txt", 40),
    ("code", "jsonl", "code/*.jsonl.gz", 1),
    ("papers", "parquet", "papers/*.parquet", 1),
)
SPECIALS = ["<|endoftext|>", "<|pad|>"]


def read_domain(
    sample_dir: Path, domain: str, fmt: str, pattern: str, files: int, max_bytes: int
) -> list[dict]:
    """Documents of one domain in file order, up to about `max_bytes` of text."""
    source = SourceConfig(name=domain, domain=domain, format=fmt, paths=[str(sample_dir / pattern)])
    docs, total = [], 0
    for path in list_input_files(source.paths)[:files]:
        for table in read_file(path, source):
            table = table.filter(pc.is_null(table.column("_stage")))
            for row in table.select(["id", "text", "source"]).to_pylist():
                if total >= max_bytes:
                    return docs
                docs.append({**row, "domain": domain})
                total += len(row["text"].encode("utf-8"))
    return docs


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def build_shards(
    sample_dir: Path,
    out: Path,
    bytes_per_domain: int = 250_000,
    vocab_size: int = 2048,
    val_every: int = 8,
    shard_tokens: int = 60_000,
) -> dict:
    """Write OUT/tokenizer.json, OUT/shards/{train,val}-*.arrow and OUT/manifest.json; return the manifest.

    Every `val_every`-th document of each domain (and at least two) is held out as val.
    """
    out.mkdir(parents=True, exist_ok=True)
    docs = [
        d
        for domain, fmt, pattern, files in DOMAINS
        for d in read_domain(sample_dir, domain, fmt, pattern, files, bytes_per_domain)
    ]
    tok = train_tokenizer([d["text"][:20_000] for d in docs], vocab_size)
    tok.save(str(out / "tokenizer.json"))
    eot, pad = tok.token_to_id(SPECIALS[0]), tok.token_to_id(SPECIALS[1])
    encoded = tok.encode_batch([d["text"] for d in docs], add_special_tokens=False)
    splits: dict[str, list[dict]] = {"train": [], "val": []}
    seen: dict[str, int] = {}
    for d, enc in zip(docs, encoded, strict=True):
        n = seen.get(d["domain"], 0)
        seen[d["domain"]] = n + 1
        row = {
            "tokens": [*enc.ids, eot],
            "id": d["id"],
            "domain": d["domain"],
            "lang": "en",
            "source": d["source"],
            "bytes": len(d["text"].encode("utf-8")),
            "epoch": 0,
        }
        splits["val" if n % val_every == val_every // 2 else "train"].append(row)
    shards = []
    for split, rows in splits.items():
        writer = ShardWriter(out, split, tok.get_vocab_size(), shard_tokens)
        writer.write(pa.Table.from_pylist(rows))
        shards.extend(info.to_dict() for info in writer.close())
    manifest = {
        "shards": shards,
        "tokenizer": {
            "path": "tokenizer.json",
            "sha256": sha256_file(out / "tokenizer.json"),
            "vocab_size": tok.get_vocab_size(),
            "eot_id": eot,
            "pad_id": pad,
        },
        "domains": {name: {"docs": count} for name, count in seen.items()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
