"""The strings beside the text that can carry the same private values: the URL (credentials,
an e-mail in a query string) and the record's own id (a user name or an address makes a
handy id), and the source's own metadata (a JSON object, scrubbed leaf by leaf). The PII stage
and the scrubbing of rejected/ pass them through the same scrubber as the text, so no column
of OUT/ keeps a value the text lost. Cost: one scan per non-null value (URLs are short: ~1% of the stage's
time on the sample's web domain)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import unquote

import pyarrow as pa

from prep.stages.pii.engine import Scrubber, is_secret, withheld
from prep.stages.pii.scanner import Found, Hit, resolve

#: Columns of the record that hold strings taken from the input, besides `text`.
INPUT_STRING_COLUMNS = ("url", "source_id")


#: URL delimiters read as spaces in a second scan: the parts of a path or query string are
#: separate values (the e-mail pattern otherwise takes `post/1?email=ana` as its local part,
#: and a `password@host` before it hides an address after it).
_DELIMITERS_AS_SPACES = str.maketrans({c: " " for c in "/?&=#;:,"})


def _scrub_urls(scrubber: Scrubber, values: list[str], domains: list[str | None] | None = None) -> list[str]:
    """Each value with what a scan of its parts found replaced, and credentials as written
    (and secrets, `?token=ghp_...`, in the values of rows of `secrets.domains`)."""
    try:
        parts = [v.translate(_DELIMITERS_AS_SPACES) for v in values]  # same length: same offsets
        found = scrubber.find(values + parts, domains=domains and domains + domains)
        out = []
        for i, value in enumerate(values):
            # credentials and secrets need the URL as written (`://user:pass@`); the rest, its parts
            whole = [(a, b, e) for a, b, e in found[i].spans if e == "URL" or is_secret(e)]
            spans = whole + found[len(values) + i].spans
            hits = [Hit(e, a, b, 1.0, False) for a, b, e in spans]
            out.append(scrubber.rewrite(value, Found(resolve(hits), found[i].allowed)))
        return out
    except Exception as exc:
        raise withheld(exc, len(values)) from None


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
    domains = batch.column("domain").to_pylist() if "domain" in batch.column_names else None
    for name in string_columns(batch.schema):
        values = batch.column(name).to_pylist()
        todo = [i for i in (range(len(values)) if rows is None else rows) if values[i]]
        if not todo:
            continue
        # `carol%40gmail.com` in a query string is an e-mail too: scan the decoded form, and keep
        # the value as it was written when nothing is found in it.
        decoded = [unquote(values[i]) if "%" in values[i] else values[i] for i in todo]
        scrubbed = _scrub_urls(scrubber, decoded, domains and [domains[i] for i in todo])
        n = 0
        for i, plain, new in zip(todo, decoded, scrubbed, strict=True):
            if new != plain:
                values[i], n = new, n + 1
        if n:
            index = batch.schema.get_field_index(name)
            batch = batch.set_column(index, batch.schema.field(index), pa.array(values, pa.string()))
            changed[name] = n
    if "metadata" in batch.column_names and pa.types.is_string(batch.schema.field("metadata").type):
        batch, n = _scrub_metadata(scrubber, batch, rows, domains)
        if n:
            changed["metadata"] = n
    return batch, changed


def _leaves(value, out: list) -> None:
    """Every string and number inside a JSON value, in order."""
    if isinstance(value, dict):
        for v in value.values():
            _leaves(v, out)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, out)
    elif isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        out.append(value)


def _rebuild(value, new: Iterator):
    """`value` with its leaves (see `_leaves`) taken in order from `new`."""
    if isinstance(value, dict):
        return {k: _rebuild(v, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v, new) for v in value]
    if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return next(new)
    return value


def _scrub_metadata(
    scrubber: Scrubber, batch: pa.Table, rows: list[int] | None, domains: list[str | None] | None = None
) -> tuple[pa.Table, int]:
    """The metadata column's JSON with every string leaf scrubbed like a URL, and every number
    whose digits hold a value (a phone or card number stored as a number) made null: a number
    cannot hold a placeholder, and its type is the field's. Counts the rows changed."""
    values = batch.column("metadata").to_pylist()
    todo = [i for i in (range(len(values)) if rows is None else rows) if values[i]]
    if not todo:
        return batch, 0
    parsed = {i: json.loads(values[i]) for i in todo}
    leaves: dict[int, list] = {}
    for i in todo:
        leaves[i] = []
        _leaves(parsed[i], leaves[i])
    flat = [(i, j) for i in todo for j in range(len(leaves[i]))]
    if not flat:
        return batch, 0
    texts = [str(leaves[i][j]) for i, j in flat]
    decoded = [unquote(t) if "%" in t else t for t in texts]
    scrubbed = _scrub_urls(scrubber, decoded, domains and [domains[i] for i, _ in flat])
    new = {i: list(leaves[i]) for i in todo}
    for (i, j), plain, out in zip(flat, decoded, scrubbed, strict=True):
        if out != plain:
            new[i][j] = out if isinstance(leaves[i][j], str) else None
    n = 0
    for i in todo:
        if new[i] != leaves[i]:
            rebuilt = _rebuild(parsed[i], iter(new[i]))
            values[i] = json.dumps(rebuilt, ensure_ascii=False, separators=(",", ":"))
            n += 1
    if n:
        index = batch.schema.get_field_index("metadata")
        batch = batch.set_column(index, batch.schema.field(index), pa.array(values, pa.string()))
    return batch, n
