"""The dedup stage on the bundled sample: planted duplicates, parallelism, resume, edge cases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest
import ray
from conftest import mix_config, write_config
from datasketch import MinHash
from datasketch.lsh import _optimal_param
from pydantic import ValidationError

from prep.core.stage import FitContext
from prep.pipeline.config import load_config
from prep.pipeline.runner import run, with_file_names
from prep.stages.dedup import Config, Stage, components
from prep.stages.dedup.keep import decide
from prep.stages.dedup.lsh import BAND_ROW_SCHEMA, STATS, bucket_pairs
from prep.stages.dedup.minhash import MinHasher
from prep.stages.dedup.plan import MemoryPlanError
from prep.stages.dedup.signing import EXACT, SHINGLES, SIGNATURE

TEMPORARY = {EXACT, SIGNATURE, SHINGLES, "_dedup_bytes"}


def dedup_config(tmp: Path, block: dict | None = None, **run_overrides) -> dict:
    """The sample's sources with dedup as the only stage (no tokenizer/mix: faster)."""
    data = mix_config(tmp, **run_overrides)
    data["stages"] = [{"dedup": block or {}}]
    data.pop("tokenizer", None)
    data.pop("mix", None)
    return data


def _rejected(out: Path) -> pa.Table:
    table = pads.dataset(str(out / "rejected"), format="parquet").to_table()
    return table.filter(pc.equal(table.column("stage"), "dedup"))


def _dedup_stats(out: Path) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    return next(s for s in stats["stages"] if s["name"] == "dedup")


def _pass_data(cache: Path, label: str) -> Path:
    """The data of the pass named `label` (`NN-label-key`)."""
    return (
        next(d for d in (cache / "passes").iterdir() if re.fullmatch(rf"\d\d-{label}-[0-9a-f]{{16}}", d.name))
        / "data"
    )


@pytest.fixture(scope="module")
def deduped(tmp_path_factory, sample_dir, ray_session):
    tmp = tmp_path_factory.mktemp("dedup")
    cfg = write_config(tmp / "dedup.yaml", dedup_config(tmp))
    result = run(load_config(cfg))
    read = pads.dataset(str(_pass_data(tmp / "cache", "read")), format="parquet").to_table(
        columns=["id", "text"]
    )
    texts = dict(zip(read.column("id").to_pylist(), read.column("text").to_pylist(), strict=True))
    return tmp, result, texts


def _fit(data_dir: Path, work: Path, block: dict, cpus: int = 2, blocks: int | None = None) -> pa.Table:
    """Run the fit directly on a process-pass output; its decisions, sorted by id."""
    stage = Stage(Config.model_validate(block))
    ds = ray.data.read_parquet(str(data_dir), override_num_blocks=blocks, include_paths=True)
    ds = ds.map_batches(with_file_names, batch_format="pyarrow").select_columns(
        [*stage.fit_columns, "domain", "_stage"]
    )
    ds = ds.map_batches(
        lambda b: b.filter(pc.is_null(b.column("_stage"))).drop_columns(["_stage"]), batch_format="pyarrow"
    )
    stage.fit(ds, FitContext(work, 0, cpus))
    return _decisions(work / "decisions")


def _decisions(folder: Path) -> pa.Table:
    """Every decision row (stored per pass output file: `file=NAME/` folders), sorted by id."""
    table = pads.dataset(str(folder), format="parquet", partitioning="hive").to_table()
    return table.cast(
        pa.schema([(f.name, pa.string() if f.name == "file" else f.type) for f in table.schema])
    ).sort_by("id")


# --------------------------------------------------------------------------- the sample


