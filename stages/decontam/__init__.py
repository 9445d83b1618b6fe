"""Decontamination: documents that contain benchmark items are dropped or have them cut out.

A streaming stage. The n-gram index of every configured benchmark (`index.py`: normalised word
13-grams of question + answer, short items whole, boilerplate windows ignored) is built once per
pass by `prepare` in one Ray task; it stays in the Ray object store and every worker's
`setup(shared)` reads it zero-copy (without the runner hook, each worker builds its own).
Each document gets `contaminated` and `contamination` (the benchmark and item id of every item
it overlaps). `action: drop` rejects it (`benchmark_contamination`); `action: remove_spans`
cuts each matched span out with a margin (GPT-3: 200 characters) and keeps the rest, unless the
document falls into more than `max_pieces` pieces or too little is left
(`contamination_fragmented`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import numpy as np
import pyarrow as pa

from prep.core.stage import Stage as BaseStage
from prep.core.stage import Verdict
from prep.stages.decontam.config import BenchmarkFileError, Config, UserBenchmark
from prep.stages.decontam.index import BenchmarkIndex, Hits
from prep.stages.decontam.ngrams import Words, words
from prep.stages.decontam.registry import BUNDLED
from prep.stages.decontam.spans import cut

__all__ = ["BenchmarkFileError", "Config", "Stage", "UserBenchmark", "build_index"]

log = logging.getLogger("prep")

CONTAMINATION_TYPE = pa.list_(pa.struct([("benchmark", pa.string()), ("item", pa.string())]))
#: Items named in a drop reason; the `contamination` column has them all.
_REASON_ITEMS = 5


def build_index(config: Config) -> BenchmarkIndex:
    """The index of every benchmark `config` names (bundled and user)."""
    sources = [(name, BUNDLED[name].items()) for name in config.bundled()]
    sources += [(user.name, user.items()) for user in config.user_benchmarks]
    return BenchmarkIndex.build(sources, config.ngram, config.min_words, config.max_item_frequency)


class Stage(BaseStage):
    name = "decontam"
    stateful = True
    output_fields = (pa.field("contaminated", pa.bool_()), pa.field("contamination", CONTAMINATION_TYPE))

    config: Config

    def prepare(self) -> dict:
        """Build the index, once per pass in one Ray task: `shared` goes to every worker's `setup`
        through the object store, `metrics` (index size, build time) to stats.json."""
        t0 = time.perf_counter()
        index = build_index(self.config)
        seconds = round(time.perf_counter() - t0, 3)
        log.info(
            "decontam: indexed %d benchmarks, %d keys in %.1f s", len(index.benchmarks), index.size, seconds
        )
        metrics = {"index": {"keys": index.size, "seconds": seconds, "benchmarks": index.summary}}
        return {"shared": index.to_shared(), "metrics": metrics}

    def setup(self, shared: dict | None = None) -> None:
        self.index = BenchmarkIndex.from_shared(shared if shared is not None else self.prepare()["shared"])

    def process(self, batch: pa.Table) -> Verdict:
        original = batch.column("text").to_pylist()
        domains = batch.column("domain").to_pylist()
        w = words([t or "" for t in original])
        found = _by_doc(self.index.confirm(self.index.lookup(w), self.config.min_coverage))
        rules: list[str | None] = [None] * batch.num_rows
        reasons: list[str | None] = [None] * batch.num_rows
        column: list[list[dict]] = [[] for _ in original]
        trimmed: dict[int, str] = {}
        metrics: dict = {}
        for doc, (items, windows) in found.items():
            named = [self.index.item(i) for i in items]
            column[doc] = [{"benchmark": b, "item": i} for b, i in named]
            _count(metrics, domains[doc], named)
            if self.config.action == "drop":
                rules[doc] = "benchmark_contamination"
                reasons[doc] = _reason("benchmark items in the text:", named)
                continue
            rules[doc], reasons[doc], left = self._remove(original[doc], w, windows, named)
            if rules[doc] is None:
                trimmed[doc] = left
                _add(metrics, "trimmed", domains[doc], 1)
                _add(metrics, "chars_removed", domains[doc], len(original[doc]) - len(left))
        table = batch
        if trimmed:
            texts = pa.array([trimmed.get(i, t) for i, t in enumerate(original)], pa.string())
            table = table.set_column(table.schema.get_field_index("text"), "text", texts)
        table = table.append_column("contaminated", pa.array([bool(c) for c in column], pa.bool_()))
        table = table.append_column("contamination", pa.array(column, CONTAMINATION_TYPE))
        return Verdict(table, rules, reasons, metrics)

    def _remove(self, text: str, w: Words, windows: np.ndarray, named: list[tuple[str, str]]):
        """(rule, reason, text) after cutting the matched windows out of one document."""
        spans = zip(w.start[windows[:, 0]].tolist(), w.end[windows[:, 1]].tolist(), strict=True)
        pieces, _ = cut(text, spans, self.config.margin_chars)
        left = "\n\n".join(pieces)
        if len(pieces) > self.config.max_pieces:
            why = f"cut into {len(pieces)} pieces (> max_pieces {self.config.max_pieces}) around"
            return "contamination_fragmented", _reason(why, named), text
        if len(left) < self.config.min_remaining_chars:
            why = f"{len(left)} characters left (< min_remaining_chars {self.config.min_remaining_chars})"
            return "contamination_fragmented", _reason(f"{why} after cutting out", named), text
        return None, None, left


def _by_doc(hits: Hits) -> dict[int, tuple[list[int], np.ndarray]]:
    """Per document with hits: its items (ascending) and its windows as [first word, last word]."""
    out: dict[int, tuple[list[int], np.ndarray]] = {}
    if not len(hits):
        return out
    order = np.lexsort((hits.item, hits.doc))
    doc, item = hits.doc[order], hits.item[order]
    windows = np.stack([hits.word[order], hits.word[order] + hits.length[order] - 1], axis=1)
    cuts = np.flatnonzero(doc[1:] != doc[:-1]) + 1
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(doc)], strict=True):
        out[int(doc[lo])] = (sorted(set(item[lo:hi].tolist())), windows[lo:hi])
    return out


def _reason(prefix: str, named: list[tuple[str, str]]) -> str:
    shown = ", ".join(f"{b} {i}" for b, i in named[:_REASON_ITEMS])
    more = f" (+{len(named) - _REASON_ITEMS} more)" if len(named) > _REASON_ITEMS else ""
    return f"{prefix} {shown}{more}"


def _add(metrics: dict, key: str, domain: str, n: int) -> None:
    slot = metrics.setdefault(key, {})
    slot[domain] = slot.get(domain, 0) + n


def _count(metrics: dict, domain: str, named: list[tuple[str, str]]) -> None:
    """Contaminated documents per domain and per benchmark and domain, (document, item) pairs per
    benchmark: sums, so they add up across batches (ids are in the rows, not here)."""
    _add(metrics, "contaminated", domain, 1)
    for bench, n in Counter(b for b, _ in named).items():
        _add(metrics.setdefault("benchmarks", {}), bench, domain, 1)
        _add(metrics, "item_hits", bench, n)
