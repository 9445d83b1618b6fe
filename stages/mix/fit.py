"""The mix fit on Ray: plan.py's choices from per-domain histograms of the document hashes.

Three passes over a table of (domain, validation hash, sampling hash, tokens) that the
workers write once under the fit's folder (~30 bytes a document), each summed in the
cluster (`core.aggregate.sum_blocks`):

1. per domain, the documents and a histogram of their validation hashes: where the k-th
   smallest lies, k the number of validation documents;
2. the documents of the one or two bins around that cut, exactly (about 2n/65,536 of a
   domain's n documents), and per sampling-hash bin the tokens and documents of those
   certainly in training: the exact validation cut, and each domain's available tokens;
3. after the targets: the training documents of the one sampling-hash bin where the running
   token sum crosses the fractional target, exactly: the exact sampling threshold.

The driver holds histograms and those few documents: at a billion documents with five
domains, 5 x 2 x 65,536 x 8 bytes of histograms and ~30,000 documents per domain, instead of
the 12 bytes per document (12 GB) a list of every document would take.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prep.core.aggregate import bins, sum_blocks
from prep.core.hashing import unit_hash
from prep.stages.mix.plan import domain_report, partial_in_bin, threshold_between, val_count

#: Bins of each hash histogram (a power of two, so bin edges are exact in float64).
BINS = 1 << 16


def hash_rows(batch: pa.Table, seed: int) -> pa.Table:
    """Ray Data UDF: each document's domain, validation and sampling hashes and tokens."""
    ids = batch.column("id").to_pylist()
    return pa.table(
        {
            "domain": batch.column("domain"),
            "u_val": pa.array(unit_hash(ids, f"val:{seed}"), pa.float64()),
            "u_mix": pa.array(unit_hash(ids, f"mix:{seed}"), pa.float64()),
            "tokens": pc.cast(pc.fill_null(batch.column("n_tokens"), 0), pa.int64()),
        }
    )


def _columns(block: pa.Table) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per domain: (u_val, u_mix, tokens) of the block's documents."""
    domains = block.column("domain").to_numpy(zero_copy_only=False)
    u_val = block.column("u_val").to_numpy()
    u_mix = block.column("u_mix").to_numpy()
    tokens = block.column("tokens").to_numpy()
    out = {}
    for d in np.unique(domains).tolist():
        m = domains == d
        out[d] = (u_val[m], u_mix[m], tokens[m])
    return out


def _validation_histograms(block: pa.Table, n_bins: int) -> dict[str, Any]:
    return {
        d: {"docs": len(v), "hist": np.bincount(bins(v, n_bins), minlength=n_bins)}
        for d, (v, _, _) in _columns(block).items()
    }


def _split_counts(block: pa.Table, cuts: dict[str, tuple[int, int] | None], n_bins: int) -> dict[str, Any]:
    """Certain validation documents (bins below the cut), certain training documents (above)
    as sampling-hash histograms, and the documents of the cut's bins as they are."""
    out: dict[str, Any] = {}
    for d, (u_val, u_mix, tokens) in _columns(block).items():
        cut = cuts.get(d)
        b = bins(u_val, n_bins)
        val = b < cut[0] if cut else np.zeros(len(b), dtype=bool)
        near = (b >= cut[0]) & (b <= cut[1]) if cut else np.zeros(len(b), dtype=bool)
        train = ~(val | near)
        mb = bins(u_mix[train], n_bins)
        out[d] = {
            "val_docs": int(val.sum()),
            "val_tokens": int(tokens[val].sum()),
            "train_hist_docs": np.bincount(mb, minlength=n_bins),
            "train_hist_tokens": np.bincount(mb, weights=tokens[train], minlength=n_bins).astype(np.int64),
            "near": list(zip(u_val[near].tolist(), u_mix[near].tolist(), tokens[near].tolist(), strict=True)),
        }
    return out


def _crossing_bin(block: pa.Table, plan: dict[str, tuple[float, int]], n_bins: int) -> dict[str, Any]:
    """The training documents (hash at or above the validation cut) of each domain's crossing bin."""
    out: dict[str, Any] = {}
    for d, (u_val, u_mix, tokens) in _columns(block).items():
        if d not in plan:
            continue
        t_val, c = plan[d]
        m = (u_val >= t_val) & (bins(u_mix, n_bins) == c)
        out[d] = list(zip(u_mix[m].tolist(), tokens[m].tolist(), strict=True))
    return out