def test_planted_duplicates_are_removed_and_distinct_documents_kept(deduped, sample_manifest):
    tmp, _, texts = deduped
    rejected = {r["id"]: r for r in _rejected(tmp / "out").to_pylist()}
    planted = sample_manifest["planted"]
    pairs = planted["exact_duplicates"] + planted["near_duplicates"]
    assert len(pairs) >= 30
    for item in pairs:
        copy, original = item["id"], item["original"]
        dropped = [d for d in (copy, original) if d in rejected]
        assert len(dropped) == 1, f"{copy} / {original}: expected exactly one dropped, got {dropped}"
        other = original if dropped[0] == copy else copy
        row = rejected[dropped[0]]
        assert other in row["reason"] and "(kept" in row["reason"]
        if item["kind"] == "near":
            assert row["rule"] == "near_duplicate"
        elif "container" not in item:  # web copies: the page's extracted text may differ a little
            assert row["rule"] == "exact_duplicate"
        assert row["text"] == texts[dropped[0]]  # rejected rows keep their text
    # wiki has no duplicates but the planted ones: nothing else there is touched
    planted_ids = {i for p in pairs for i in (p["id"], p["original"])}
    wiki_dropped = {i for i in rejected if i.startswith("wiki/")}
    assert wiki_dropped and wiki_dropped <= planted_ids
    # every other drop has a real near duplicate in its cluster (J >= 0.5 on word 5-grams),
    # except LSH's rare false positives: stdlib modules vs their own docstrings (papers)
    mh = MinHasher()
    table = pa.concat_tables(
        [
            pads.dataset(str(tmp / "out" / "documents"), format="parquet").to_table(
                columns=["id", "dup_cluster"]
            ),
            _rejected(tmp / "out").select(["id", "dup_cluster"]),
        ]
    )
    clusters: dict[str, list[str]] = {}
    for row in table.to_pylist():
        clusters.setdefault(row["dup_cluster"], []).append(row["id"])
    weak = []
    for doc_id, row in rejected.items():
        others = [m for m in clusters[row["dup_cluster"]] if m != doc_id]
        best = max(mh.jaccard(texts[doc_id], texts[m]) for m in others)
        if best < 0.5:
            weak.append(doc_id)
    assert len(weak) <= 0.05 * len(rejected) and all(w.startswith(("code/", "papers/")) for w in weak), weak


def test_every_document_gets_its_cluster_and_temporary_columns_never_leave(deduped):
    tmp, _, _ = deduped
    out = tmp / "out"
    docs = pads.dataset(str(out / "documents"), format="parquet").to_table()
    rejected = _rejected(out)
    assert not TEMPORARY & set(docs.column_names) and not TEMPORARY & set(rejected.column_names)
    rows = docs.select(["id", "dup_cluster", "dup_cluster_size"]).to_pylist()
    singles = [r for r in rows if r["dup_cluster_size"] == 1]
    assert singles and all(r["dup_cluster"] == r["id"] for r in singles)
    kept_ids = {r["id"] for r in rows}
    sizes: dict[str, int] = {}
    for r in [*rows, *rejected.select(["id", "dup_cluster", "dup_cluster_size"]).to_pylist()]:
        sizes[r["dup_cluster"]] = sizes.get(r["dup_cluster"], 0) + 1
        assert r["dup_cluster"] in kept_ids  # the cluster id is the kept document's id
    for r in rows:
        assert sizes[r["dup_cluster"]] == r["dup_cluster_size"]  # one kept per cluster, all counted
    assert set(rejected.column("rule").to_pylist()) == {"exact_duplicate", "near_duplicate"}


def test_stats_report_removals_histogram_and_memory_plan(deduped):
    tmp, _, _ = deduped
    stage = _dedup_stats(tmp / "out")
    assert stage["in"]["docs"] == stage["kept"]["docs"] + stage["dropped"]["docs"]
    rules = stage["rules"]
    assert rules["exact_duplicate"]["docs"] >= 20 and rules["near_duplicate"]["docs"] >= 16
    for domain in ("wiki", "web", "code"):
        assert stage["domains"][domain]["rules"]["exact_duplicate"]["docs"] > 0
    fit = stage["metrics"]["fit"]
    hist = fit["cluster_sizes"]
    assert sum(hist.values()) == fit["clusters"] and hist["2"] > 10
    sizes = [c["size"] for c in fit["largest_clusters"]]
    assert sizes == sorted(sizes, reverse=True) and set(fit["largest_clusters"][0]) == {"cluster", "size"}
    assert fit["docs_in_clusters"] == fit["clusters"] + stage["dropped"]["docs"]
    plan = fit["memory_plan"]
    assert plan["docs"] == stage["in"]["docs"] and plan["shuffle_gb"] > 0 and plan["available_gb"] > 1
    assert fit["components"]["algorithm"] == "in_memory"
    assert fit["buckets"]["exact_groups"] > 0 and fit["buckets"]["fuzzy_pairs"] > 0
    assert stage["metrics"]["signed"]["wiki"] > 100


