"""LSH banding: band keys of MinHash signatures, and the (bands, rows) a threshold calls for."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from prep.stages.dedup.hashes import fmix64, splitmix64


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One deterministic 64-bit key per band per document: ``(n_docs, bands)`` uint64.

    Band i hashes values ``[i*rows, (i+1)*rows)`` with a chain of fmix64 steps started from a
    band-specific constant, so equal keys in different bands do not mean equal values.
    """
    sig = np.asarray(signatures, dtype=np.uint64)
    if sig.ndim != 2 or bands < 1 or rows < 1 or bands * rows > sig.shape[1]:
        raise ValueError(f"need bands * rows <= num_perm, got {bands} * {rows} for shape {sig.shape}")
    cols = sig[:, : bands * rows].reshape(len(sig), bands, rows)
    keys = np.empty((len(sig), bands), dtype=np.uint64)
    keys[:] = np.array([splitmix64(2000 + i) for i in range(bands)], dtype=np.uint64)
    for j in range(rows):
        np.bitwise_xor(keys, cols[:, :, j], out=keys)
        fmix64(keys, out=keys)
    return keys


def _gauss_integral(
    func: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, nodes: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Integral of each row of ``func`` over [lo, hi] by Gauss-Legendre quadrature."""
    s = (hi - lo) / 2 * nodes + (hi + lo) / 2
    return (hi - lo) / 2 * (func(s) @ weights)


def optimal_bands_rows(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive + negative areas, as datasketch's LSH.

    Same rule and scan order as ``datasketch.lsh._optimal_param``; the integrands are polynomials
    of degree ``b * r <= num_perm``, so Gauss-Legendre with ``num_perm // 2 + 1`` nodes integrates
    them exactly, vectorised over r; scipy's adaptive ``quad`` per (b, r), as datasketch does,
    took 3.5x longer (2.9 s against 0.83 s for 200 threshold/num_perm pairs up to 256).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=np.float64)[:, None]

        def p_candidate(s: np.ndarray, r: np.ndarray = r, b: int = b) -> np.ndarray:
            return 1.0 - (1.0 - s[None, :] ** r) ** b

        fp = _gauss_integral(p_candidate, 0.0, threshold, nodes, weights)
        fn = _gauss_integral(lambda s, pc=p_candidate: 1.0 - pc(s), threshold, 1.0, nodes, weights)
        err = fp * false_positive_weight + fn * false_negative_weight
        i = int(np.argmin(err))
        if err[i] < best:
            best, opt = float(err[i]), (b, i + 1)
    return opt
