"""PII scrubbing with Presidio's recognizers, offline, at a fraction of naive Presidio's cost.

A streaming stage: each batch's texts are rewritten in place, found values replaced by a
type placeholder (`<EMAIL>`) or a consistent pseudonym, and every document is kept unless
`drop_if_over` says otherwise (a dropped row carries no text, so rejected/ holds none).
`pii_counts` (map<string, int32>: entity -> values replaced) says what was found in each
document; stats get counts per domain and entity, never a value. How it is fast and why it
finds what Presidio finds: `windows.py`; which recognizers and why: `recognizers.py`.
Secrets in code (`secrets:`, on for the code domain): `secrets.py`, counted as SECRET_<TYPE>.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from prep.core.stage import Stage as BaseStage
from prep.core.stage import Verdict
from prep.stages.pii.config import Config
from prep.stages.pii.rejected import ScrubRejected

# The engine (Presidio, which brings spaCy, torch and transformers: 3.8 CPU-s and 274 MB to
# import, measured) is imported where a batch is scrubbed, in Ray workers: the driver only
# validates this stage's config and names its UDFs.

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
        return ScrubRejected

    def setup(self) -> None:
        from prep.stages.pii.engine import Scrubber

        self.scrubber = Scrubber(self.config, self.run_seed)

    def process(self, batch: pa.Table) -> Verdict:
        try:
            return self._process(batch)
        except Exception as exc:
            from prep.stages.pii.engine import withheld

            raise withheld(exc, batch.num_rows) from None

    def _process(self, batch: pa.Table) -> Verdict:
        from prep.stages.pii.columns import scrub_columns

        texts = [t or "" for t in batch.column("text").to_pylist()]
        domains = batch.column("domain").to_pylist()
        before = self.scrubber.counters()
        langs = batch.column("lang").to_pylist() if "lang" in batch.column_names else None
        found = self.scrubber.find(texts, langs, domains)
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
                new_texts.append(self.scrubber.rewrite(text, f))
        text_type = batch.schema.field("text").type
        table = batch.set_column(
            batch.schema.get_field_index("text"), "text", pa.array(new_texts, text_type)
        ).append_column("pii_counts", pa.array(counts, PII_COUNTS))
        table, changed = scrub_columns(self.scrubber, table)
        metrics.columns.update(changed)
        scanned = self.scrubber.counters()
        scanned.subtract(before)
        metrics.scan.update(scanned)
        metrics.scan["docs"] += len(texts)
        metrics.scan["chars"] += sum(len(t) for t in texts)
        return Verdict(table, rules, reasons, metrics.as_dict())


class _Metrics:
    """Per-batch numbers only (summed across batches by the runner): no value, no text."""

    def __init__(self) -> None:
        self.found: dict[str, Counter] = {}
        self.allowed: dict[str, Counter] = {}
        self.docs_with_pii: Counter = Counter()
        self.scan: Counter = Counter()
        self.columns: Counter = Counter()  # values changed in the url (and metadata) columns

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
            "columns_changed": dict(self.columns),
        }