def plan_mix(
    data, work_dir: Path, seed: int, fraction: float, min_docs: int, want_of, n_bins: int = BINS
) -> tuple[dict, dict]:
    """The apply state and the report per domain. `want_of(available)` turns each domain's
    available training tokens into its token target (the weights, budget and policy)."""
    import ray

    folder = work_dir / "hashes"
    if not (folder / "_done").is_file():  # written once; a resumed fit reads it again
        shutil.rmtree(folder, ignore_errors=True)  # what an interrupted write left
        data.map_batches(hash_rows, batch_format="pyarrow", fn_kwargs={"seed": seed}).write_parquet(
            str(folder)
        )
        (folder / "_done").touch()
    hashes = ray.data.read_parquet(str(folder), file_extensions=["parquet"])

    first = sum_blocks(hashes, lambda b: _validation_histograms(b, n_bins), "validation") or {}
    ks = {d: val_count(x["docs"], fraction, min_docs) for d, x in first.items()}
    cuts: dict[str, tuple[int, int] | None] = {}
    for d, x in first.items():
        k = ks[d]
        if k == 0:
            cuts[d] = None
            continue
        cum = np.cumsum(x["hist"])
        cuts[d] = (int(np.searchsorted(cum, k)), int(np.searchsorted(cum, k + 1)))  # k-th, (k+1)-th

    second = sum_blocks(hashes, lambda b: _split_counts(b, cuts, n_bins), "split") or {}
    counts: dict[str, dict] = {}
    histograms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    t_vals: dict[str, float] = {}
    for d, x in second.items():
        near = sorted(x["near"])
        hist_docs, hist_tokens = x["train_hist_docs"].copy(), x["train_hist_tokens"].copy()
        val_docs, val_tokens = x["val_docs"], x["val_tokens"]
        t_val = 0.0
        if cuts[d] is not None:
            t_val = threshold_between(np.array([n[0] for n in near]), val_docs, ks[d])
            for uv, um, tok in near:
                if uv < t_val:
                    val_docs, val_tokens = val_docs + 1, val_tokens + tok
                else:
                    b = int(bins(np.array([um]), n_bins)[0])
                    hist_docs[b] += 1
                    hist_tokens[b] += tok
        t_vals[d] = t_val
        histograms[d] = (hist_docs, hist_tokens)
        counts[d] = {
            "docs": first[d]["docs"],
            "val_docs": val_docs,
            "val_tokens": val_tokens,
            "available_tokens": int(hist_tokens.sum()),
        }

    want = want_of({d: c["available_tokens"] for d, c in counts.items()})
    crossing: dict[str, tuple[float, int]] = {}
    draws: dict[str, dict] = {}
    for d, c in counts.items():
        available = c["available_tokens"]
        epochs = want.get(d, 0.0) / available if available else 0.0
        full = math.floor(epochs + 1e-12)
        frac = (epochs - full) * available
        draws[d] = {"full": full, "want": frac}
        if frac > 0 and histograms[d][0].sum():
            cum = np.cumsum(histograms[d][1])
            crossing[d] = (t_vals[d], min(int(np.searchsorted(cum, frac)), n_bins - 1))

    third = sum_blocks(hashes, lambda b: _crossing_bin(b, crossing, n_bins), "crossing") if crossing else {}
    state: dict[str, Any] = {}
    report: dict[str, dict] = {}
    for d, c in sorted(counts.items()):
        full, frac = draws[d]["full"], draws[d]["want"]
        threshold, partial = 0.0, 0
        if d in crossing:
            b = crossing[d][1]
            members = sorted((third or {}).get(d, []))
            before = int(histograms[d][1][:b].sum())
            u = np.array([m[0] for m in members], dtype=np.float64)
            tok = np.array([m[1] for m in members], dtype=np.int64)
            threshold, partial = partial_in_bin(u, tok, before, frac, (b + 1) / n_bins)
        state[d] = {"val_threshold": t_vals[d], "full": full, "threshold": threshold}
        report[d] = domain_report(c, want.get(d, 0.0), full, partial)
    return state, report