def test_signature_column_equals_datasketch(sample_dir):
    source = [json.loads(line) for line in _wiki_lines(sample_dir)[:20]]
    texts = [d["text"] for d in source] + ["too short", "", "Ünïcödé straße — ﬁne"]
    batch = pa.table(
        {"id": [str(i) for i in range(len(texts))], "text": texts, "domain": ["wiki"] * len(texts)}
    )
    stage = Stage(Config.model_validate({"fuzzy": {"num_perm": 64, "seed": 7}}))
    stage.setup()
    verdict = stage.process(batch)
    assert verdict.rules == [None] * len(texts)
    sigs = verdict.table.column(SIGNATURE).to_pylist()
    hasher = stage.signer.hasher
    for text, sig in zip(texts, sigs, strict=True):
        m = MinHash(**hasher.datasketch_kwargs)
        m.update_batch(hasher.shingles(text))
        assert np.array_equal(np.frombuffer(sig, dtype="<u8"), m.hashvalues)


def _wiki_lines(sample_dir: Path) -> list[str]:
    import gzip

    with gzip.open(sample_dir / "wiki" / "wiki-00001.jsonl.gz", "rt", encoding="utf-8") as f:
        return f.read().splitlines()


# --------------------------------------------------------------------------- parallelism and resume


def test_same_decisions_with_one_worker_as_with_the_run(deduped, tmp_path):
    """The run's fit had 2 CPUs and Ray's own blocks; this one a single partition and block.
    (Several partitions and blocks, and the distributed algorithm: the resume test below.)"""
    tmp, _, _ = deduped
    run_decisions = _decisions(next((tmp / "cache" / "fits").glob("dedup-*")) / "decisions")
    one = _fit(_pass_data(tmp / "cache", "dedup"), tmp_path / "one", {"partitions": 1}, cpus=1, blocks=1)
    assert one.num_rows > 50
    assert one.equals(run_decisions)


def test_interrupted_components_resume_with_the_same_result(deduped, tmp_path, monkeypatch):
    """A crash after the first distributed round; the rerun resumes from its checkpoints.

    Both with more partitions and blocks than the run's in-memory fit, which they must equal."""
    tmp, _, _ = deduped
    run_decisions = _decisions(next((tmp / "cache" / "fits").glob("dedup-*")) / "decisions")
    data = _pass_data(tmp / "cache", "dedup")
    block = {"components": {"algorithm": "distributed"}, "partitions": 3}

    def crash(rnd: int, step: str) -> None:
        if (rnd, step) == (1, "small"):
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(components, "after_step", crash)
    with pytest.raises(KeyboardInterrupt):
        _fit(data, tmp_path / "fit", block, cpus=4, blocks=13)
    assert (tmp_path / "fit" / "cc-001-small" / "_done.json").is_file()
    assert not (tmp_path / "fit" / "cc-002-large").exists()
    seen: list[tuple[int, str]] = []
    monkeypatch.setattr(components, "after_step", lambda rnd, step: seen.append((rnd, step)))
    resumed = _fit(data, tmp_path / "fit", {**block, "partitions": 7}, cpus=4, blocks=13)
    assert seen and seen[0] == (2, "large")  # rounds already on disk were not recomputed
    assert resumed.equals(run_decisions)


# --------------------------------------------------------------------------- edge cases


