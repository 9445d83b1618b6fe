"""The quality stage on the bundled sample: heuristics, perplexity, buckets, errors, lm train."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from conftest import REPO, write_config

from prep.cli import main
from prep.pipeline.config import SourceConfig
from prep.pipeline.readers import read_file
from prep.pipeline.sources import list_input_files
from prep.stages.quality import Config, Stage
from prep.stages.quality.heuristics import Heuristics, HeuristicsConfig
from prep.stages.quality.perplexity import LMSpec, PerplexityModel, normalise_line
from prep.stages.quality.words import RegexWords

#: Junk pages whose extracted text is long enough for an n-gram model to judge.
SCORABLE_JUNK = ("boilerplate", "keyword_spam", "lorem_ipsum", "all_caps", "repeated_lines")


def _read(sample_dir: Path, fmt: str, pattern: str, domain: str) -> pa.Table:
    source = SourceConfig(name=domain, domain=domain, format=fmt, paths=[str(sample_dir / pattern)])
    tables = [t for f in list_input_files(source.paths) for t in read_file(f, source)]
    table = pa.concat_tables(tables)
    return table.filter(pc.is_null(table.column("_stage")))


@pytest.fixture(scope="module")
def heldout_lm(tmp_path_factory, sample_dir) -> Path:
    """A model trained through `prep lm train` on one wiki file; the other file is held out."""
    out = tmp_path_factory.mktemp("lm") / "wiki1"
    argv = ["lm", "train", "--input", str(sample_dir / "wiki" / "wiki-00001.jsonl.gz"), "--out", str(out)]
    assert main([*argv, "--order", "4"]) == 0
    return out


@pytest.fixture(scope="module")
def web(sample_dir) -> pa.Table:
    return _read(sample_dir, "warc", "web/*.warc.gz", "web")


def _junk(web: pa.Table, sample_manifest: dict) -> dict[str, list[str]]:
    kinds = {x["id"]: x["kind"] for x in sample_manifest["planted"]["low_quality"]}
    out: dict[str, list[str]] = {}
    for row in web.select(["id", "text"]).to_pylist():
        if row["id"] in kinds:
            out.setdefault(kinds[row["id"]], []).append(row["text"])
    return out


def test_lm_train_writes_a_model_kenlm_loads(heldout_lm):
    meta = json.loads((heldout_lm / "lm.json").read_text())
    assert meta["order"] == 4 and meta["normalise"] == "ccnet" and meta["tokens"] > 100_000
    assert not meta["discount_fallback"] and len(meta["ngrams"]) == 4
    assert (heldout_lm / "model.arpa").read_text(encoding="utf-8").startswith("\\data\\")
    model = PerplexityModel(LMSpec(dir=str(heldout_lm)))
    assert model.model.order == 4


def test_prose_scores_lower_than_its_shuffled_words(heldout_lm, sample_dir):
    texts = _read(sample_dir, "jsonl", "wiki/wiki-00002.jsonl.gz", "wiki").column("text").to_pylist()
    rng = random.Random(0)
    shuffled = []
    for text in texts:
        words = text.split(" ")
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    model = PerplexityModel(LMSpec(dir=str(heldout_lm)))
    prose, salad = model.perplexities(texts), model.perplexities(shuffled)
    assert len(texts) > 100
    assert (prose < salad).all()
    assert np.median(salad) > 2 * np.median(prose)


def test_prose_scores_lower_than_junk_pages(heldout_lm, sample_dir, web, sample_manifest):
    prose = _read(sample_dir, "jsonl", "wiki/wiki-00002.jsonl.gz", "wiki").column("text").to_pylist()
    model = PerplexityModel(LMSpec(dir=str(heldout_lm)))
    median_prose = np.median(model.perplexities(prose))
    junk = _junk(web, sample_manifest)
    for kind in SCORABLE_JUNK:
        assert np.median(model.perplexities(junk[kind])) > 1.5 * median_prose, kind


def test_planted_low_quality_pages_are_dropped_or_in_the_tail(web, sample_manifest, default_lm, ray_session):
    """Every planted junk page with text left after extraction is caught by a rule or
    lands in the tail bucket, when the stage sees all web pages (no langid before it)."""
    import ray

    mix = yaml.safe_load((REPO / "configs" / "mix.yaml").read_text())
    block = next(e["quality"] for e in mix["stages"] if "quality" in e)
    block["perplexity"] = {"en": {"dir": str(default_lm)}}
    stage = Stage(Config.model_validate(block))
    stage.setup()
    verdict = stage.process(web)
    assert verdict.table.column("lang").to_pylist() == ["en"] * web.num_rows  # default_lang
    kept = verdict.table.filter(pa.array([r is None for r in verdict.rules]))
    result = stage.fit(ray.data.from_arrow(kept.select(["ppl", "lang", "domain"])), None)
    stage.setup_apply(result.state, Path("."))
    applied = stage.apply(kept)
    bucket = dict(
        zip(kept.column("id").to_pylist(), applied.table.column("ppl_bucket").to_pylist(), strict=True)
    )
    rule = dict(zip(web.column("id").to_pylist(), verdict.rules, strict=True))
    kinds = {x["id"]: x["kind"] for x in sample_manifest["planted"]["low_quality"]}
    caught = {}
    for doc_id, kind in kinds.items():
        if doc_id not in rule:
            continue  # no text after extraction (rejected by the reader)
        assert rule[doc_id] is not None or bucket[doc_id] == "tail", (doc_id, kind)
        caught.setdefault(kind, set()).add(rule[doc_id] or "ppl_tail")
    assert {"link_farm", "keyword_spam", "boilerplate", "repeated_lines"} <= set(caught)
    assert any(r.startswith("gopher") for rules in caught.values() for r in rules)


def test_c4_rewrites_text_and_other_languages_get_no_perplexity(default_lm):
    stage = Stage(
        Config(heuristics=HeuristicsConfig(gopher_quality=None), perplexity={"en": {"dir": str(default_lm)}})
    )
    stage.setup()
    english = (
        "The committee met on Tuesday to review the budget. It approved the plan after a long debate. "
        "Members asked for a report by the end of the month. The chair thanked the staff for their work. "
        "A vote on the remaining items was set for next week. Everyone agreed the meeting went well."
    )
    rows = [
        {"id": "a", "text": english + "\nRead more", "domain": "web", "lang": "en"},
        {"id": "b", "text": english.replace("The", "Der"), "domain": "web", "lang": "de"},
    ]
    batch = pa.Table.from_pylist([{**r, "source": "s", "url": None} for r in rows])
    verdict = stage.process(batch)
    assert verdict.rules == [None, None]
    texts = verdict.table.column("text").to_pylist()
    assert texts[0] == english  # C4 dropped the line without terminal punctuation
    ppl = verdict.table.column("ppl").to_pylist()
    assert ppl[0] > 1 and ppl[1] is None
    assert verdict.metrics["no_model"] == {"de": 1} and verdict.metrics["scored"] == 1


def test_regex_words_and_sentences():
    tok = RegexWords("en")
    assert tok.word_tokenize("It's a well-known U.S. fact, isn't it? Yes!") == [
        "It", "'s", "a", "well", "-", "known", "U.S.", "fact", ",", "is", "n't", "it", "?", "Yes", "!",
    ]  # fmt: skip
    assert tok.sent_tokenize("One here. Two there! Three?\nFour") == [
        "One here.",
        "Two there!",
        "Three?",
        "Four",
    ]


def test_language_without_word_tokenizer_passes_the_heuristics_counted():
    """Japanese needs SudachiPy in datatrove; without it the blocks are skipped, not crashed."""
    heuristics = Heuristics(HeuristicsConfig(gopher_quality=None))
    decision = heuristics.check("これは日本語の文章です。" * 20, "ja", "web")
    assert decision.rule is None and set(decision.skipped) == {"gopher_repetition", "c4", "fineweb"}


def test_ccnet_normalisation():
    assert normalise_line("  Café “Zürich” — 2024，ok  ") == 'cafe "zurich"  -  0000,ok'


@pytest.mark.parametrize(
    ("perplexity", "expected"),
    [
        ({"en": {"model": "/no/such.arpa", "tokenizer": "TOK"}}, "perplexity.en.model: file not found"),
        ({"en": {"model": "README.md", "tokenizer": "TOK"}}, "perplexity.en.model: not an ARPA"),
        ({"en": {"model": "TRUNCATED", "tokenizer": "TOK"}}, "perplexity.en.model: kenlm cannot load"),
        (
            {"en": {"model": "MODEL", "tokenizer": "README.md"}},
            "perplexity.en.tokenizer: not a SentencePiece",
        ),
        ({"en": {"dir": "/tmp"}}, "perplexity.en.dir: /tmp has no lm.json"),
        ({"en": {"model": "MODEL"}}, "perplexity.en: Value error, give either dir:"),
    ],
)
def test_bad_model_is_a_config_error(tmp_path, capsys, heldout_lm, perplexity, expected):
    truncated = tmp_path / "cut.arpa"
    arpa = (heldout_lm / "model.arpa").read_text(encoding="utf-8")
    truncated.write_text(arpa[: len(arpa) // 3], encoding="utf-8")
    names = {
        "TOK": str(heldout_lm / "tokenizer.json"),
        "MODEL": str(heldout_lm / "model.arpa"),
        "TRUNCATED": str(truncated),
        "README.md": str(REPO / "README.md"),
    }
    spec = {lang: {k: names.get(v, v) for k, v in s.items()} for lang, s in perplexity.items()}
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "hello"}\n')
    config = {
        "run": {"output": str(tmp_path / "out"), "work_dir": str(tmp_path / "cache")},
        "sources": [{"name": "d", "domain": "web", "format": "jsonl", "paths": [str(jsonl)]}],
        "stages": [{"quality": {"perplexity": spec}}],
    }
    assert main(["validate", str(write_config(tmp_path / "c.yaml", config))]) == 2
    assert f"stages[0].quality.{expected}" in capsys.readouterr().err


def test_unknown_heuristic_threshold_is_named(tmp_path, capsys):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "hello"}\n')
    config = {
        "sources": [{"name": "d", "domain": "web", "format": "jsonl", "paths": [str(jsonl)]}],
        "stages": [{"quality": {"heuristics": {"gopher_quality": {"min_words": 5}}}}],
    }
    assert main(["validate", str(write_config(tmp_path / "c.yaml", config))]) == 2
    err = capsys.readouterr().err
    assert "stages[0].quality.heuristics" in err and "gopher_quality.min_words: unknown threshold" in err


def test_ccnet_style_model_with_a_sentencepiece_tokenizer(tmp_path, sample_dir):
    """CCNet ships `en.arpa.bin` + `en.sp.model`: a SentencePiece tokenizer must work as-is."""
    import io

    import sentencepiece as spm

    wiki = _read(sample_dir, "jsonl", "wiki/wiki-00001.jsonl.gz", "wiki").column("text").to_pylist()
    lines = [normalise_line(line) for text in wiki for line in text.split("\n") if line.strip()]
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buffer, vocab_size=4000, minloglevel=2
    )
    sp_model = tmp_path / "en.sp.model"
    sp_model.write_bytes(buffer.getvalue())
    out = tmp_path / "ccnet-like"
    wiki1 = str(sample_dir / "wiki" / "wiki-00001.jsonl.gz")
    assert (
        main(
            ["lm", "train", "--input", wiki1, "--out", str(out), "--order", "3", "--tokenizer", str(sp_model)]
        )
        == 0
    )
    assert json.loads((out / "lm.json").read_text())["tokenizer"] == "tokenizer.model"
    spec = LMSpec(model=str(out / "model.arpa"), tokenizer=str(sp_model))  # the CCNet config shape
    assert spec.check() == []
    model = PerplexityModel(spec)
    prose = _read(sample_dir, "jsonl", "wiki/wiki-00002.jsonl.gz", "wiki").column("text").to_pylist()[:40]
    salad = [" ".join(sorted(t.split(" "))) for t in prose]
    assert (model.perplexities(prose) < model.perplexities(salad)).all()


def test_bucket_cutoffs_equal_numpy_percentiles_without_gathering_scores(ray_session):
    """Distributed fit (bin counts, then only the scores of the bins the ranks fall in) gives
    exactly numpy.percentile of every score: per group, per language pooled, with ties,
    unscored rows and groups too small for their own cutoffs."""
    import ray

    from prep.stages.quality.buckets import BucketConfig, fit_cutoffs, group_key

    rng = np.random.default_rng(3)
    sizes = {("en", "web"): 5000, ("en", "wiki"): 1201, ("de", "web"): 37}
    sizes |= {("de", "books"): 5, ("fr", "web"): 2}
    parts = []
    for (lang, domain), n in sizes.items():
        ppl = np.round(rng.lognormal(6, 1.2, n), 1)  # rounded: many ties
        ppl[: n // 10] = np.nan  # unscored (no model, or dropped before scoring)
        parts.append(pa.table({"ppl": ppl, "lang": [lang] * n, "domain": [domain] * n}))
    table = pa.concat_tables(parts)
    config = BucketConfig(percentiles=[30, 60], min_docs=20)
    state, metrics = fit_cutoffs(ray.data.from_arrow(table).repartition(7), config)

    ppl = table.column("ppl").to_numpy(zero_copy_only=False)
    langs, domains = table.column("lang").to_pylist(), table.column("domain").to_pylist()
    keys = np.array([group_key(la, do, ["lang", "domain"]) for la, do in zip(langs, domains, strict=True)])
    scored = ~np.isnan(ppl)
    expected = {}
    for key in set(keys):
        values = ppl[scored & (keys == key)]
        if values.size >= 20:
            expected[key] = [float(x) for x in np.percentile(values, [30, 60])]
    assert state["cutoffs"] == expected  # bit for bit
    pooled = {}
    for lang in set(langs):
        values = ppl[scored & (np.array(langs) == lang)]
        if values.size >= 20:
            pooled[lang] = [float(x) for x in np.percentile(values, [30, 60])]
    assert state["language_cutoffs"] == pooled
    assert metrics["small_groups"] == ["de|books", "fr|web"]
    assert metrics["group_docs"]["en|web"] == 4500
