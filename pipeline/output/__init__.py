"""What a run writes to OUT/: one module per product.

`manifest.py` writes stats.json and manifest.json after `rejected.py` (rejected/) and
`documents.py` (documents/); `shards.py` writes shards/ and tokenizer.json; `cache.py`
keeps those products under work_dir/outputs so that a re-run links them.
"""
