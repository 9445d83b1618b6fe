"""The bundled sample corpus: real text from installed packages, with planted test items.

`build_sample(dest)` writes web (WARC), wiki (JSONL), books (text), code (JSONL) and papers
(Parquet) under `dest` with a MANIFEST.json that lists languages, duplicates, low-quality pages,
PII and benchmark copies by document id. See docs/sample.md.
"""

from prep.sample.build import BUILDER_VERSION, build_sample

__all__ = ["BUILDER_VERSION", "build_sample"]
