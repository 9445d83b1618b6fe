"""PII scrubbing with Presidio's recognizers, offline, at a fraction of naive Presidio's cost.

A streaming stage: each batch's texts are rewritten in place, found values replaced by a
type placeholder (`<EMAIL>`) or a consistent pseudonym, and every document is kept unless
`drop_if_over` says otherwise (a dropped row carries no text, so rejected/ holds none).
`pii_counts` (map<string, int32>: entity -> values replaced) says what was found in each
document; stats get counts per domain and entity, never a value. How it is fast and why it
finds what Presidio finds: `windows.py`; which recognizers and why: `recognizers.py`.
"""

from __future__ import annotations

import traceback
from collections import Counter

import pyarrow as pa

from pipeline.stage import Stage as BaseStage
from pipeline.stage import Verdict
from stages.pii.config import Config
from stages.pii.replace import Pseudonymizer, placeholder, rewrite
from stages.pii.scanner import Hit, Scanner

__all__ = ["Config", "Stage"]

#: map<string, int32>: sparse (only the entities found), typed counts that Parquet, Arrow IPC
#: shards and `pyarrow.compute.map_lookup` handle natively; a JSON string would need parsing.
PII_COUNTS = pa.map_(pa.string(), pa.int32())


class Stage(BaseStage):
    name = "pii"
    stateful = True
    output_fields = (pa.field("pii_counts", PII_COUNTS),)

    config: Config
    #: The run's seed is a key of the pseudonyms (with the salt): the runner sets `run_seed`.
    uses_run_seed = True

    @classmethod
    def rejected_scrubber(cls):
        from stages.pii.rejected import ScrubRejected

        return ScrubRejected

    def setup(self) -> None:
        self.scanner = Scanner(self.config)
        self.ner = None
        if self.config.ner_entities:
            from stages.pii.ner import NerModel

            self.ner = NerModel(self.config.ner_model, self.config.ner_entities)
        if self.config.replace == "pseudonym":
            self.replacement = Pseudonymizer(self.run_seed, self.config.resolved_salt())
        else:
            self.replacement = lambda entity, _value: placeholder(entity)

    def process(self, batch: pa.Table) -> Verdict:
        try:
            return self._process(batch)
        except Exception as exc:
            raise _withheld(exc, batch.num_rows) from None

    def scrub(self, texts: list[str | None]) -> list[str | None]:
        """The texts with every value found replaced, nothing else (for the text of rows
        other stages rejected before this one could see them)."""
        try:
            found = self.scanner.scan([t or "" for t in texts], self._ner(texts, None))
            return [
                rewrite(t, f.spans, self.replacement) if t and f.spans else t
                for t, f in zip(texts, found, strict=True)
            ]
        except Exception as exc:
            raise _withheld(exc, len(texts)) from None

    def _ner(self, texts: list[str], langs: list[str | None] | None) -> list[list[Hit]] | None:
        if self.ner is None:
            return None
        return [[Hit(*f) for f in doc] for doc in self.ner.find([t or "" for t in texts], langs)]

    def _process(self, batch: pa.Table) -> Verdict:
        texts = [t or "" for t in batch.column("text").to_pylist()]
        domains = batch.column("domain").to_pylist()
        before = Counter(self.scanner.counters)
        langs = batch.column("lang").to_pylist() if "lang" in batch.column_names else None
        found = self.scanner.scan(texts, self._ner(texts, langs))
        new_texts: list[str | None] = []
        counts: list[list[tuple[str, int]]] = []
        rules: list[str | None] = []
        reasons: list[str | None] = []
        metrics = _Metrics()
        limit = self.config.drop_if_over
        for text, domain, f in zip(texts, domains, found, strict=True):
            per_entity = Counter(entity for _, _, entity in f.spans)
            metrics.add(domain, per_entity, f.allowed)
            counts.append(sorted(per_entity.items()))
            total = sum(per_entity.values())
            if limit is not None and total > limit:
                rules.append("pii_over_limit")
                reasons.append(f"{total} PII values found (pii.drop_if_over: {limit})")
                new_texts.append(None)  # rejected/ must hold no PII: the row leaves without text
            else:
                rules.append(None)
                reasons.append(None)
                new_texts.append(rewrite(text, f.spans, self.replacement) if f.spans else text)
        text_type = batch.schema.field("text").type
        table = batch.set_column(
            batch.schema.get_field_index("text"), "text", pa.array(new_texts, text_type)
        ).append_column("pii_counts", pa.array(counts, PII_COUNTS))
        scanned = Counter(self.scanner.counters)
        scanned.subtract(before)
        metrics.scan.update(scanned)
        metrics.scan["docs"] += len(texts)
        metrics.scan["chars"] += sum(len(t) for t in texts)
        return Verdict(table, rules, reasons, metrics.as_dict())


def _withheld(exc: Exception, rows: int) -> RuntimeError:
    """An error that names where it happened but not its message: that may quote the text."""
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return RuntimeError(
        f"pii: {type(exc).__name__} at {where.filename}:{where.lineno} in a batch of {rows} "
        f"documents (message withheld: it may quote PII)"
    )


class _Metrics:
    """Per-batch numbers only (summed across batches by the runner): no value, no text."""

    def __init__(self) -> None:
        self.found: dict[str, Counter] = {}
        self.allowed: dict[str, Counter] = {}
        self.docs_with_pii: Counter = Counter()
        self.scan: Counter = Counter()

    def add(self, domain: str, found: Counter, allowed: Counter) -> None:
        self.found.setdefault(domain, Counter()).update(found)
        if allowed:
            self.allowed.setdefault(domain, Counter()).update(allowed)
        if found:
            self.docs_with_pii[domain] += 1

    def as_dict(self) -> dict:
        return {
            "found": {d: dict(c) for d, c in self.found.items()},
            "allowed": {d: dict(c) for d, c in self.allowed.items()},
            "docs_with_pii": dict(self.docs_with_pii),
            "scanned": {k: int(v) for k, v in self.scan.items()},
        }
