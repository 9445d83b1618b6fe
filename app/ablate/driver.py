"""`prep ablate`: re-mix the cleaned, tokenized data per mixture variant, train a proxy model on
each, compare them on the same validation documents, and fit a RegMix-style regression.

1. Re-mix (driver, one variant after the other): each variant is the base config with its
   `mix.weights` (and the ablation's `target_tokens` and `policy`), written to
   OUT/variants/NAME/data. Every pass before the mix is reused from the base's `work_dir`
   (the first variant computes them if the base never ran): a later variant that recomputes
   one fails the ablation, since re-cleaning per variant is the cost this design avoids.
   A mixture the data cannot meet under `policy: error` is reported as infeasible, with the
   mix stage's table of targets, and the others go on.
2. Proxies (Ray tasks, one GPU each when the cluster has GPUs, else `cpus_per_proxy` CPUs):
   `prep.training.train.train` on each variant's shards with the same settings and seed, so a
   cluster trains them in parallel. A proxy folder keeps its checkpoints: a re-run with the
   same settings and shards resumes or reuses it; anything else starts it afresh.
3. Scores: per-domain validation loss and bits per byte. The validation shards' document ids
   must be identical across variants (the mix chooses them by a hash of seed and id, before
   any weighting); a difference stops the ablation, since the losses would not compare.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray

from prep.ablate.config import Ablation, Variant
from prep.ablate.summary import VariantResult, summarize
from prep.core.files import read_json, write_json_atomic
from prep.pipeline.config import Config, load_config
from prep.pipeline.raysession import ray_session, resolve_address
from prep.pipeline.runner import run
from prep.stages.mix.plan import MixError

log = logging.getLogger("prep.ablate")

PROXY_KEY = "ablate-key.json"


class AblateError(RuntimeError):
    """The variants cannot be compared (a run failure, exit code 1)."""


# --- 1. re-mix --------------------------------------------------------------------------------


def variant_config(ab: Ablation, variant: Variant, data: Path) -> Config:
    """The base config with the variant's weights, the ablation's budget and policy, output in `data`."""
    overrides: dict[str, Any] = {"run.output": str(data), "mix.policy": ab.config.policy}
    if variant.weights is not None:
        overrides["mix.weights"] = variant.weights
    if ab.config.target_tokens is not None:
        overrides["mix.target_tokens"] = ab.config.target_tokens
    return load_config(ab.config.base, overrides)


def remix(ab: Ablation, variant: Variant, out: Path) -> VariantResult:
    """Run the base config with the variant's mixture into OUT/variants/NAME/data."""
    folder = out / "variants" / variant.name
    result = VariantResult(variant, folder / "data", folder / "proxy")
    t0 = time.time()
    try:
        ran = run(variant_config(ab, variant, result.data))
    except MixError as exc:
        result.status, result.reason = "infeasible", str(exc)
        result.seconds["remix"] = round(time.time() - t0, 2)
        log.warning("variant %s: infeasible mixture\n%s", variant.name, exc)
        return result
    result.seconds["remix"] = round(time.time() - t0, 2)
    result.passes = [{"label": p.label, "reused": p.reused, "seconds": p.seconds} for p in ran.passes]
    manifest = read_json(result.data / "manifest.json")
    result.mix = manifest["mix"]
    result.val_ids = val_ids(result.data, manifest)
    return result


def check_upstream_reused(results: list[VariantResult]) -> None:
    """After the first variant, every pass before the mix's must come from the checkpoint."""
    for r in results[1:]:
        recomputed = [p["label"] for p in r.passes[:-1] if not p["reused"]]
        if recomputed:
            raise AblateError(
                f"variant {r.variant.name} recomputed pass(es) {', '.join(recomputed)}: only the mix "
                "should change between variants (is run.work_dir shared, and unchanged during the ablation?)"
            )


def val_ids(data: Path, manifest: dict) -> list[tuple[str, str]]:
    """(domain, id) of every validation document, in shard order (the order the proxies score)."""
    out: list[tuple[str, str]] = []
    for info in manifest["shards"]:
        if info["split"] != "val":
            continue
        with pa.memory_map(str(data / info["path"])) as source:
            table = pa.ipc.open_file(source).read_all().select(["domain", "id"])
        out += zip(table.column("domain").to_pylist(), table.column("id").to_pylist(), strict=True)
    return out


def check_same_validation(results: list[VariantResult]) -> dict[str, Any]:
    """Every remixed variant must hold the same validation documents, in the same order."""
    done = [r for r in results if r.status != "infeasible"]
    if not done:
        return {}
    ref = done[0]
    for r in done[1:]:
        if r.val_ids != ref.val_ids:
            a, b = set(ref.val_ids), set(r.val_ids)
            raise AblateError(
                f"variant {r.variant.name} has other validation documents than {ref.variant.name} "
                f"({len(b - a)} only in {r.variant.name}, {len(a - b)} only in {ref.variant.name}"
                f"{', same documents in another order' if a == b else ''}): their losses would not compare"
            )
    per_domain: dict[str, int] = {}
    for domain, _ in ref.val_ids:
        per_domain[domain] = per_domain.get(domain, 0) + 1
    digest = hashlib.sha256("\n".join(f"{d}\t{i}" for d, i in ref.val_ids).encode()).hexdigest()
    return {
        "identical": True,
        "variants": len(done),
        "docs": dict(sorted(per_domain.items())),
        "ids_sha256": digest,
    }


