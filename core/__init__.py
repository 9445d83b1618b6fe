"""What every package of prep shares, importing nothing else of prep.

The contracts — the document record (`records.py`), the stage contract (`stage.py`), the shard
format (`shards.py`) — and the plumbing under them: settings errors (`settings.py`), atomic
files and checksums (`files.py`), per-id hashes (`hashing.py`), dotted fields (`fields.py`),
byte streams with decompression over fsspec (`streams.py`).
"""
