"""Near-duplicate detection quality and speed: prep's dedup vs datatrove's MinHash pipeline.

Run by hand (not a test):  python bench/bench_dedup.py [--families 2500] [--out /tmp/bench-dedup]

Labelled set (built offline, deterministic): real text cut into documents of 150-400 words
(the bundled sample's Wikipedia, papers and books, and the pydoc topics of the interpreter);
some documents get variants mutated by word substitutions, insertions, deletions and block
moves until the Jaccard similarity of their word 5-gram sets (our normalisation) reaches a
target in {0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3}. Ground truth: the exact Jaccard
of every pair inside a family (a document and its variants); documents of different families
count as distinct (J ~ 0).

Both pipelines read the same JSONL files, use 5-grams, 112 permutations as 14 bands x 8 rows,
64-bit hashes, and both machines' CPUs (Ray: local with all cores; datatrove: LocalPipelineExecutor
with as many workers). Reported, per pipeline: wall time of the whole dedup (signatures, buckets,
clusters, filter), precision and recall of duplicate pairs at J >= 0.8 (a pair is predicted when
both documents end in the same cluster), and the false-merge rate of pairs with J < 0.5.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path
from pydoc_data.topics import topics

from prep.stages.dedup.minhash import MinHasher

REPO = Path(__file__).resolve().parent.parent

SAMPLE = REPO / "data" / "sample"
TARGETS = (0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3)


# --------------------------------------------------------------------------- labelled set


def source_texts() -> list[str]:
    texts = [topics[k] for k in sorted(topics)]
    if SAMPLE.is_dir():
        for path in sorted(SAMPLE.glob("wiki/*.jsonl.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                texts += [json.loads(line)["text"] for line in f]
        texts += [p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("books/en/*.txt"))]
        try:
            import pyarrow.parquet as pq

            for path in sorted(SAMPLE.glob("papers/*.parquet")):
                texts += pq.read_table(path, columns=["text"]).column("text").to_pylist()
        except ImportError:
            pass
    return texts


def chunks(texts: list[str], rng: random.Random) -> list[str]:
    """Disjoint runs of 150-400 words; the sample's planted duplicates are dropped by hash."""
    out, seen = [], set()
    for text in texts:
        words = text.split()
        i = 0
        while len(words) - i >= 150:
            n = rng.randint(150, 400)
            piece = " ".join(words[i : i + n])
            i += n
            key = hash(" ".join(piece.lower().split()[:40]))
            if key not in seen:
                seen.add(key)
                out.append(piece)
    return out


def mutate(words: list[str], rate: float, vocab: list[str], rng: random.Random) -> list[str]:
    """Word edits at `rate` (substitute, insert, delete) and, past 5%, one block move."""
    out: list[str] = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            out.append(rng.choice(vocab))
        elif r < 2 * rate / 3:
            out += [w, rng.choice(vocab)]
        elif r < rate:
            continue
        else:
            out.append(w)
    if rate > 0.05 and len(out) > 40:
        a = rng.randrange(len(out) - 20)
        size = rng.randint(5, 20)
        block = out[a : a + size]
        del out[a : a + size]
        b = rng.randrange(len(out))
        out[b:b] = block
    return out


def variant(text: str, target: float, vocab: list[str], mh: MinHasher, seed: int) -> tuple[str, float]:
    """A mutation of `text` whose Jaccard to it is close to `target` (bisection on the edit rate)."""
    words = text.split()
    lo, hi = 0.0, 1.0
    best = (text, 1.0)
    for step in range(14):
        rate = (lo + hi) / 2
        cand = " ".join(mutate(words, rate, vocab, random.Random(seed * 100 + step)))
        j = mh.jaccard(text, cand)
        if abs(j - target) < abs(best[1] - target):
            best = (cand, j)
        if abs(j - target) < 0.01:
            break
        lo, hi = (rate, hi) if j > target else (lo, rate)
    return best


