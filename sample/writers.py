"""Byte-for-byte reproducible writers for the sample's formats: WARC, JSON Lines, Parquet, text.

Nothing time- or host-dependent goes into a file: gzip headers carry mtime 0 and no file name,
WARC record ids and dates come from the seed and the record's position.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from prep.sample.model import stable_hex

CRAWL_START = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)


def _record_id(*parts: str) -> str:
    return f"<urn:uuid:{uuid.UUID(hex=stable_hex(*parts, n=32), version=4)}>"


def _warc_date(n: int) -> str:
    return (CRAWL_START + dt.timedelta(seconds=37 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_warc(path: Path, pages: list[tuple[str, str]], seed: int) -> None:
    """A WARC file (gzip per record): one warcinfo record, then one response per (url, html)."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True, warc_version="WARC/1.1")
    info = (
        "software: prep sample builder\r\nformat: WARC File Format 1.1\r\n"
        f"description: bundled sample corpus, seed {seed}\r\nisPartOf: prep-sample\r\n"
    ).encode()
    writer.write_record(
        writer.create_warc_record(
            "",
            "warcinfo",
            payload=io.BytesIO(info),
            length=len(info),
            warc_content_type="application/warc-fields",
            warc_headers_dict={
                "WARC-Record-ID": _record_id(path.name, "warcinfo", str(seed)),
                "WARC-Date": _warc_date(0),
                "WARC-Filename": path.name,
            },
        )
    )
    for n, (url, html) in enumerate(pages, start=1):
        body = html.encode("utf-8")
        http = StatusAndHeaders(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Server", "nginx"),
            ],
            protocol="HTTP/1.1",
        )
        record = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http,
            warc_headers_dict={
                "WARC-Record-ID": _record_id(path.name, str(n), url),
                "WARC-Date": _warc_date(n),
            },
        )
        writer.write_record(record)
    path.write_bytes(buf.getvalue())


def _gzip(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return out.getvalue()


def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def write_jsonl_gz(path: Path, rows: list[dict]) -> int:
    """Write gzip JSON Lines; returns the uncompressed size."""
    data = jsonl_bytes(rows)
    path.write_bytes(_gzip(data))
    return len(data)


def write_parquet(path: Path, rows: list[dict]) -> None:
    table = pa.table({"text": [r["text"] for r in rows], "title": [r["title"] for r in rows]})
    pq.write_table(table, path, compression="zstd", row_group_size=256)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
