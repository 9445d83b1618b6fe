"""A local Hugging Face sequence-classification folder as a quality scorer (FineWeb-Edu style).

The folder is what `save_pretrained` writes (config.json, weights, tokenizer files); it is
loaded with `local_files_only`, so nothing is downloaded. A head with one output is a
regressor (FineWeb-Edu's educational score, 0-5): the score is that output. A head with
several outputs is a classifier: the score is the softmax probability of `label`. Texts
go through the model in batches sorted by length (less padding), on the actor's GPU when
Ray gave it one, else on CPU; the `transformers` package is the `hf` extra.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np


def import_transformers():
    """`transformers`, with a torchvision that cannot load treated as absent.

    transformers imports torchvision whenever it is installed (its image utilities, reached
    from every model class). PyPI's torchvision wheel does not load beside a CPU-only torch
    build ("operator torchvision::nms does not exist"), and the `litdata` extra brings it; a
    `None` in `sys.modules` makes `find_spec` report it missing, so text models load.
    """
    if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is not None:
        try:
            import torchvision  # noqa: F401
        except Exception:
            for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
                del sys.modules[name]
            sys.modules["torchvision"] = None  # type: ignore[assignment]
    import transformers

    return transformers


def head_of(folder: Path) -> dict:
    """What config.json says about the head, without importing torch: outputs and labels."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    labels = config.get("id2label") or {}
    outputs = int(config.get("num_labels", len(labels) or 2))
    if config.get("problem_type") == "regression":
        outputs = 1
    return {"outputs": outputs, "labels": [labels[k] for k in sorted(labels, key=int)] if labels else []}


def is_regression(folder: Path) -> bool:
    return head_of(folder)["outputs"] == 1


class HFScorer:
    """Scores per document from a sequence-classification model; loaded once per actor."""

    def __init__(
        self,
        folder: Path,
        label: str,
        max_length: int = 512,
        batch_size: int = 32,
        device: str = "auto",
        max_chars: int | None = None,
    ):
        import torch

        transformers = import_transformers()
        AutoModelForSequenceClassification = transformers.AutoModelForSequenceClassification
        AutoTokenizer = transformers.AutoTokenizer

        use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
        if device == "cuda" and not use_cuda:
            raise RuntimeError("classifier: device cuda asked for, but this worker sees no GPU")
        self.device = torch.device("cuda" if use_cuda else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
        self.model = model.to(self.device).eval()
        self.regression = is_regression(folder)
        self.index = None
        if not self.regression:
            names = {v: int(k) for k, v in model.config.id2label.items()}
            if label not in names:
                raise ValueError(f"classifier: the model has no label {label}")
            self.index = names[label]
        # never past the model's position embeddings (a BERT's 512, a tiny model's fewer)
        positions = getattr(model.config, "max_position_embeddings", None) or max_length
        self.max_length = min(max_length, positions)
        self.batch_size, self.max_chars = batch_size, max_chars
        self._torch = torch

    def scores(self, texts: list[str | None]) -> np.ndarray:
        torch = self._torch
        docs = [(t or "")[: self.max_chars] if self.max_chars else (t or "") for t in texts]
        order = np.argsort([len(d) for d in docs], kind="stable")
        out = np.zeros(len(docs), dtype=np.float32)
        for start in range(0, len(docs), self.batch_size):
            rows = order[start : start + self.batch_size]
            enc = self.tokenizer(
                [docs[i] for i in rows],
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            ).to(self.device)
            on_gpu = self.device.type == "cuda"
            with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=on_gpu):
                logits = self.model(**enc).logits.float()  # (batch, outputs)
            # a regressor's value, or the label's probability
            values = logits[:, 0] if self.regression else torch.softmax(logits, dim=-1)[:, self.index]
            out[rows] = values.cpu().numpy()
        return out
