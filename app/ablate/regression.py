"""RegMix-style regression: per-domain validation loss as a function of the mixture, and the
mixture it predicts to be best.

Each domain's loss is fitted as a ridge regression on features of the training shares:
`log` (default) uses log(share + 0.01), so a domain's loss can fall with diminishing
returns as its share grows and the predicted optimum can lie inside the simplex; `linear`
uses the shares themselves (as RegMix's linear model), whose optimum is always at a corner
of the searched region. With shares summing to one the linear features are collinear with
the intercept: the ridge solution then has coefficients summing to zero per domain, and
only their differences mean anything.

The search scores many candidate mixtures (uniform Dirichlet draws and convex combinations
of the trained mixtures), keeps those inside the box of shares the variants actually
trained on (no extrapolation), and polishes the best with SLSQP inside that box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

#: Added to shares before the log, so that a share of zero (a domain left out) stays finite.
LOG_EPS = 0.01


def featurize(shares: np.ndarray, kind: str) -> np.ndarray:
    shares = np.asarray(shares, dtype=np.float64)
    if kind == "log":
        return np.log(shares + LOG_EPS)
    if kind == "linear":
        return shares
    raise ValueError(f"unknown features {kind!r}")


def ridge(features: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts (D,) and coefficients (D, K) of y (N, D) on features (N, K), penalising only the
    coefficients. Through the SVD of the centred features, so fewer rows than columns (few
    variants) give the minimum-norm solution instead of failing."""
    mean_f, mean_y = features.mean(axis=0), y.mean(axis=0)
    u, s, vt = np.linalg.svd(features - mean_f, full_matrices=False)
    keep = s > s.max(initial=0.0) * 1e-10
    u, s, vt = u[:, keep], s[keep], vt[keep]
    coef = (vt.T @ np.diag(s / (s**2 + alpha)) @ u.T @ (y - mean_y)).T  # (D, K)
    return mean_y - coef @ mean_f, coef


@dataclass
class MixtureFit:
    """Per-domain loss models over the mixture shares, with their quality."""

    kind: str
    alpha: float
    inputs: list[str]  # the domains whose shares are the inputs
    targets: list[str]  # the domains whose losses are predicted
    intercept: np.ndarray  # (D,)
    coef: np.ndarray  # (D, K)
    n: int
    r2: dict[str, float | None] = field(default_factory=dict)
    loo_rmse: dict[str, float | None] = field(default_factory=dict)
    loo_errors: np.ndarray | None = None  # (N, D): each variant's error when left out of the fit

    def predict(self, shares: np.ndarray) -> np.ndarray:
        """(M, K) shares -> (M, D) predicted losses."""
        return self.intercept + featurize(np.atleast_2d(shares), self.kind) @ self.coef.T

    @property
    def params_per_domain(self) -> int:
        return len(self.inputs) + 1

    @property
    def trusted(self) -> bool:
        """Twice as many variants as parameters per domain: the least for a fit worth acting on."""
        return self.n >= 2 * self.params_per_domain


def fit_mixture(
    shares: np.ndarray, losses: np.ndarray, inputs: list[str], targets: list[str], kind: str, alpha: float
) -> MixtureFit:
    """Fit every target domain's loss (N, D) on the N trained mixtures' shares (N, K)."""
    shares, losses = np.asarray(shares, np.float64), np.asarray(losses, np.float64)
    intercept, coef = ridge(featurize(shares, kind), losses, alpha)
    fit = MixtureFit(kind, alpha, list(inputs), list(targets), intercept, coef, len(shares))
    resid = losses - fit.predict(shares)
    spread = ((losses - losses.mean(axis=0)) ** 2).sum(axis=0)
    loo = fit.loo_errors = leave_one_out(shares, losses, kind, alpha)
    for j, d in enumerate(targets):
        fit.r2[d] = None if spread[j] == 0 else float(1 - (resid[:, j] ** 2).sum() / spread[j])
        fit.loo_rmse[d] = None if loo is None else float(np.sqrt((loo[:, j] ** 2).mean()))
    return fit


def leave_one_out(shares: np.ndarray, losses: np.ndarray, kind: str, alpha: float) -> np.ndarray | None:
    """Each variant's error when predicted by a fit on the others (N, D); None below three variants."""
    n = len(shares)
    if n < 3:
        return None
    errors = np.empty_like(losses)
    for i in range(n):
        rest = np.arange(n) != i
        b, c = ridge(featurize(shares[rest], kind), losses[rest], alpha)
        errors[i] = losses[i] - (b + featurize(shares[i : i + 1], kind) @ c.T)[0]
    return errors


@dataclass
class Search:
    shares: np.ndarray  # (K,) the predicted best mixture
    predicted: np.ndarray  # (D,) its predicted per-domain losses
    overall: float
    candidates: int  # mixtures scored inside the region
    low: np.ndarray  # the region searched: per-domain share bounds
    high: np.ndarray


def search_best(
    fit: MixtureFit, omega: np.ndarray, observed: np.ndarray, candidates: int, seed: int
) -> Search:
    """The mixture minimising the predicted overall score omega . losses, inside the box of
    shares the observed (trained) mixtures span."""
    observed = np.atleast_2d(np.asarray(observed, np.float64))
    low, high = observed.min(axis=0), observed.max(axis=0)
    k = observed.shape[1]
    rng = np.random.default_rng(seed)
    half = candidates // 2
    uniform = rng.dirichlet(np.ones(k), size=candidates - half)
    hull = rng.dirichlet(np.ones(len(observed)), size=half) @ observed
    pool = np.concatenate([observed, hull, uniform])
    inside = np.all((pool >= low - 1e-12) & (pool <= high + 1e-12), axis=1)
    pool = pool[inside]
    scores = fit.predict(pool) @ omega
    start = pool[int(np.argmin(scores))]
    best = _polish(fit, omega, start, low, high)
    predicted = fit.predict(best)[0]
    return Search(best, predicted, float(predicted @ omega), len(pool), low, high)


def _polish(fit: MixtureFit, omega: np.ndarray, start: np.ndarray, low: np.ndarray, high: np.ndarray):
    """SLSQP from the best candidate, on the simplex within the box; the candidate if it does no better."""
    if np.allclose(low, high):
        return start

    def objective(x: np.ndarray) -> float:
        return float(fit.predict(x)[0] @ omega)

    res = minimize(
        objective,
        start,
        method="SLSQP",
        bounds=list(zip(low, high, strict=True)),
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0}],
        options={"ftol": 1e-12, "maxiter": 200},
    )
    x = np.clip(res.x, low, high)
    x = x / x.sum()
    return x if objective(x) <= objective(start) else start
