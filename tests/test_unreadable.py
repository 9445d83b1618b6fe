"""Read errors are narrow and counted: a bad file is one row, a bug fails, many bad files stop."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from conftest import write_config
from warcio.recordloader import ArchiveLoadFailed

from prep.cli import main
from prep.core.files import read_json
from prep.pipeline.config import SourceConfig, load_config
from prep.pipeline.readers.rows import Cursor, document, tables
from prep.pipeline.runner import run
from prep.pipeline.sources import InputFile
from prep.pipeline.unreadable import TooManyUnreadableFiles

LINES = [
    "The ferry left the harbour at dawn with forty passengers aboard.",
    "Rain is expected over the northern hills by the afternoon.",
    "The library will close early on Friday for the annual inventory.",
]
SOURCE = SourceConfig(name="src", domain="web", format="jsonl", paths=["x"])
FILE = InputFile(url="/data/notes.jsonl", relpath="notes.jsonl", size=1, mtime="0")


def _rows_then(exc: BaseException):
    def rows(file: InputFile, source: SourceConfig, cursor: Cursor):
        cursor.unit = "line"
        for n, text in enumerate(LINES[:2], 1):
            yield document(f"src/notes.jsonl:{n}", text, f"line {n}", source)
            cursor.n = n
        raise exc

    return rows


def _read(exc: BaseException) -> list[dict]:
    return [r for t in tables(_rows_then(exc), FILE, SOURCE, 512, 1 << 20) for r in t.to_pylist()]


def test_an_io_error_keeps_the_rows_before_it_and_ends_the_file_in_one_row():
    rows = _read(OSError(5, "Input/output error"))
    assert [r["_rule"] for r in rows] == [None, None, "unreadable_file"]
    assert rows[-1]["id"] == "src/notes.jsonl:error"
    assert rows[-1]["_reason"] == "cannot read /data/notes.jsonl after line 2: OSError: Input/output error"


@pytest.mark.parametrize(
    "exc", [KeyError("text"), TypeError("'NoneType' object is not iterable"), MemoryError()]
)
def test_an_error_that_is_not_a_read_error_is_a_bug_and_propagates(exc):
    with pytest.raises(type(exc)):
        _read(exc)


def test_a_read_error_whose_message_quotes_the_file_is_shown_by_type_only():
    rows = _read(ArchiveLoadFailed("Unknown archive format, first line: ['alice@example.org secret']"))
    reason = rows[-1]["_reason"]
    assert reason.endswith(": ArchiveLoadFailed") and "alice" not in reason


# --------------------------------------------------------------------------- a run with bad files


def _corpus(tmp: Path, n_bad: int) -> Path:
    """One good file and `n_bad` gzip files cut short in the middle of their data."""
    folder = tmp / "data"
    folder.mkdir()
    body = "".join(json.dumps({"text": t}) + "\n" for t in LINES * 200).encode()
    (folder / "good.jsonl").write_bytes(body)
    packed = gzip.compress(body)
    for i in range(n_bad):
        (folder / f"cut-{i}.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    return folder


def _config(tmp: Path, folder: Path, limit: int) -> Path:
    data = {
        "run": {
            "output": str(tmp / "out"),
            "work_dir": str(tmp / "cache"),
            "seed": 0,
            "max_unreadable_files": limit,
        },
        "sources": [{"name": "src", "domain": "web", "format": "jsonl", "paths": [str(folder / "*")]}],
        "stages": [],
    }
    return write_config(tmp / f"limit-{limit}.yaml", data)


def test_more_unreadable_files_than_allowed_fail_the_run_and_raising_the_limit_reuses_the_read(
    tmp_path, ray_session
):
    folder = _corpus(tmp_path, n_bad=2)
    with pytest.raises(TooManyUnreadableFiles) as info:
        run(load_config(_config(tmp_path, folder, limit=1)))
    message = str(info.value)
    assert message.startswith("2 input files could not be read to their end, more than")
    assert "run.max_unreadable_files=1" in message and "cut-0.jsonl.gz" in message
    assert not (tmp_path / "out").exists()  # nothing written

    again = run(load_config(_config(tmp_path, folder, limit=2)))
    assert again.passes[0].reused  # the read pass was kept
    read = next(s for s in again.stats["stages"] if s["name"] == "read")
    listed = read["metrics"]["unreadable_files"]
    assert [f["file"] for f in listed] == ["src/cut-0.jsonl.gz", "src/cut-1.jsonl.gz"]
    assert all("TruncatedInput" in f["reason"] or "EOFError" in f["reason"] for f in listed)
    rejected = pads.dataset(str(tmp_path / "out" / "rejected"), format="parquet").to_table().to_pylist()
    assert sorted(r["id"] for r in rejected if r["rule"] == "unreadable_file") == [
        "src/cut-0.jsonl.gz:error",
        "src/cut-1.jsonl.gz:error",
    ]
    stats = read_json(tmp_path / "out" / "stats.json")
    assert stats["stages"][0]["metrics"]["unreadable_files"] == listed


def test_the_cli_says_which_files_and_how_to_go_on(tmp_path, ray_session, capsys):
    folder = _corpus(tmp_path, n_bad=2)
    assert main(["run", str(_config(tmp_path, folder, limit=0))]) == 1
    err = capsys.readouterr().err
    assert "2 input files could not be read to their end" in err
    assert "raise run.max_unreadable_files" in " ".join(err.split())
    assert "Traceback" not in err