def build(families: int, seed: int) -> tuple[list[dict], dict[tuple[int, int], float]]:
    """Documents (id, text, family) and the exact Jaccard of every within-family pair."""
    rng = random.Random(seed)
    pieces = chunks(source_texts(), rng)
    rng.shuffle(pieces)
    pieces = pieces[:families]
    vocab = sorted({w for p in pieces[:200] for w in p.split()})
    mh = MinHasher()
    docs: list[dict] = []
    truth: dict[tuple[int, int], float] = {}
    for f, text in enumerate(pieces):
        members = [len(docs)]
        docs.append({"text": text, "family": f})
        if f % 2 == 0:  # half the families have 1-3 variants
            for k in range(rng.randint(1, 3)):
                text_v, _ = variant(text, rng.choice(TARGETS), vocab, mh, seed=f * 10 + k)
                members.append(len(docs))
                docs.append({"text": text_v, "family": f})
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                truth[(a, b)] = mh.jaccard(docs[a]["text"], docs[b]["text"])
    order = list(range(len(docs)))
    rng.shuffle(order)  # families are not contiguous in the files
    shuffled = [docs[i] for i in order]
    rank = {old: new for new, old in enumerate(order)}
    truth = {tuple(sorted((rank[a], rank[b]))): j for (a, b), j in truth.items()}
    for i, d in enumerate(shuffled):
        d["id"] = f"bench/docs.jsonl:{i + 1}"
    return shuffled, truth


