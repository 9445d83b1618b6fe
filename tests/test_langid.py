"""Language ID on the sample's real multilingual text, against the sample's ground truth."""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import REPO
from tables import make_table

from prep.pipeline.config import load_config
from prep.pipeline.readers import read_file
from prep.pipeline.sources import list_input_files
from prep.stages.langid import Config, Stage, default_model_path, normalise


@pytest.fixture(scope="module")
def sample_docs(sample_dir) -> pa.Table:
    """Every readable natural-language document of the sample, read with prep's readers."""
    config = load_config(REPO / "configs" / "mix.yaml")
    tables = []
    for source in config.sources:
        if source.domain == "code":
            continue
        for f in list_input_files([str(REPO / p) for p in source.paths]):
            for t in read_file(f, source):
                tables.append(t.filter(pc.is_null(t.column("_stage"))))
    return pa.concat_tables(tables)


@pytest.fixture(scope="module")
def truth(sample_manifest) -> dict[str, str]:
    return {doc: lang for lang, ids in sample_manifest["languages"]["docs"].items() for doc in ids}


def _stage(**cfg) -> Stage:
    stage = Stage(Config(**cfg))
    stage.setup()
    return stage


def test_picks_the_right_language_on_real_multilingual_text(sample_docs, truth):
    labelled = sample_docs.filter(pc.is_in(sample_docs.column("id"), pa.array(list(truth))))
    verdict = _stage().process(labelled)
    per_lang: dict[str, Counter] = defaultdict(Counter)
    for doc_id, lang in zip(
        labelled.column("id").to_pylist(), verdict.table.column("lang").to_pylist(), strict=True
    ):
        per_lang[truth[doc_id]][lang] += 1
    big = {lang: c for lang, c in per_lang.items() if sum(c.values()) >= 30}
    assert len(big) >= 8, f"expected many well-represented languages, got {sorted(big)}"
    for lang, counts in big.items():
        accuracy = counts[lang] / sum(counts.values())
        assert accuracy >= 0.88, f"{lang}: {counts.most_common(3)}"
    correct = sum(c[lang] for lang, c in per_lang.items())
    assert correct / sum(sum(c.values()) for c in per_lang.values()) >= 0.97


def test_keep_list_and_thresholds_drop_with_reasons(sample_docs, truth):
    ja = [d for d, lang in truth.items() if lang == "ja"]
    en = [d for d, lang in truth.items() if lang == "en"][:50]
    batch = sample_docs.filter(pc.is_in(sample_docs.column("id"), pa.array(ja + en)))
    verdict = _stage(keep=["en"], threshold=0.5).process(batch)
    rules = dict(zip(batch.column("id").to_pylist(), verdict.rules, strict=True))
    reasons = dict(zip(batch.column("id").to_pylist(), verdict.reasons, strict=True))
    ja_present = [d for d in ja if d in rules]
    assert len(ja_present) >= 30
    assert sum(rules[d] == "lang_not_kept" for d in ja_present) >= 0.9 * len(ja_present)
    assert all("language ja" in reasons[d] for d in ja_present if rules[d] == "lang_not_kept")
    assert sum(rules[d] is None for d in en if d in rules) >= 0.95 * len([d for d in en if d in rules])
    strict = _stage(keep=None, threshold=0.0, thresholds={"en": 1.01 - 1e-9}).process(batch)
    assert {r for d, r in zip(batch.column("id").to_pylist(), strict.rules, strict=True) if d in en} == {
        "lang_low_score"
    }


def test_scores_are_probabilities_and_metrics_count_every_document(sample_docs):
    batch = sample_docs.slice(0, 300)
    verdict = _stage().process(batch)
    scores = verdict.table.column("lang_score").to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    counted = sum(n for d in verdict.metrics["languages"].values() for n in d.values())
    hist = sum(sum(h) for h in verdict.metrics["score_histogram"].values())
    assert counted == hist == batch.num_rows


def test_model_path_option_and_normalisation(tmp_path):
    model = tmp_path / "my-lid.ftz"
    shutil.copy(default_model_path(), model)
    stage = _stage(model=str(model), keep=["de"])
    text = "Die Stadt liegt am Fluss.\nSie hat viele alte Häuser\r\nund eine große Brücke."
    assert "\n" not in normalise(text)
    verdict = stage.process(make_table([{"id": "a", "text": text, "source": "s", "domain": "web"}]))
    assert verdict.table.column("lang").to_pylist() == ["de"]
    assert verdict.rules == [None]
