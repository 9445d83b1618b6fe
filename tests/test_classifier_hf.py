"""The classifier stage with a local Hugging Face sequence-classification folder: a tiny BERT
the test builds and fine-tunes itself on the sample's wiki against its web (nothing is
downloaded), a regression head like FineWeb-Edu's, and the config checks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from prep.pipeline.readers import read_texts
from prep.pipeline.summary import classifier_score_range
from prep.stages.classifier import SCORE_COLUMN, Config, Stage
from prep.stages.classifier.hf_model import head_of, import_transformers
from prep.stages.classifier.keep import report_histogram

torch = pytest.importorskip("torch")
if importlib.util.find_spec("transformers") is None:
    pytest.skip("the hf extra (transformers) is not installed", allow_module_level=True)
# before any other import of transformers: without a torchvision that cannot load beside CPU torch
transformers = import_transformers()


def _tokenizer(texts: list[str], folder: Path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=2000, special_tokens=specials))
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(str(folder))
    return fast


def _tiny_bert(folder: Path, tokenizer, outputs: int, **head) -> transformers.BertForSequenceClassification:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        num_labels=outputs,
        pad_token_id=tokenizer.pad_token_id,
        **head,
    )
    return transformers.BertForSequenceClassification(config)


@pytest.fixture(scope="module")
def sample_texts(sample_dir: Path) -> dict[str, list[str]]:
    return {
        "wiki": list(read_texts([str(sample_dir / "wiki/*.jsonl.gz")], "jsonl"))[:160],
        "web": list(read_texts([str(sample_dir / "web/*.warc.gz")], "warc"))[:160],
    }


@pytest.fixture(scope="module")
def classifier_folder(sample_texts, tmp_path_factory) -> Path:
    """A two-label tiny BERT fine-tuned for a few steps: wiki = hq, web = lq."""
    folder = tmp_path_factory.mktemp("hf-classifier")
    train = sample_texts["wiki"][:120] + sample_texts["web"][:120]
    labels = torch.tensor([1] * 120 + [0] * 120)
    tokenizer = _tokenizer(train, folder)
    model = _tiny_bert(folder, tokenizer, 2, id2label={0: "lq", 1: "hq"}, label2id={"lq": 0, "hq": 1})
    enc = tokenizer(train, truncation=True, max_length=64, padding=True, return_tensors="pt")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(40):
        idx = torch.randint(0, len(train), (16,), generator=gen)
        batch = {"input_ids": enc["input_ids"][idx], "attention_mask": enc["attention_mask"][idx]}
        loss = model(**batch, labels=labels[idx]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def regression_folder(sample_texts, tmp_path_factory) -> Path:
    """A one-output head (FineWeb-Edu's shape), untrained: scores are just the raw output."""
    folder = tmp_path_factory.mktemp("hf-regressor")
    tokenizer = _tokenizer(sample_texts["wiki"][:50], folder)
    _tiny_bert(folder, tokenizer, 1, problem_type="regression").save_pretrained(str(folder))
    return folder


def _batch(texts: list[str]) -> pa.Table:
    n = len(texts)
    ids = [f"d{i}" for i in range(n)]
    return pa.table({"id": ids, "text": texts, "domain": ["web"] * n, "lang": ["en"] * n})


def test_a_local_hf_classifier_scores_held_out_wiki_above_web(classifier_folder, sample_texts):
    folder = str(classifier_folder)
    config = Config(hf_model=folder, label="hq", threshold=0.5, hf_batch_size=8, max_length=64)
    stage = Stage(config)
    stage.setup()
    held_out = sample_texts["wiki"][120:] + sample_texts["web"][120:]
    verdict = stage.process(_batch(held_out))
    scores = verdict.table.column(SCORE_COLUMN).to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores[:40].mean() > scores[40:].mean() + 0.3
    assert [r is None for r in verdict.rules] == list(scores >= 0.5)


def test_batched_scores_equal_one_document_at_a_time(classifier_folder, sample_texts):
    from prep.stages.classifier.hf_model import HFScorer

    docs = sample_texts["web"][:12]
    batched = HFScorer(classifier_folder, "hq", max_length=128, batch_size=5).scores(docs)
    one = HFScorer(classifier_folder, "hq", max_length=128, batch_size=1)
    single = np.array([one.scores([d])[0] for d in docs])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_a_regression_head_scores_raw_and_keeps_by_threshold(regression_folder, sample_texts):
    stage = Stage(Config(hf_model=str(regression_folder), threshold=0.0))
    stage.setup()
    verdict = stage.process(_batch(sample_texts["web"][:20]))
    scores = verdict.table.column(SCORE_COLUMN).to_numpy()
    assert [r is None for r in verdict.rules] == list(scores >= 0.0)
    assert sum(verdict.metrics["score_histogram"]["web"]) == 20
    # the histogram spans a regressor's range ([0, 5] by default) and says so for the report
    assert verdict.metrics["score_range"] == {"0,5": 1}
    assert verdict.metrics["score_histogram"]["web"] == report_histogram(scores, 0.0, 5.0)
    assert classifier_score_range(verdict.metrics) == (0.0, 5.0)


def test_hf_config_checks_name_the_key(classifier_folder, regression_folder, tmp_path):
    assert Config(hf_model=str(classifier_folder), label="hq").check_files() == []
    (problem,) = Config(hf_model=str(classifier_folder), label="edu").check_files()
    assert problem == f"label: the model {classifier_folder} has no label edu (its labels: lq, hq)"
    (problem,) = Config(hf_model=str(tmp_path)).check_files()
    assert problem == f"hf_model: no config.json in {tmp_path} (a save_pretrained folder)"
    (problem,) = Config(hf_model=str(regression_folder), pareto_alpha=9).check_files()
    assert problem.startswith("pareto_alpha: needs a probability")
    with pytest.raises(ValueError, match="one of model, hf_model"):
        Config(model="a.bin", hf_model=str(classifier_folder))
    assert head_of(regression_folder) == {"outputs": 1, "labels": ["LABEL_0"]}
    assert json.loads((regression_folder / "config.json").read_text())["problem_type"] == "regression"


def test_with_gpus_the_hf_step_gets_its_own_chain_and_counts_stay_exact(classifier_folder, sample_texts):
    from prep.core.records import COUNTS_COLUMN
    from prep.pipeline.config import StageSpec
    from prep.pipeline.passes import Step
    from prep.pipeline.runner import gpu_segments
    from prep.pipeline.stage_task import StageChain
    from prep.stages.langid import Config as LangidConfig

    hf = Config(hf_model=str(classifier_folder), threshold=0.5, max_length=64)
    langid = LangidConfig(keep=["en"])
    steps = [
        Step(StageSpec(name="langid", index=0, config=langid)),
        Step(StageSpec(name="classifier", index=1, config=hf)),
        Step(StageSpec(name="langid", index=2, config=LangidConfig(threshold=0.9))),
    ]
    assert gpu_segments(steps, 0) == [([0, 1, 2], False)]
    assert gpu_segments(steps, 2) == [([0], False), ([1], True), ([2], False)]
    cpu_only = Config(hf_model=str(classifier_folder), threshold=0.5, device="cpu")
    assert gpu_segments([Step(StageSpec(name="classifier", index=0, config=cpu_only))], 2) == [([0], False)]

    kwargs = [
        {"name": "langid", "config": langid.model_dump(mode="json"), "seed": 0},
        {"name": "classifier", "config": hf.model_dump(mode="json"), "seed": 0},
    ]
    docs = sample_texts["web"][:30] + sample_texts["wiki"][120:150]
    n = len(docs)
    batch = pa.table(
        {
            "id": [f"d{i}" for i in range(n)],
            "text": docs,
            "domain": ["web"] * n,
            "_stage": pa.nulls(n, pa.string()),
            "_rule": pa.nulls(n, pa.string()),
            "_reason": pa.nulls(n, pa.string()),
        }
    )
    fused = StageChain(kwargs)(batch)
    # split as the runner splits it, with Ray Data re-blocking in between (two halves of the
    # first chain's output joined again, so two rows carry counts)
    first = StageChain(kwargs[:1])
    joined = pa.concat_tables([first(batch.slice(0, 25)), first(batch.slice(25))])
    split = StageChain(kwargs[1:])(joined)
    counts = [json.loads(t.column(COUNTS_COLUMN)[0].as_py()) for t in (fused, split)]
    assert counts[0] == counts[1]
    assert counts[0]["classifier"][0]["web"]["in"][0] > 0  # [docs, bytes] of the web rows it saw
    assert split.column(COUNTS_COLUMN).null_count == n - 1
    assert fused.drop_columns([COUNTS_COLUMN]).equals(split.drop_columns([COUNTS_COLUMN]))
