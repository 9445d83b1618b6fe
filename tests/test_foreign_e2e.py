"""The whole configs/mix.yaml pipeline on a corpus shaped unlike the sample (tests/foreign_corpus.py):
every input format, broken and oversized records, duplicate clusters of 2 to 230 copies and a
chain, hundreds of 10-byte documents, and secrets planted in URLs, text and a broken line.

Run once through the command line, as a user runs it; the tests read what it left behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.ipc
import pytest
import ray
from conftest import REPO
from foreign_corpus import build_corpus, write_corpus_config

from prep.cli import main

#: ~3.5 minutes on 2 cores: beside the default tests it would take CI past 30 minutes there.
pytestmark = pytest.mark.slow


@dataclass
class ForeignRun:
    out: Path
    manifest: dict
    returncode: int
    log: str  # everything the command printed, stdout and stderr


@pytest.fixture(scope="module")
def foreign(tmp_path_factory, default_lm, ray_session) -> ForeignRun:
    """`prep run` on the foreign corpus in its own process, joined to the session's Ray."""
    root = tmp_path_factory.mktemp("foreign")
    manifest = build_corpus(root / "corpus")
    cfg = write_corpus_config(
        root / "foreign.yaml", root / "corpus", root / "out", root / "cache", lm_dir=default_lm
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    address = ray.get_runtime_context().gcs_address
    proc = subprocess.run(
        [sys.executable, "-m", "prep", "run", str(cfg), "--address", address],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return ForeignRun(root / "out", manifest, proc.returncode, proc.stdout + proc.stderr)


def _table(out: Path, name: str) -> pa.Table:
    return pads.dataset(str(out / name), format="parquet").to_table()


def _rejected_by_id(out: Path) -> dict[str, dict]:
    rows = _table(out, "rejected").select(["id", "stage", "rule"]).to_pylist()
    return {r["id"]: r for r in rows}


#: A traceback Ray Data itself prints (not prep): when an execution ends early (`take(1)`, an
#: aggregate's limit) while a ListFiles task still runs, its work-queue thread raises
#: InterruptedError (ray/data/_internal/dynamic_work_queue.py) and Ray forwards the worker's
#: stderr; the run is unaffected. Seen in 2 of 3 runs of this test on one CI venv.
RAY_LISTING_NOISE = re.compile(
    r"Traceback \(most recent call last\):(?:(?!Traceback).)*?dynamic_work_queue\.py(?:(?!Traceback).)*?"
    r"InterruptedError",
    re.S,
)


def test_the_run_exits_0_with_a_report_and_prep_verify_passes(foreign):
    assert foreign.returncode == 0, foreign.log[-3000:]
    assert "Traceback" not in RAY_LISTING_NOISE.sub("", foreign.log), foreign.log[-3000:]
    assert (foreign.out / "report.html").stat().st_size > 10_000
    assert main(["verify", str(foreign.out)]) == 0


def test_every_record_read_is_kept_or_rejected_exactly_once(foreign):
    stats = json.loads((foreign.out / "stats.json").read_text())
    read = stats["stages"][0]
    assert read["name"] == "read" and read["in"]["docs"] > 2000
    kept = _table(foreign.out, "documents").column("id").to_pylist()
    rejected = _table(foreign.out, "rejected").column("id").to_pylist()
    assert len(kept) + len(rejected) == read["in"]["docs"]
    assert len(set(kept) | set(rejected)) == read["in"]["docs"]  # no id twice, none lost
    assert stats["output"]["documents"]["docs"] == len(kept)
    assert stats["output"]["rejected"]["docs"] == len(rejected)


def test_each_broken_or_oversized_record_is_rejected_at_read_with_its_rule(foreign):
    planted = foreign.manifest["read_rules"]
    assert len(planted) >= 15
    rejected = _rejected_by_id(foreign.out)
    got = {i: (rejected[i]["stage"], rejected[i]["rule"]) for i in planted if i in rejected}
    assert got == {i: ("read", rule) for i, rule in planted.items()}


def test_tiny_and_large_documents_are_read_and_then_judged_by_the_stages(foreign):
    rejected = _rejected_by_id(foreign.out)
    kept = set(_table(foreign.out, "documents").column("id").to_pylist())
    tiny = foreign.manifest["tiny"]
    assert len(tiny) >= 300
    assert all(i in kept or rejected[i]["stage"] != "read" for i in tiny)
    # configs/mix.yaml's heuristics judge web only: 10-byte prose and notes go through every
    # stage (langid drops most: too few characters to be sure), and some reach the mix
    assert 0 < sum(1 for i in tiny if i in kept) < len(tiny)
    for i in foreign.manifest["large_kept"]:  # 700 kB under the source's max_doc_bytes
        assert i in kept or rejected[i]["stage"] != "read"


def test_no_two_copies_of_a_planted_duplicate_cluster_survive(foreign):
    kept = set(_table(foreign.out, "documents").column("id").to_pylist())
    rejected = _rejected_by_id(foreign.out)
    clusters = foreign.manifest["clusters"]
    assert max(len(m) for m in clusters.values()) >= 230
    survivors = {name: sorted(i for i in members if i in kept) for name, members in clusters.items()}
    assert {n: s for n, s in survivors.items() if len(s) > 1} == {}
    # the 230 copies are the stage's work, not another filter's
    big = next(m for n, m in clusters.items() if n.startswith("big230/"))
    assert sum(1 for i in big if i in rejected and rejected[i]["stage"] == "dedup") >= len(big) - 1


def test_each_records_own_id_reaches_documents_rejected_and_shards(foreign):
    """`id_field` on the JSONL source with ids, WARC-Record-ID on WARC and WET records."""
    rows = [
        *_table(foreign.out, "documents").select(["id", "source_id"]).to_pylist(),
        *_table(foreign.out, "rejected").select(["id", "source_id"]).to_pylist(),
    ]
    dups = [r for r in rows if r["id"].startswith("dups/")]
    planted = [i for m in foreign.manifest["clusters"].values() for i in m if i.startswith("dups/")]
    assert len(dups) == len(planted) > 200  # every line of that source is a cluster member
    # the generator's ids are `{cluster}-{line}`: the line is the one in prep's id
    assert all(r["source_id"].rsplit("-", 1)[1] == r["id"].rsplit(":", 1)[1] for r in dups)
    warc = [r for r in rows if r["id"].startswith(("web/", "wet/"))]
    assert warc and all(r["source_id"].startswith("<urn:uuid:") for r in warc)
    assert all(r["source_id"] is None for r in rows if r["id"].startswith(("notes/", "code/")))
    manifest = json.loads((foreign.out / "manifest.json").read_text())
    shards = [pyarrow.ipc.open_file(str(foreign.out / s["path"])).read_all() for s in manifest["shards"]]
    in_shards = {
        i: s for t in shards for i, s in zip(t["id"].to_pylist(), t["source_id"].to_pylist(), strict=True)
    }
    assert {i: s for i, s in in_shards.items() if i.startswith("dups/")} == {
        r["id"]: r["source_id"] for r in dups if r["id"] in in_shards
    }
    assert any(i.startswith("dups/") for i in in_shards)


def _out_text(out: Path) -> dict[str, str]:
    """Every file under OUT as text: Parquet and Arrow files as their rows (their pages are
    compressed, a byte search would miss a value), the rest as written."""
    blobs = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pads.dataset(str(path), format="parquet").to_table()
        elif path.suffix == ".arrow":
            table = pyarrow.ipc.open_file(str(path)).read_all().drop_columns(["tokens"])
        else:
            blobs[str(path.relative_to(out))] = path.read_text(errors="replace")
            continue
        blobs[str(path.relative_to(out))] = json.dumps(table.to_pylist(), default=str)
    return blobs


def test_no_planted_secret_reaches_any_file_of_out_or_the_log(foreign):
    """Passwords and e-mails planted in JSON url fields, Parquet url columns, WARC target URIs,
    WET URIs, document text and a line that does not parse: none in OUT/ or the command's output."""
    secrets = foreign.manifest["secrets"]
    assert len(secrets) >= 40
    blobs = {"log": foreign.log, **_out_text(foreign.out)}
    assert any(name.startswith("rejected/read") for name in blobs)
    leaks = {name: sorted(s for s in secrets if s in blob) for name, blob in blobs.items()}
    assert {name: found for name, found in leaks.items() if found} == {}