# --- 2. proxies -------------------------------------------------------------------------------


@ray.remote
def _train_proxy(settings: dict[str, Any], threads: int) -> dict[str, Any]:
    """One proxy run in a Ray worker (its own process: torch threads set per task)."""
    import socket

    import torch

    from prep.training.config import TrainConfig
    from prep.training.train import train

    torch.set_num_threads(threads)
    t0 = time.time()
    summary = train(TrainConfig.model_validate(settings), resume=True)
    return {"summary": summary, "seconds": round(time.time() - t0, 2), "host": socket.gethostname()}


def proxy_resources(ab: Ablation) -> dict[str, float]:
    """One GPU per proxy when the cluster has GPUs (and the proxy may use CUDA), else CPUs."""
    device = ab.proxy.get("device", "auto")
    gpus = ray.cluster_resources().get("GPU", 0)
    if device == "cuda" and not gpus:
        raise AblateError("proxy.device: cuda asked for, but the Ray cluster has no GPU")
    if gpus and device != "cpu":
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_cpus": ab.config.cpus_per_proxy}


def _proxy_key(settings: dict[str, Any], data: Path) -> dict[str, Any]:
    manifest = read_json(data / "manifest.json")
    return {"settings": settings, "shards": sorted(s["sha256"] for s in manifest["shards"])}


def prepare_proxy_folder(r: VariantResult, settings: dict[str, Any]) -> None:
    """Keep a proxy folder only when it was trained with these settings on these shards."""
    key = _proxy_key(settings, r.data)
    key_file = r.proxy / PROXY_KEY
    if key_file.is_file() and read_json(key_file) == key:
        return
    shutil.rmtree(r.proxy, ignore_errors=True)
    write_json_atomic(key_file, key)


def train_proxies(ab: Ablation, results: list[VariantResult]) -> dict[str, float]:
    """Launch one Ray task per remixed variant, then gather them; a failed proxy is reported, not raised."""
    todo = [r for r in results if r.status == "pending"]
    resources = proxy_resources(ab)
    threads = max(1, int(resources["num_cpus"]))
    # the device follows the reservation: a proxy never takes a GPU that Ray did not give it
    device = "cuda" if resources.get("num_gpus") else "cpu"
    refs = {}
    for r in todo:
        settings = ab.proxy_config(r.data.resolve(), r.proxy.resolve()).model_dump(mode="json")
        settings["device"] = device
        prepare_proxy_folder(r, settings)
        refs[r.variant.name] = _train_proxy.options(**resources).remote(settings, threads)
    log.info("training %d proxies as Ray tasks (%s each)", len(refs), resources)
    for r in todo:
        try:
            got = ray.get(refs[r.variant.name])
        except Exception as exc:  # a proxy's crash is the ablation's result for that variant
            cause = getattr(exc, "cause", None) or exc
            r.status, r.reason = "failed", f"proxy training failed: {type(cause).__name__}: {cause}"
            log.error("variant %s: %s", r.variant.name, r.reason)
            continue
        r.summary, r.seconds["train"] = got["summary"], got["seconds"]
        r.status = "ok" if got["summary"].get("val") else "failed"
        if r.status == "failed":
            r.reason = "the proxy wrote no validation result"
    return resources


def check_same_scoring(results: list[VariantResult]) -> None:
    """The proxies must have scored the same tokens and bytes per domain (same documents, same windows)."""
    done = [r for r in results if r.status == "ok"]
    sizes = {
        r.variant.name: {d: (m["tokens"], m["bytes"]) for d, m in r.summary["val"]["domains"].items()}
        for r in done
    }
    first = next(iter(sizes.values()), None)
    for name, got in sizes.items():
        if got != first:
            raise AblateError(f"proxy {name} scored other validation tokens than {done[0].variant.name}")


def ablate(ab: Ablation, address: str | None = None) -> dict:
    """Run the whole ablation; writes OUT/ablate.json and OUT/report.html and returns the JSON."""
    from prep.ablate.report import write_report

    out = ab.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    base_ray = ab.base.model.ray
    with ray_session(resolve_address(address, base_ray.address), base_ray.num_cpus):
        results = []
        for i, variant in enumerate(ab.variants):
            log.info("variant %d/%d %s: re-mixing", i + 1, len(ab.variants), variant.name)
            results.append(remix(ab, variant, out))
        check_upstream_reused([r for r in results if r.passes])
        validation = check_same_validation(results)
        resources = train_proxies(ab, results) if any(r.status == "pending" for r in results) else {}
    check_same_scoring(results)
    summary = summarize(ab, results, validation, resources)
    summary["seconds"] = round(time.time() - started, 2)
    write_json_atomic(out / "ablate.json", summary)
    write_report(out, summary)
    return summary
