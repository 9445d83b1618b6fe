"""Training and validation batches from prep's Arrow shards, memory-mapped.

Each shard's `tokens` column is read as two numpy views into the mapped file (the flat
token values and the list offsets); documents are (view, start, length) triples and are
copied only into the batch being built. Nothing goes through Python lists.

Packing (training). Sequences are rows of T+1 tokens (inputs are the first T, targets the
last T). A row is built from *units*:

- a document of at most T+1 tokens is one unit;
- a longer document is cut into windows of T+1 tokens with a stride of T (each window
  starts on the last token of the one before), so every token but the document's first is
  a target exactly once; the last window holds the remainder and is shorter.

Every row starts with the first token of a unit, so a row starts at a document start
unless it holds a later window of a document longer than the row. A row takes units
whole, never cut: it opens with the oldest unit of a look-ahead buffer (the next
`pack_buffer` units in the sampled order) and takes every further buffered unit that still
fits, in order, the look-ahead sliding on as units are taken (first fit; `pack_buffer=1`
is greedy in order). What no buffered unit fits is padding with ignored targets. The token
after a unit predicts the next unit's first token (a document's start after the previous
document's end-of-text) except when that unit is a later window, whose first token was
already a target. No token is dropped: an epoch trains on every token of its units once.

Sampling. An epoch is a seeded permutation of the units, optionally re-weighted per
domain: with weights w_d, domain d's units are repeated (and a seeded subset added) so
that its share of the epoch's tokens is w_d, the epoch keeping the corpus's token count.
Rank r of W takes units r, r+W, ... of each epoch's order, so ranks read disjoint parts.
The loader's state (epoch, cursor, buffer) makes a resumed run yield the same batches.

Validation. Every validation document is scored whole, each of its tokens (its final
end-of-text included) predicted exactly once: a document is preceded by an end-of-text
token (the previous document's in the row, or one put at the row start), documents
longer than the row continue in windows as above. Loss per domain is nats per token;
bits per byte is the same sum of nats / ln 2 over the UTF-8 bytes of those documents'
text (the shard's `bytes` column), so tokenizers of different granularity compare.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prep.core.files import sha256_file
from prep.core.shards import read_shard

#: Documents per domain chosen for validation come from this fixed seed, not the run's,
#: so runs with different seeds or mixtures are scored on the same documents.
VAL_SELECTION_SEED = 20240611


class ShardError(ValueError):
    """The shards or manifest cannot be trained on (a user-facing message, exit code 2)."""


@dataclass(frozen=True)
class Manifest:
    root: Path
    vocab_size: int
    eot_id: int
    pad_id: int
    shards: dict[str, list[dict]] = field(default_factory=dict)  # split -> ShardInfo dicts
    tokenizer_path: Path | None = None


def load_manifest(out: Path) -> Manifest:
    """OUT/manifest.json checked for what training needs, with messages that say what is wrong."""
    out = Path(out)
    path = out / "manifest.json"
    if not out.is_dir():
        raise ShardError(f"{out}: no such directory (give the output folder of a prep run)")
    if not path.is_file():
        raise ShardError(f"{path} not found: is {out} the output of a prep run that wrote shards?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ShardError(f"{path}: not readable JSON ({exc})") from exc
    tok = data.get("tokenizer")
    if not isinstance(tok, dict) or not all(isinstance(tok.get(k), int) for k in ("vocab_size", "eot_id")):
        raise ShardError(f"{path}: 'tokenizer' must give vocab_size and eot_id (integers)")
    shards = data.get("shards")
    if not isinstance(shards, list) or not shards:
        raise ShardError(f"{path}: lists no shards (did the run end before its mix stage?)")
    by_split: dict[str, list[dict]] = {}
    for i, info in enumerate(shards):
        if not isinstance(info, dict) or not isinstance(info.get("path"), str) or "split" not in info:
            raise ShardError(f"{path}: shards[{i}] needs 'path' and 'split'")
        by_split.setdefault(info["split"], []).append(info)
    pad = tok.get("pad_id")
    return Manifest(
        root=out,
        vocab_size=tok["vocab_size"],
        eot_id=tok["eot_id"],
        pad_id=pad if isinstance(pad, int) else tok["eot_id"],
        shards=by_split,
        tokenizer_path=out / tok["path"] if isinstance(tok.get("path"), str) else None,
    )


class Corpus:
    """The documents of one split, memory-mapped: per-document arrays point into the shards."""

    def __init__(self, manifest: Manifest, split: str, verify: bool = False):
        self.manifest, self.split = manifest, split
        infos = manifest.shards.get(split, [])
        if not infos:
            raise ShardError(f"{manifest.root / 'manifest.json'}: no {split} shards listed")
        self._tables: list[pa.Table] = []
        self._chunks: list[np.ndarray] = []  # flat token values, views into the mapped files
        self._chunk_docs: list[tuple[int, int]] = []  # each chunk's documents: [first, last + 1)
        parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("chunk", "start", "len", "table", "row", "bytes")
        }
        domain_codes: list[tuple[list[str], np.ndarray]] = []  # per shard: its names, row -> name index
        for info in infos:
            table = self._open(manifest.root / info["path"], info, verify)
            t = len(self._tables)
            self._tables.append(table)
            row0 = 0
            for chunk in table.column("tokens").chunks:
                offsets = chunk.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
                parts["chunk"].append(np.full(len(chunk), len(self._chunks), np.int32))
                parts["start"].append(offsets[:-1])
                parts["len"].append(np.diff(offsets))
                parts["table"].append(np.full(len(chunk), t, np.int32))
                parts["row"].append(np.arange(row0, row0 + len(chunk), dtype=np.int64))
                self._chunks.append(chunk.values.to_numpy(zero_copy_only=True))
                first = self._chunk_docs[-1][1] if self._chunk_docs else 0
                self._chunk_docs.append((first, first + len(chunk)))
                row0 += len(chunk)
            encoded = pc.dictionary_encode(table.column("domain")).combine_chunks()
            domain_codes.append((encoded.dictionary.to_pylist(), encoded.indices.to_numpy()))
            parts["bytes"].append(table.column("bytes").fill_null(-1).to_numpy(zero_copy_only=False))
        self.doc_chunk = np.concatenate(parts["chunk"])
        self.doc_start = np.concatenate(parts["start"])
        self.doc_len = np.concatenate(parts["len"])
        self.doc_bytes = np.concatenate(parts["bytes"]).astype(np.int64)
        self._doc_table = np.concatenate(parts["table"])
        self._doc_row = np.concatenate(parts["row"])
        self.domains: list[str] = sorted({name for names, _ in domain_codes for name in names})
        self.doc_domain = np.concatenate(
            [
                np.array([self.domains.index(n) for n in names], np.int16)[codes]
                for names, codes in domain_codes
            ]
        )
        self._check_documents()

    def _open(self, path: Path, info: dict, verify: bool) -> pa.Table:
        if not path.is_file():
            raise ShardError(f"{path}: listed in the manifest but missing")
        if verify and info.get("sha256") and sha256_file(path) != info["sha256"]:
            raise ShardError(f"{path}: sha256 differs from the manifest (changed or truncated)")
        try:
            table = read_shard(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ShardError(f"{path}: not an Arrow IPC file ({exc})") from exc
        tokens = table.schema.field("tokens").type if "tokens" in table.column_names else None
        if not (pa.types.is_list(tokens) and tokens.value_type in (pa.uint16(), pa.uint32())):
            raise ShardError(f"{path}: needs a 'tokens' column of list<uint16|uint32>, found {tokens}")
        missing = {"domain", "bytes", "id"} - set(table.column_names)
        if missing:
            raise ShardError(f"{path}: missing columns {sorted(missing)}")
        if table.column("tokens").null_count or table.column("domain").null_count:
            raise ShardError(f"{path}: null tokens or domain")
        if info.get("docs") is not None and info["docs"] != table.num_rows:
            raise ShardError(f"{path}: {table.num_rows} rows but the manifest says {info['docs']}")
        return table

    def _check_documents(self) -> None:
        """Every document must end with end-of-text (packing and bits per byte rely on it)."""
        where = f"{self.manifest.root} ({self.split})"
        if (self.doc_len < 1).any():
            raise ShardError(f"{where}: {int((self.doc_len < 1).sum())} documents have no tokens")
        eot = self.manifest.eot_id
        for values, (lo, hi) in zip(self._chunks, self._chunk_docs, strict=True):
            last = self.doc_start[lo:hi] + self.doc_len[lo:hi] - 1
            if (values[last] != eot).any():
                raise ShardError(f"{where}: documents that do not end with the end-of-text token {eot}")
            if len(values) and int(values.max()) >= self.manifest.vocab_size:
                raise ShardError(f"{where}: token ids beyond the vocabulary of {self.manifest.vocab_size}")
        if self.split == "val" and (self.doc_bytes < 0).any():
            raise ShardError(f"{where}: validation documents without 'bytes' (needed for bits per byte)")

    @property
    def n_docs(self) -> int:
        return len(self.doc_len)

    @property
    def n_tokens(self) -> int:
        return int(self.doc_len.sum())

    def tokens(self, doc: int, start: int = 0, length: int | None = None) -> np.ndarray:
        """A view into the mapped shard (no copy)."""
        s = int(self.doc_start[doc]) + start
        n = int(self.doc_len[doc]) - start if length is None else length
        return self._chunks[int(self.doc_chunk[doc])][s : s + n]

    def doc_id(self, doc: int) -> str:
        return self._tables[int(self._doc_table[doc])].column("id")[int(self._doc_row[doc])].as_py()

    def token_chunks(self) -> list[np.ndarray]:
        """The flat token arrays (for statistics over every token)."""
        return list(self._chunks)


def split_units(doc_len: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc, start, length) of every unit: whole documents up to T+1 tokens, windows of longer ones."""
    t = seq_len
    per_doc = np.maximum(1, (doc_len - 2) // t + 1)
    doc = np.repeat(np.arange(len(doc_len), dtype=np.int64), per_doc)
    first = np.repeat(np.cumsum(per_doc) - per_doc, per_doc)
    start = (np.arange(len(doc), dtype=np.int64) - first) * t
    length = np.minimum(t + 1, doc_len[doc] - start)
    return doc, start, length


def parse_domain_weights(text: str | None) -> dict[str, float] | None:
    """`web=0.5,code=0.5` -> {"web": 0.5, "code": 0.5}."""
    if not text:
        return None
    weights = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ValueError(f"domain weights: expected name=number, got {part!r}")
    return weights


class TrainLoader:
    """Packed training batches for one rank, deterministic by seed, resumable by state."""

    def __init__(
        self,
        corpus: Corpus,
        seq_len: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        domain_weights: dict[str, float] | None = None,
        pack_buffer: int = 64,
    ):
        self.corpus, self.seq_len, self.batch_size = corpus, seq_len, batch_size
        self.seed, self.rank, self.world_size, self.pack_buffer = seed, rank, world_size, max(1, pack_buffer)
        self.pad_id = corpus.manifest.pad_id
        self.unit_doc, self.unit_start, self.unit_len = split_units(corpus.doc_len, seq_len)
        unit_domain = corpus.doc_domain[self.unit_doc]
        self._by_domain = [np.flatnonzero(unit_domain == d) for d in range(len(corpus.domains))]
        self.multipliers = self._multipliers(domain_weights)
        self.domain_weights = domain_weights
        self.epoch, self.cursor, self.buffer = 0, 0, []
        self._order_cache: tuple[int, np.ndarray] | None = None
        if len(self._order(0)) == 0:
            raise ShardError(f"{len(self.unit_len)} training units cannot feed {world_size} ranks")

    def _multipliers(self, weights: dict[str, float] | None) -> np.ndarray:
        names = self.corpus.domains
        if not weights:
            return np.ones(len(names))
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ShardError(f"domain weights name {unknown}, not in the training shards (have {names})")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ShardError("domain weights must be >= 0 and not all 0")
        tokens = np.array([self.unit_len[u].sum() for u in self._by_domain], dtype=np.float64)
        share = np.array([weights.get(n, 0.0) for n in names]) / sum(weights.values())
        return share * tokens.sum() / np.maximum(tokens, 1)

    def _order(self, epoch: int) -> np.ndarray:
        """This rank's units of one epoch, in sampled order."""
        if self._order_cache is not None and self._order_cache[0] == epoch:
            return self._order_cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        parts = []
        for units, mult in zip(self._by_domain, self.multipliers, strict=True):
            if not len(units) or mult <= 0:
                continue
            whole, frac = int(mult), float(mult - int(mult))
            parts.extend([units] * whole)
            if frac > 1e-9:
                perm = rng.permutation(units)
                cum = np.cumsum(self.unit_len[perm])
                parts.append(perm[: int(np.searchsorted(cum, frac * cum[-1])) + 1])
        units = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        order = units[rng.permutation(len(units))][self.rank :: self.world_size]
        self._order_cache = (epoch, order)
        return order

    def _pull(self) -> int:
        order = self._order(self.epoch)
        if self.cursor >= len(order):
            self.epoch, self.cursor = self.epoch + 1, 0
            order = self._order(self.epoch)
        self.cursor += 1
        return int(order[self.cursor - 1])

    def next_row(self) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """(row of T+1 token ids, T targets with -1 = ignored, [(unit, offset)] placed)."""
        while len(self.buffer) < self.pack_buffer:
            self.buffer.append(self._pull())
        size = self.seq_len + 1
        row = np.full(size, self.pad_id, dtype=np.int64)
        targets_ok = np.zeros(size, dtype=bool)  # whether row[j] is a target (predicted from row[j-1])
        placed: list[tuple[int, int]] = []
        used, i = 0, 0
        while i < len(self.buffer) and used < size:
            u = self.buffer[i]
            n = int(self.unit_len[u])
            if n > size - used:
                i += 1
                continue
            del self.buffer[i]
            self.buffer.append(self._pull())  # the look-ahead slides on (pack_buffer=1: greedy in order)
            doc, start = int(self.unit_doc[u]), int(self.unit_start[u])
            row[used : used + n] = self.corpus.tokens(doc, start, n)
            targets_ok[used + 1 : used + n] = True
            targets_ok[used] = used > 0 and start == 0  # a document start after an end-of-text
            placed.append((u, used))
            used += n
        targets = np.where(targets_ok[1:], row[1:], -1)
        return row, targets, placed

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and targets, (B, T) int64 each."""
        rows = [self.next_row() for _ in range(self.batch_size)]
        x = np.stack([r[0][:-1] for r in rows])
        y = np.stack([r[1] for r in rows])
        return x, y

    @property
    def epochs(self) -> float:
        return self.epoch + self.cursor / max(1, len(self._order(self.epoch)))

    def _fingerprint(self) -> dict[str, Any]:
        return {
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "rank": self.rank,
            "world_size": self.world_size,
            "pack_buffer": self.pack_buffer,
            "domain_weights": self.domain_weights,
            "units": len(self.unit_len),
            "tokens": self.corpus.n_tokens,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "cursor": self.cursor,
            "buffer": list(self.buffer),
            **self._fingerprint(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = self._fingerprint()
        differ = {k: (state.get(k), v) for k, v in mine.items() if state.get(k) != v}
        if differ:
            detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in differ.items())
            raise ShardError(f"the loader state does not fit these shards and settings ({detail})")
        self.epoch, self.cursor, self.buffer = (
            int(state["epoch"]),
            int(state["cursor"]),
            list(state["buffer"]),
        )


@dataclass
class ValDomain:
    name: str
    docs: np.ndarray  # document indices scored, in shard order
    tokens: int  # targets: every token of those documents
    bytes: int  # UTF-8 bytes of their text


class ValSet:
    """Per-domain validation rows; the same documents for every run on the same shards."""

    def __init__(self, corpus: Corpus, seq_len: int, max_tokens_per_domain: int | None = None):
        self.corpus, self.seq_len = corpus, seq_len
        self.eot, self.pad = corpus.manifest.eot_id, corpus.manifest.pad_id
        rng = np.random.default_rng(VAL_SELECTION_SEED)
        self.domains: list[ValDomain] = []
        for d, name in enumerate(corpus.domains):
            docs = np.flatnonzero(corpus.doc_domain == d)
            if max_tokens_per_domain:
                perm = rng.permutation(docs)
                cum = np.cumsum(corpus.doc_len[perm])
                docs = np.sort(perm[: max(1, int(np.searchsorted(cum, max_tokens_per_domain, side="right")))])
            lens = corpus.doc_len[docs]
            self.domains.append(ValDomain(name, docs, int(lens.sum()), int(corpus.doc_bytes[docs].sum())))

    def rows(self, domain: ValDomain, rank: int = 0, world_size: int = 1):
        """(inputs T, targets T) of this rank's share of the domain's rows."""
        size, t = self.seq_len + 1, self.seq_len
        row = np.full(size, self.pad, dtype=np.int64)
        ok = np.zeros(size, dtype=bool)
        used, index = 0, 0

        def emit():
            nonlocal used, index, row, ok
            out = (row[:-1].copy(), np.where(ok[1:], row[1:], -1)) if index % world_size == rank else None
            row, ok = np.full(size, self.pad, dtype=np.int64), np.zeros(size, dtype=bool)
            used, index = 0, index + 1
            return out

        for doc in domain.docs:
            seq = np.concatenate(([self.eot], self.corpus.tokens(int(doc))))
            for k, s in enumerate(range(0, len(seq) - 1, t)):
                w = seq[s : s + size]
                if k == 0 and used > 0 and len(w) - 1 <= size - used:
                    w = w[1:]  # the row's previous token is already an end-of-text
                    row[used : used + len(w)] = w
                    ok[used : used + len(w)] = True
                else:
                    if used and (out := emit()) is not None:
                        yield out
                    row[: len(w)] = w
                    ok[1 : len(w)] = True
                used += len(w)
                if used == size and (out := emit()) is not None:
                    yield out
        if used and (out := emit()) is not None:
            yield out

    def batches(self, domain: ValDomain, batch_size: int, rank: int = 0, world_size: int = 1):
        """(B, T) inputs and targets; the last batch may be smaller."""
        xs, ys = [], []
        for x, y in self.rows(domain, rank, world_size):
            xs.append(x)
            ys.append(y)
            if len(xs) == batch_size:
                yield np.stack(xs), np.stack(ys)
                xs, ys = [], []
        if xs:
            yield np.stack(xs), np.stack(ys)


def unigram_entropy(corpus: Corpus, vocab_size: int) -> float:
    """Entropy in nats of the corpus's token frequencies (the loss of the best context-free model)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for values in corpus.token_chunks():
        counts += np.bincount(values, minlength=vocab_size)[:vocab_size]
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def domain_token_counts(corpus: Corpus) -> dict[str, int]:
    return {name: int(corpus.doc_len[corpus.doc_domain == d].sum()) for d, name in enumerate(corpus.domains)}


__all__ = [
    "Corpus",
    "Manifest",
    "ShardError",
    "TrainLoader",
    "ValSet",
    "domain_token_counts",
    "load_manifest",
    "parse_domain_weights",
    "split_units",
    "unigram_entropy",
]
