"""Orientation fits: the xi distribution of a hexagonal-domain template by non-negative least
squares, inside a search over the nuisance parameters (a, decay, R, position variance,
wavelength, alpha_i).

With average materials the pattern is linear in the domain weights when they sum to 1, so at
fixed nuisance the pattern of a distribution w is sum_k w_k B_k + b with B_k the single-domain
pattern at xi_k. The weights (times a free scale) and a background b >= 0 solve a non-negative
least-squares problem in relative-intensity space (each pixel divided by D + c, the first-order
form of the log misfit). The nuisance search evaluates the prior centre, the given start and
prior draws on a binned detector, then refines the best by variable projection: Adam steps on
the nuisance with the weights held at their NNLS solution (the envelope theorem makes that the
gradient of the projected misfit). Standard deviations are not computed for the nuisance.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy.optimize import nnls
from torch import Tensor

from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.fit.gradient import (
    FitConfig,
    FitResult,
    _bin_factor,
    _logit,
    _masked,
    _Problem,
    _starts,
)
from deepgisas.fit.levenberg import DELTA
from deepgisas.fit.tensors import free_tensors, physical, with_free
from deepgisas.sample import Experiment
from deepgisas.units import DEG


def basis(problem: _Problem, theta: Tensor, bins: int) -> Tensor:
    """Single-domain patterns at xi_k = k * 60 / bins deg, nuisance ``theta`` [P]:
    [bins, N] over the unmasked pixels (differentiable in theta)."""
    th = theta[None].expand(bins, -1)
    p = with_free(problem.free, th)
    dtype = p["lattice_a"].dtype
    p["xi"] = (torch.arange(bins, dtype=dtype) * (60.0 / bins) * DEG)[:, None]
    p["coverage"] = torch.ones((bins, 1), dtype=dtype)
    return problem.simulate_tensors(p)[:, problem.mask]


def solve_weights(a: np.ndarray, data: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """NNLS of ``data`` [N] on columns ``a`` [N, K] plus a constant background, each pixel
    weighted by 1 / (data + c). Returns the coefficients [K] and the background."""
    w = 1.0 / (np.clip(data, 0, None) + c)
    design = np.concatenate([a, np.ones((a.shape[0], 1))], 1) * w[:, None]
    norms = np.linalg.norm(design, axis=0)
    norms[norms == 0] = 1.0
    x, _ = nnls(design / norms, data * w, maxiter=50 * design.shape[1])
    x = x / norms
    return x[:-1], float(x[-1])


def _misfit(model: np.ndarray, logd: np.ndarray, c: float) -> float:
    r = (np.log(np.clip(model, 0, None) + c) - logd) / DELTA
    return float((2 * DELTA**2 * (np.sqrt(1 + r * r) - 1)).mean())


class _Projected:
    """The misfit at nuisance theta with the weights solved by NNLS (one grid)."""

    def __init__(self, problem: _Problem, bins: int) -> None:
        self.problem, self.bins = problem, bins
        self.data = (torch.exp(problem.logd) - problem.c).double().numpy()
        self.logd = problem.logd.double().numpy()

    def solve(self, theta: Tensor) -> tuple[float, np.ndarray, float, np.ndarray]:
        """(misfit, coefficients [bins], background, model [N])."""
        with torch.no_grad():
            a = basis(self.problem, theta, self.bins).double().numpy().T
        x, b = solve_weights(a, self.data, self.problem.c)
        model = a @ x + b
        return _misfit(model, self.logd, self.problem.c), x, b, model


def fit_orientation(template: Experiment, image: np.ndarray, mask: np.ndarray | None = None,
                    start: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None,
                    fixed: Mapping[str, float] | None = None, config: FitConfig | None = None,
                    refine_steps: int = 20) -> FitResult:
    """Fit the xi distribution of an orientation template (and its nuisance parameters).

    image [rows, cols] on the template's grid, NaN / ``mask`` False = not measured. ``fixed``
    (path or short name -> value) holds nuisance parameters; when all are fixed only the NNLS
    solve runs. ``start``: nuisance values (one dict or a list) tried besides the prior centre
    and ``config.n_starts - 1`` prior draws. The result's ``extra`` holds ``xi_deg`` and
    ``probability`` [bins] (summing to 1); parameters are the nuisance values.
    """
    cfg = config or FitConfig()
    t0 = time.perf_counter()
    labels = LabelSpace.of(template)
    if labels.orientation is None:
        raise UserError("the template has no orientation prior (random_bins)")
    bins = labels.bins
    data = _masked(template, image, mask)
    free = free_tensors(template, dict(fixed or {}), dtype=torch.float32)
    positive = data[np.isfinite(data) & (data > 0)]
    if positive.size < bins + 1:
        raise UserError("the image has too few positive unmasked pixels to fit")
    c = cfg.floor * float(np.percentile(positive, 99))
    fine = _Problem(free, data, c, 1, torch.float32)
    best_theta = torch.full((len(free.params),), 0.5, dtype=torch.float32)
    start_misfits: list[float] = []
    if free.params:
        coarse = _Problem(free, data, c, _bin_factor(template, 48), torch.float32)
        proj = _Projected(coarse, bins)
        starts = torch.tensor(_starts(template, free, start, cfg), dtype=torch.float32)
        if start is not None:  # the given start(s), then the prior centre and draws
            starts = torch.cat([starts, torch.tensor(
                _starts(template, free, None, cfg), dtype=torch.float32)])
        start_misfits = [proj.solve(s)[0] for s in starts]
        best_theta = starts[int(np.argmin(start_misfits))]
        best_theta = _refine(proj, best_theta, refine_steps, 0.1)
    misfit, x, b, model = _Projected(fine, bins).solve(best_theta)
    scale = float(x.sum())
    if scale <= 0:
        raise UserError("no orientation distribution fits the image (all weights zero)")
    fitted = np.full(data.shape, np.nan)
    fitted[fine.mask.numpy()] = model
    return FitResult(
        parameters=physical(free, best_theta.double().numpy()), std={}, misfit=misfit,
        seconds=time.perf_counter() - t0, fitted=fitted, scale=scale, background=b,
        method="nnls", theta=best_theta.double().numpy(), start_misfits=start_misfits,
        extra={"xi_deg": labels.xi_deg().tolist(), "probability": (x / scale).tolist()})


def _refine(proj: _Projected, theta: Tensor, steps: int, lr: float) -> Tensor:
    """Adam on the nuisance (logit space) with the NNLS weights held fixed per step; returns
    the best nuisance seen."""
    if steps <= 0:
        return theta
    u = torch.tensor(_logit(theta.double().numpy()), dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([u], lr=lr)
    best, best_misfit = theta, np.inf
    c, logd = proj.problem.c, proj.problem.logd
    for _ in range(steps):
        th = torch.sigmoid(u.detach())
        misfit, x, b, _ = proj.solve(th)
        if misfit < best_misfit:
            best, best_misfit = th, misfit
        opt.zero_grad()
        model = torch.from_numpy(x).float() @ basis(proj.problem, torch.sigmoid(u), proj.bins) + b
        r = (torch.log(model.clamp_min(0) + c) - logd) / DELTA
        (2 * DELTA**2 * (torch.sqrt(1 + r * r) - 1)).mean().backward()
        opt.step()
    return best