def write_jsonl(docs: list[dict], folder: Path, files: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    per = -(-len(docs) // files)
    for k in range(files):
        path = folder / f"part-{k:03d}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for d in docs[k * per : (k + 1) * per]:
                f.write(json.dumps({"id": d["id"], "text": d["text"]}) + "\n")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- metrics


def score(clusters: dict[int, int], docs: list[dict], truth: dict[tuple[int, int], float]) -> dict:
    """Pair metrics: `clusters` maps doc index -> cluster label (singletons may be absent).

    A predicted pair across families gets its Jaccard computed: the source text has some real
    duplicates of its own (the sample's planted copies, a book and its second edition).
    """
    members: dict[int, list[int]] = defaultdict(list)
    for i, c in clusters.items():
        members[c].append(i)
    predicted: set[tuple[int, int]] = set()
    for group in members.values():
        group.sort()
        predicted.update((a, b) for i, a in enumerate(group) for b in group[i + 1 :])
    mh = MinHasher()
    cross = {p: mh.jaccard(docs[p[0]]["text"], docs[p[1]]["text"]) for p in predicted if p not in truth}
    pos = {p for p, j in truth.items() if j >= 0.8}
    low = {p for p, j in truth.items() if j < 0.5}
    tp_pred = len(pos & predicted) + sum(j >= 0.8 for j in cross.values())
    return {
        "pairs_predicted": len(predicted),
        "pairs_true_j>=0.8": len(pos),
        "precision@0.8": round(tp_pred / len(predicted), 4) if predicted else 1.0,
        "recall@0.8": round(len(pos & predicted) / len(pos), 4) if pos else 1.0,
        "false_merge_rate_j<0.5": round(len(low & predicted) / len(low), 4) if low else 0.0,
        "pairs_j<0.5": len(low),
        "grey_zone_0.5-0.8_merged": len({p for p, j in truth.items() if 0.5 <= j < 0.8} & predicted)
        + sum(0.5 <= j < 0.8 for j in cross.values()),
        "cross_family_merged": len(cross),
        "cross_family_merged_j<0.5": sum(j < 0.5 for j in cross.values()),
    }


# --------------------------------------------------------------------------- prep


def run_prep(paths: list[Path], work: Path, cpus: int, config: dict) -> tuple[dict[int, int], float, dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    from prep.core.stage import FitContext
    from prep.stages.dedup import Config, Stage

    stage = Stage(Config.model_validate(config))

    def sign(batch: pa.Table) -> pa.Table:
        if not hasattr(sign, "stage"):
            sign.stage = Stage(stage.config)
            sign.stage.setup()
        batch = batch.append_column("domain", pa.array(["bench"] * batch.num_rows))
        return sign.stage.process(batch).table.select([*stage.fit_columns, "domain"])

    def apply(batch: pa.Table) -> pa.Table:
        if not hasattr(apply, "stage"):
            apply.stage = Stage(stage.config)
            apply.stage.setup_apply(apply_state, work / "fit")
        return apply.stage.apply(batch.append_column("domain", pa.array(["bench"] * batch.num_rows))).table

    t0 = time.perf_counter()
    files = str(paths[0].parent)  # one folder (see stages/dedup/steps.py: read)
    data = ray.data.read_json(files).map_batches(sign, batch_format="pyarrow", batch_size=512)
    result = stage.fit(data, FitContext(work / "fit", 0, cpus))
    apply_state = result.state
    out = ray.data.read_json(files).map_batches(apply, batch_format="pyarrow", batch_size=512)
    out.write_parquet(str(work / "out"))
    seconds = time.perf_counter() - t0
    dec = pa.concat_tables([pq.read_table(f) for f in sorted((work / "fit" / "decisions").glob("*.parquet"))])
    clusters = {
        int(i.rsplit(":", 1)[1]) - 1: c
        for i, c in zip(dec.column("id").to_pylist(), dec.column("cluster").to_pylist(), strict=True)
    }
    labels = {c: k for k, c in enumerate(sorted(set(clusters.values())))}
    return {i: labels[c] for i, c in clusters.items()}, seconds, result.metrics


# --------------------------------------------------------------------------- datatrove


def run_datatrove(paths: list[Path], work: Path, cpus: int) -> tuple[dict[int, int], float]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64))
    folder = str(paths[0].parent)
    tasks = len(paths)
    log = str(work / "logs")
    t0 = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[JsonlReader(folder), MinhashDedupSignature(output_folder=str(work / "sigs"), config=cfg)],
        tasks=tasks,
        workers=cpus,
        logging_dir=f"{log}/1",
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            MinhashDedupBuckets(
                input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=cfg
            )
        ],
        tasks=cfg.num_buckets,
        workers=cpus,
        logging_dir=f"{log}/2",
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            MinhashDedupCluster(
                input_folder=str(work / "buckets"),
                output_folder=str(work / "remove"),
                config=cfg,
                save_cluster_id=True,
            )
        ],
        tasks=1,
        logging_dir=f"{log}/3",
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(folder),
            MinhashDedupFilter(
                input_folder=str(work / "remove"),
                exclusion_writer=JsonlWriter(str(work / "removed")),
                load_cluster_ids=True,
            ),
            JsonlWriter(str(work / "kept")),
        ],
        tasks=tasks,
        workers=cpus,
        logging_dir=f"{log}/4",
    ).run()
    seconds = time.perf_counter() - t0
    clusters: dict[int, int] = {}
    for path in list((work / "kept").glob("*")) + list((work / "removed").glob("*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                cid = row.get("metadata", {}).get("minhash_cluster_id", -1)
                if cid != -1:
                    clusters[int(row["id"].rsplit(":", 1)[1]) - 1] = cid
    return clusters, seconds


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/bench-dedup")
    parser.add_argument("--skip-datatrove", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    cpus = os.cpu_count() or 1

    t0 = time.perf_counter()
    docs, truth = build(args.families, args.seed)
    js = Counter(round(j, 1) for j in truth.values())
    print(
        f"labelled set: {len(docs)} docs in {args.families} families, {len(truth)} within-family pairs, "
        f"{sum(len(d['text'].encode()) for d in docs) / 1e6:.1f} MB, "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    print("  pair Jaccard histogram:", dict(sorted(js.items())))
    paths = write_jsonl(docs, out / "input", files=cpus)

    import ray

    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    results = {}
    # Warm-up: Ray starts its worker processes and they import prep on the first job.
    run_prep(paths, out / "warm-up", cpus, {})
    for label, config in [("prep", {}), ("prep verify", {"fuzzy": {"verify": True}})]:
        clusters, seconds, metrics = run_prep(paths, out / label.replace(" ", "-"), cpus, config)
        results[label] = {"seconds": round(seconds, 2), **score(clusters, docs, truth)}
        if "verification" in metrics:
            results[label]["verification"] = metrics["verification"]
    ray.shutdown()
    if not args.skip_datatrove:
        clusters, seconds = run_datatrove(paths, out / "datatrove", cpus)
        results["datatrove"] = {"seconds": round(seconds, 2), **score(clusters, docs, truth)}

    print(f"machine: {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}")
    for label, r in results.items():
        print(f"{label:12s}", json.dumps(r))
    (out / "results.json").write_text(
        json.dumps({"docs": len(docs), "pairs": len(truth), "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