def _jsonl(path: Path, texts: list[str]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return str(path)


def _small_run(tmp: Path, sources: dict[str, list[str]], block: dict | None = None) -> tuple[dict, pa.Table]:
    data = {
        "run": {"output": str(tmp / "out"), "work_dir": str(tmp / "cache"), "seed": 0},
        "sources": [
            {"name": name, "domain": name, "format": "jsonl", "paths": [_jsonl(tmp / f"{name}.jsonl", texts)]}
            for name, texts in sources.items()
        ],
        "stages": [{"dedup": block or {}}],
    }
    run(load_config(write_config(tmp / "c.yaml", data)))
    docs = pads.dataset(str(tmp / "out" / "documents"), format="parquet").to_table()
    return _dedup_stats(tmp / "out"), docs


def test_single_identical_and_short_documents(tmp_path, ray_session):
    sentence = "the quick brown fox jumps over the lazy dog near the river bank"
    stats, docs = _small_run(
        tmp_path,
        {
            "one": ["a single document with enough words to make several shingles of five"],
            "same": [sentence] * 5,
            "short": ["hello world", "Hello, world!", "good morning", "yes", "!!!", "???"],
        },
    )
    assert stats["in"]["docs"] == 12 and stats["kept"]["docs"] + stats["dropped"]["docs"] == 12
    assert stats["domains"]["one"]["kept"]["docs"] == 1
    assert stats["domains"]["same"]["rules"]["exact_duplicate"]["docs"] == 4
    # "Hello, world!" normalises to "hello world"; "!!!" and "???" normalise to nothing: not equal
    assert stats["domains"]["short"]["rules"]["exact_duplicate"]["docs"] == 1
    assert stats["domains"]["short"]["kept"]["docs"] == 5
    assert stats["metrics"]["shorter_than_shingle"]["short"] == 4
    assert stats["metrics"]["no_shingles"]["short"] == 2
    same = docs.filter(pc.equal(docs.column("domain"), "same")).to_pylist()
    assert len(same) == 1 and same[0]["dup_cluster_size"] == 5 and same[0]["id"].endswith(":1")


def test_empty_input(tmp_path, ray_session):
    stats, docs = _small_run(tmp_path, {"empty": []})
    assert stats["in"]["docs"] == 0 and docs.num_rows == 0
    assert stats["metrics"]["fit"]["clusters"] == 0 and stats["metrics"]["fit"]["docs"] == 0


# --------------------------------------------------------------------------- fit-only settings and errors


def test_changed_keep_policy_reuses_the_signatures(deduped, tmp_path):
    tmp, _, texts = deduped
    data = dedup_config(tmp, {"keep": "longest"}, output=str(tmp_path / "out"))
    again = run(load_config(write_config(tmp_path / "longest.yaml", data)))
    assert [p.reused for p in again.passes] == [True, True, False]
    first = {r["id"]: r for r in _rejected(tmp / "out").to_pylist()}
    longest = {r["id"]: r for r in _rejected(tmp_path / "out").to_pylist()}
    assert len(first) == len(longest) and set(first) != set(longest)
    for doc_id, row in longest.items():  # the kept one is at least as long as every dropped one
        kept = re.search(r"of (\S+) \(kept", row["reason"]).group(1)
        assert len(texts[kept].encode()) >= len(texts[doc_id].encode())


def test_memory_plan_refuses_what_would_not_fit(deduped, tmp_path):
    tmp, _, _ = deduped
    data = dedup_config(tmp, {"memory_limit_gb": 1e-6}, output=str(tmp_path / "out"))
    with pytest.raises(MemoryPlanError, match="Suggestion: add Ray nodes"):
        run(load_config(write_config(tmp_path / "tiny.yaml", data)))


def test_lowest_perplexity_without_a_quality_stage_is_a_clear_error(deduped, tmp_path):
    tmp, _, _ = deduped
    data = dedup_config(tmp, {"keep": "lowest_ppl"}, output=str(tmp_path / "out"))
    with pytest.raises(ValueError, match="quality stage"):
        run(load_config(write_config(tmp_path / "ppl.yaml", data)))


def test_verification_removes_lsh_false_positives(deduped, tmp_path, sample_manifest):
    tmp, _, texts = deduped
    mh = MinHasher()
    data = _pass_data(tmp / "cache", "dedup")
    plain = _decisions(next((tmp / "cache" / "fits").glob("dedup-*")) / "decisions")
    checked = _fit(data, tmp_path / "checked", {"fuzzy": {"verify": True, "verify_threshold": 0.8}})
    manifest = json.loads(next((tmp_path / "checked").glob("decisions/_done.json")).read_text())
    assert manifest["rows"] == checked.num_rows < plain.num_rows
    members = set(checked.column("id").to_pylist())
    for item in sample_manifest["planted"]["near_duplicates"]:  # all at J ~0.9: still found
        assert {item["id"], item["original"]} <= members
    # what verification removed were pairs below the threshold
    gone = set(plain.column("id").to_pylist()) - members
    assert gone
    # no verified pair is below the threshold: every member has a partner at J >= 0.8
    by_cluster: dict[str, list[str]] = {}
    for row in checked.to_pylist():
        by_cluster.setdefault(row["cluster"], []).append(row["id"])
    for ids in by_cluster.values():
        for a in ids:
            assert max(mh.jaccard(texts[a], texts[b]) for b in ids if b != a) >= 0.8 - 0.05


# --------------------------------------------------------------------------- units


def test_config_bands_rows_and_errors():
    assert Config.model_validate({}).fuzzy.lsh() == (14, 8)
    for threshold, num_perm in [(0.8, 112), (0.7, 128), (0.5, 64)]:
        fuzzy = Config.model_validate({"fuzzy": {"threshold": threshold, "num_perm": num_perm}}).fuzzy
        assert fuzzy.lsh() == _optimal_param(threshold, num_perm, 0.5, 0.5)
    bad = [
        {"fuzzy": {"threshold": 0.8, "bands": 10, "rows": 5}},
        {"fuzzy": {"bands": 20, "rows": 8}},
        {"fuzzy": {"bands": 10}},
        {"exact": {"enabled": False}, "fuzzy": {"enabled": False}},
        {"keep": "random"},
        {"fuzzy": {"giant": "x"}},
    ]
    for block in bad:
        with pytest.raises(ValidationError):
            Config.model_validate(block)
    base = Config.model_validate({}).fingerprint("process")
    fit_only = Config.model_validate(
        {"keep": "longest", "fuzzy": {"threshold": 0.7, "verify": True, "max_bucket": 50}, "partitions": 3}
    )
    assert fit_only.fingerprint("process") == base
    assert Config.model_validate({"fuzzy": {"ngram": 3}}).fingerprint("process") != base
    assert fit_only.fingerprint() != Config.model_validate({}).fingerprint()


def _band_rows(keys: list[int], nodes: list[int], ex: list[int], exact: list[bool]) -> dict:
    table = pa.Table.from_arrays(
        [
            pa.array([0] * len(keys), pa.int64()),
            pa.array(keys, pa.uint64()),
            pa.array(nodes, pa.int64()),
            pa.array(ex, pa.uint64()),
            pa.array(exact, pa.bool_()),
        ],
        schema=BAND_ROW_SCHEMA,
    )
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _pairs_and_stats(out: pa.Table) -> tuple[set, dict]:
    rows = out.to_pylist()
    pairs = {(r["src"], r["dst"]) for r in rows if r["stat"] < 0}
    stats = {STATS[r["stat"]]: r["src"] for r in rows if r["stat"] >= 0}
    return pairs, stats


def test_giant_buckets_are_split_or_dropped_and_counted():
    n = 50
    giant = _band_rows(
        [7] * n + [9, 9], [*list(range(n)), 100, 101], [*list(range(1000, 1000 + n)), 5, 6], [False] * (n + 2)
    )
    pairs, stats = _pairs_and_stats(bucket_pairs(giant, max_bucket=10, giant="drop", collapse=True))
    assert pairs == {(100, 101)} and stats["giant_buckets"] == 1 and stats["giant_bucket_docs"] == n
    pairs, stats = _pairs_and_stats(bucket_pairs(giant, max_bucket=10, giant="split", collapse=True))
    assert stats["giant_buckets"] == 1 and (100, 101) in pairs
    assert n - 10 <= len(pairs) - 1 < n - 1  # stars of sub-buckets: fewer pairs than one big star
    # identical documents collapse inside a band bucket; the exact band links them
    same = _band_rows([7, 7, 7, 3, 3], [4, 2, 9, 4, 2], [1, 1, 2, 1, 1], [False, False, False, True, True])
    pairs, stats = _pairs_and_stats(bucket_pairs(same, max_bucket=10, giant="split", collapse=True))
    assert pairs == {(2, 9), (2, 4)} and stats["exact_pairs"] == 1 and stats["fuzzy_pairs"] == 1


def test_keep_policies_and_ties():
    members = pa.table(
        {
            "comp": [1, 1, 1, 1],
            "id": ["web/b.warc.gz:10", "web/b.warc.gz:9", "web/a.warc.gz:30", "wiki/x.jsonl:2"],
            "file": ["part-1", "part-1", "part-0", "part-2"],
            "domain": ["web", "web", "web", "wiki"],
            "bytes": [100, 300, 300, 50],
            "ppl": [20.0, None, 15.0, 15.0],
            "ex1": np.array([1, 2, 3, 3], dtype=np.uint64),
            "ex2": np.array([1, 2, 3, 3], dtype=np.uint64),
        }
    )

    def kept(policy: str) -> tuple[str, list]:
        rows = decide(members, policy, exact_enabled=True).to_pylist()
        assert {r["size"] for r in rows} == {4} and sum(r["keep"] for r in rows) == 1
        return next(r["id"] for r in rows if r["keep"]), sorted(
            (r["id"], r["match"]) for r in rows if not r["keep"]
        )

    assert kept("first")[0] == "web/a.warc.gz:30"  # path order, then record number as a number
    assert kept("longest")[0] == "web/a.warc.gz:30"  # 300 bytes tie: broken by id
    winner, dropped = kept("lowest_ppl")
    assert winner == "web/a.warc.gz:30" and ("wiki/x.jsonl:2", "exact") in dropped
    assert ("web/b.warc.gz:9", "near") in dropped  # no perplexity: never kept over a scored one
    assert decide(members.slice(0, 2), "first", True).to_pylist()[0]["id"] == "web/b.warc.gz:9"
