"""The strings beside the text that can carry the same private values: the URL (credentials,
an e-mail in a query string) and the user's string metadata. The PII stage and the scrubbing
of rejected/ pass them through the same scrubber as the text, so no column of OUT/ keeps a
value the text lost. Cost: one scan per non-null value (URLs are short: ~1% of the stage's
time on the sample's web domain)."""

from __future__ import annotations

from urllib.parse import unquote

import pyarrow as pa

from prep.stages.pii.engine import Scrubber

#: Columns of the record that hold strings taken from the input, besides `text`.
INPUT_STRING_COLUMNS = ("url",)


def string_columns(schema: pa.Schema) -> list[str]:
    """The columns of `schema` to scrub besides the text."""
    return [
        name
        for name in INPUT_STRING_COLUMNS
        if name in schema.names and pa.types.is_string(schema.field(name).type)
    ]


def scrub_columns(
    scrubber: Scrubber, batch: pa.Table, rows: list[int] | None = None
) -> tuple[pa.Table, dict]:
    """`batch` with the string columns besides the text scrubbed (in `rows`, or every row);
    and how many values each column had changed (counts only)."""
    changed: dict[str, int] = {}
    for name in string_columns(batch.schema):
        values = batch.column(name).to_pylist()
        todo = [i for i in (range(len(values)) if rows is None else rows) if values[i]]
        if not todo:
            continue
        # `carol%40gmail.com` in a query string is an e-mail too: scan the decoded form, and keep
        # the value as it was written when nothing is found in it.
        decoded = [unquote(values[i]) if "%" in values[i] else values[i] for i in todo]
        scrubbed = scrubber.scrub(decoded)
        n = 0
        for i, plain, new in zip(todo, decoded, scrubbed, strict=True):
            if new != plain:
                values[i], n = new, n + 1
        if n:
            index = batch.schema.get_field_index(name)
            batch = batch.set_column(index, batch.schema.field(index), pa.array(values, pa.string()))
            changed[name] = n
    return batch, changed
