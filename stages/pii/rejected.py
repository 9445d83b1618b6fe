"""Scrubbing the text of rows rejected before the PII stage could see them (runner hook).

A document langid or quality drops keeps its raw text in `rejected/`: in a run of
configs/mix.yaml with the PII stage last, 14 of the sample's 185 planted pattern values
(IBANs, phone numbers, e-mails) were in such rows.
The runner maps this UDF over `rejected/` when the config has a `pii` stage: the text (and
the URL: stages/pii/columns.py) of rows rejected by `read` or by a stage listed before `pii`
is scrubbed the same way the
stage scrubs kept documents (same recognizers, allow-list, placeholders or pseudonyms, and
secrets in the rows of `secrets.domains`: a code file a reader rejected keeps no key).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from prep.stages.pii.config import Config


class ScrubRejected:
    """Ray Data UDF over rejected/ rows (`stage` and `text` columns): one engine per actor.

    The driver imports this class to name it; the engine is imported in the actor."""

    def __init__(self, config: dict, before: list[str], seed: int = 0):
        from prep.stages.pii.engine import Scrubber

        self.scrubber = Scrubber(Config.model_validate(config), seed)
        self.before = pa.array(sorted(set(before)), pa.string())

    def __call__(self, batch: pa.Table) -> pa.Table:
        if batch.num_rows == 0 or "text" not in batch.column_names:
            return batch
        from prep.stages.pii.columns import scrub_columns

        todo = pc.is_in(batch.column("stage"), value_set=self.before).to_pylist()
        batch, _ = scrub_columns(self.scrubber, batch, [i for i, scrub in enumerate(todo) if scrub])
        texts = batch.column("text").to_pylist()
        rows = [i for i, (t, scrub) in enumerate(zip(texts, todo, strict=True)) if scrub and t]
        if not rows:
            return batch
        domains = batch.column("domain").to_pylist() if "domain" in batch.column_names else None
        scrubbed = self.scrubber.scrub([texts[i] for i in rows], domains and [domains[i] for i in rows])
        for i, text in zip(rows, scrubbed, strict=True):
            texts[i] = text
        index = batch.schema.get_field_index("text")
        return batch.set_column(
            index, batch.schema.field(index), pa.array(texts, batch.schema.field(index).type)
        )
