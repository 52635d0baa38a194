"""The objectives a fit minimises, each -2 log L of a likelihood or a robust misfit, per pixel
with its derivative and Fisher weight (:func:`terms`), and the covariance of the parameters
they give at the optimum (:func:`fisher_cov`, :func:`laplace_cov`).

- "poisson": the Poisson deviance of the counts D against the model m = s I + b;
- "gaussian": chi^2 with given variances;
- "log": a soft-L1 (smooth Huber) of the log residuals r = log(m + c) - log(D + c), for
  data that are not counts; no likelihood, so its covariance is the Gauss-Newton one with one
  noise level for all pixels.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

DELTA = 0.2  # soft-L1 transition, in log intensity


def soft_l1(r: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """rho, rho' and rho'' of 2 delta^2 (sqrt(1 + (r/delta)^2) - 1), elementwise."""
    q = torch.sqrt(1.0 + (r / DELTA) ** 2)
    return 2.0 * DELTA**2 * (q - 1.0), 2.0 * r / q, 2.0 / (q * q * q)


class Problem(Protocol):
    """What the solver needs of a fit on one pixel grid: ``simulate(theta [B, P]) -> [B, N]``
    over the unmasked pixels (float64, differentiable), their data ``logd`` = log(D + c) [N]
    and the floor ``c``. A problem may also name its ``objective`` ("log", the default,
    "poisson" or "gaussian"; :func:`terms`) and give the data ``data`` [N] and, for
    "gaussian", their variances ``variance`` [N]."""

    logd: Tensor
    c: float

    def simulate(self, theta: Tensor) -> Tensor: ...


OBJECTIVES = ("poisson", "gaussian", "log")


def terms(problem: Problem, model: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The per-pixel loss of the model m = s I + b [..., N] against the problem's data, its
    derivative d loss / d m and its Gauss-Newton (Fisher) weight, by the problem's
    ``objective``:

    - "log": soft-L1 rho(r) of r = log(m + c) - log(D + c); weight rho''(r) / (m + c)^2;
    - "poisson": the Poisson deviance 2 (m - D + D log(D / m)) = -2 log L + const, weight
      E[d^2 loss / d m^2] = 2 / m (BornAgain's Poisson-like metric is its square-root form);
    - "gaussian": chi^2 = (m - D)^2 / var, weight 2 / var.

    The likelihood objectives are -2 log L, so their covariance is 2 H^-1 (:func:`fisher_cov`).
    """
    kind = getattr(problem, "objective", "log")
    if kind == "poisson":
        d = problem.data  # type: ignore[attr-defined]
        m = model.clamp_min(1e-300)
        loss = 2.0 * (m - d + torch.xlogy(d, d) - torch.xlogy(d, m))
        return loss, 2.0 * (1.0 - d / m), 2.0 / m
    if kind == "gaussian":
        d, var = problem.data, problem.variance  # type: ignore[attr-defined]
        return (model - d) ** 2 / var, 2.0 * (model - d) / var, 2.0 / var + 0.0 * model
    mc = model + problem.c
    rho, d1, d2 = soft_l1(torch.log(mc) - problem.logd)
    return rho, d1 / mc, d2 / (mc * mc)


def curvature(problem: Problem, model: Tensor, d1: Tensor, d2: Tensor) -> Tensor:
    """The exact second derivative of the per-pixel loss in the model m, from :func:`terms`'
    derivative d1 and weight d2 at m: Poisson 2 D / m^2 = (2 - d1) / m; chi^2 2 / var = d2;
    log rho''(r) / (m + c)^2 - rho'(r) / (m + c)^2 = d2 - d1 / (m + c). Where the data lie
    below the model it is smaller than the Fisher weight d2 (for Poisson, zero at D = 0)."""
    kind = getattr(problem, "objective", "log")
    if kind == "poisson":
        return (2.0 - d1) / model.clamp_min(1e-300)
    if kind == "gaussian":
        return d2
    return d2 - d1 / (model + problem.c)


def fisher_cov(problem: Problem, jac: Tensor, model: Tensor) -> Tensor | None:
    """Covariance of the parameters behind the model's Jacobian J [N, Q] at the optimum (model
    m [N]). For the likelihood objectives (loss = -2 log L): the inverse Fisher information
    2 (J^T W J)^-1, W the weights of :func:`terms`. For "log" (no likelihood):
    :func:`laplace_cov` of the log residuals. None if too few pixels."""
    if getattr(problem, "objective", "log") == "log":
        mc = model + problem.c
        return laplace_cov(jac / mc[:, None], torch.log(mc) - problem.logd)
    _, _, w = terms(problem, model)
    ok = torch.isfinite(jac).all(-1) & torch.isfinite(w)
    jac, w = jac[ok], w[ok]
    if jac.shape[0] <= jac.shape[1]:
        return None
    return 2.0 * torch.linalg.pinv(jac.T @ (w[:, None] * jac))


def laplace_cov(jac: Tensor, residuals: Tensor) -> Tensor | None:
    """Covariance of the parameters behind J [N, Q] (the Jacobian of the log residuals [N]) at
    the optimum; None if too few pixels: the Gauss-Newton s2 (J^T J)^-1, s2 = sum r^2 / (N - Q)
    (one noise level for all pixels' log residuals). The soft-L1 M-estimator's sandwich (each
    pixel its own noise) was tried: about half as large for film fits, it covered the truth
    within 2 std in 19 of 30 parameters against 26 of 30 (benchmarks/fit_starts.py), since the
    log misfit of low-count pixels is itself biased and the plain s2 covers that."""
    ok = torch.isfinite(jac).all(-1) & torch.isfinite(residuals)
    jac, r = jac[ok], residuals[ok]
    n, q = jac.shape
    if n <= q:
        return None
    return float((r * r).sum()) / (n - q) * torch.linalg.pinv(jac.T @ jac)


def laplace_std(jac: Tensor, residuals: Tensor, p: int) -> np.ndarray:
    """Standard deviations of the first P (normalised) parameters of J [N, Q] (the others, e.g.
    scale and background, marginalised): sqrt(diag(:func:`laplace_cov`))."""
    cov = laplace_cov(jac, residuals)
    if cov is None:
        return np.full(p, np.nan)
    return np.sqrt(np.clip(np.diag(cov.numpy())[:p], 0, None))

