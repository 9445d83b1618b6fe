"""A fastText supervised model as the classifier stage uses it: its labels read from the
file header (no model load), and a scorer that predicts one document per call.

Reading the labels from the header lets validation check a model in the driver without
loading its matrices: DCLM's published bigram classifier is ~4 GB of weights, its
dictionary a few MB that `fasttext_labels` walks in about a second per million words.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

#: fastText's file signature and the model versions its loaders read (11: 0.9.1, 12: 0.9.2+).
FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSIONS = (11, 12)
LABEL_PREFIX = "__label__"
#: args: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate (int32), t (f64)
_ARGS = struct.Struct("<12id")
_DICT_HEAD = struct.Struct("<iiiqq")  # size, nwords, nlabels, ntokens, pruneidx_size
_ENTRY_TAIL = struct.Struct("<qb")  # count, type (0 word, 1 label)


class NotAFastTextModel(ValueError):
    """The file is not a fastText model this version of fastText reads."""


def fasttext_labels(path: Path, chunk: int = 1 << 20) -> list[str]:
    """The labels of a fastText model file, in the model's order, without loading it."""
    with open(path, "rb") as f:
        head = f.read(8 + _ARGS.size + _DICT_HEAD.size)
        if len(head) < 8 + _ARGS.size + _DICT_HEAD.size:
            raise NotAFastTextModel("file too short for a fastText model")
        magic, version = struct.unpack_from("<ii", head)
        if magic != FASTTEXT_MAGIC:
            raise NotAFastTextModel("no fastText signature at the start of the file")
        if version not in FASTTEXT_VERSIONS:
            raise NotAFastTextModel(f"fastText model version {version} (readable: 11, 12)")
        size, nwords, nlabels, _, _ = _DICT_HEAD.unpack_from(head, 8 + _ARGS.size)
        if not 0 <= nwords <= size or nlabels != size - nwords:
            raise NotAFastTextModel("inconsistent fastText dictionary header")
        buf, pos, labels, seen = b"", 0, [], 0
        while seen < size:
            end = buf.find(b"\0", pos)
            if end < 0 or end + 1 + _ENTRY_TAIL.size > len(buf):
                more = f.read(chunk)
                if not more:
                    raise NotAFastTextModel("fastText dictionary ends early")
                buf, pos = buf[pos:] + more, 0
                continue
            _, kind = _ENTRY_TAIL.unpack_from(buf, end + 1)
            if kind == 1:
                labels.append(buf[pos:end].decode("utf-8", "replace"))
            pos, seen = end + 1 + _ENTRY_TAIL.size, seen + 1
    return labels


def full_label(label: str) -> str:
    """`hq` and `__label__hq` name the same label."""
    return label if label.startswith(LABEL_PREFIX) else LABEL_PREFIX + label


def normalise(text: str, max_chars: int | None = None) -> str:
    """One line, as fastText predicts (newlines end its input) and as DCLM scores documents.

    fastText splits words on every other whitespace itself, so nothing else is rewritten;
    `prep classifier train` writes its training lines through this same function.
    """
    if max_chars is not None:
        text = text[:max_chars]
    return text.replace("\n", " ")


class FastTextScorer:
    """Probability of one label per document; the model loads once per actor."""

    def __init__(self, path: Path, label: str, max_chars: int | None = None):
        import fasttext

        model = fasttext.load_model(str(path))
        self.label = full_label(label)
        if self.label not in model.get_labels():
            raise ValueError(f"classifier: the model has no label {self.label}")
        # k = every label: a label below the top ones still gets its probability. The
        # low-level per-line predict is what `fasttext.FastText.predict` calls per text.
        self._predict = model.f.predict
        self._k = len(model.get_labels())
        self.max_chars = max_chars

    def scores(self, texts: list[str | None]) -> np.ndarray:
        out = np.zeros(len(texts), dtype=np.float32)
        label, k, max_chars = self.label, self._k, self.max_chars
        for i, text in enumerate(texts):
            for prob, name in self._predict(normalise(text or "", max_chars) + "\n", k, 0.0, "replace"):
                if name == label:
                    out[i] = min(max(prob, 0.0), 1.0)
                    break
        return out
