"""Physics refinement of a template's free parameters by gradient descent through the simulator.

The misfit of a simulated pattern I(theta) against data D over the unmasked pixels is a
soft-L1 (smooth Huber) mean of the log residuals

    r = log(s I + b + c) - log(D + c),   misfit = mean(2 delta^2 (sqrt(1 + (r/delta)^2) - 1))

with a free scale s and background b (both fitted in log), c a floor (a small fraction of the
bright end of the data) and theta the free parameters in the unit box of their priors
(sigmoid-bounded). Several starts run as one batch with Adam on a binned detector; the best is
refined with L-BFGS on the full detector. Standard deviations come from the curvature at the
optimum (Laplace / Gauss-Newton: residual variance x (J^T J)^-1, J by central differences in
normalised space, scale and background marginalised).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepgisas.api import detector_mask
from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.fit.tensors import FreeTensors, free_tensors, physical, with_free
from deepgisas.physics.simulate import Structure, simulate_tensors
from deepgisas.priors import LogUniform, Uniform
from deepgisas.sample import Experiment, Spherical
from deepgisas.templates import draw_parameters

DELTA = 0.2  # soft-L1 transition, in log intensity
EDGE = 1e-3  # starts are kept this far inside the unit box
Start = Mapping[str, float]


@dataclass
class FitResult:
    """The outcome of a fit. Parameters and standard deviations are physical (the file's units,
    named as in the template); ``fitted`` is s I + b on the image's grid (NaN where masked)."""

    parameters: dict[str, float]
    std: dict[str, float]
    misfit: float
    seconds: float
    fitted: np.ndarray
    scale: float = 1.0
    background: float = 0.0
    method: str = "laplace"
    theta: np.ndarray = field(default_factory=lambda: np.zeros(0))  # normalised optimum [P]
    start_misfits: list[float] = field(default_factory=list)  # per start, after Adam
    extra: dict = field(default_factory=dict)  # e.g. the orientation distribution

    def to_dict(self, image: str) -> dict:
        """The contract's JSON record (plus scale, background, method and extras); a standard
        deviation the curvature could not give is null."""
        std = {k: (v if np.isfinite(v) else None) for k, v in self.std.items()}
        return {"image": image, "parameters": self.parameters, "std": std,
                "misfit": self.misfit, "seconds": self.seconds, "method": self.method,
                "scale": self.scale, "background": self.background, **self.extra}


@dataclass(frozen=True)
class FitConfig:
    """Optimiser settings (defaults suit 64 to 256 pixel detectors on a CPU)."""

    n_starts: int = 8  # prior starts without a given start
    seed: int = 0
    adam_steps: int = 120
    adam_lr: float = 0.3
    coarse_lbfgs_iter: int = 40  # on the binned detector
    lbfgs_iter: int = 40  # on the full detector
    floor: float = 1e-3  # c = floor x 99th percentile of the data
    coarse_side: int = 48  # the Adam stage bins the detector down to at least this side
    fd_step: float = 1e-4  # finite-difference step of the Jacobian, normalised units


def _bin_factor(template: Experiment, side: int) -> int:
    if not isinstance(template.detector.geometry, Spherical):
        return 1
    rows, cols = template.detector.shape
    f = 1
    while rows % (2 * f) == 0 and cols % (2 * f) == 0 and min(rows, cols) // (2 * f) >= side:
        f *= 2
    return f


def _bin(data: np.ndarray, f: int) -> np.ndarray:
    """Mean of f x f blocks over finite pixels; NaN where fewer than half are finite."""
    if f == 1:
        return data
    r, c = data.shape
    blocks = data.reshape(r // f, f, c // f, f)
    ok = np.isfinite(blocks)
    n = ok.sum((1, 3))
    total = np.where(ok, blocks, 0.0).sum((1, 3))
    return np.where(n * 2 >= f * f, total / np.maximum(n, 1), np.nan)


class _Problem:
    """Data, mask and simulator of one fit on one grid."""

    def __init__(self, free: FreeTensors, data: np.ndarray, floor: float, f: int,
                 dtype: torch.dtype) -> None:
        rows, cols = free.structure.shape
        self.st: Structure = dataclasses.replace(free.structure, shape=(rows // f, cols // f),
                                                 roi=None, masks=())
        self.free = FreeTensors(self.st, {k: (v.to(dtype) if not v.is_complex() else
                                              v.to(torch.complex64 if dtype == torch.float32
                                                   else torch.complex128))
                                          for k, v in free.base.items()}, free.params)
        d = _bin(data, f)
        self.mask = torch.from_numpy(np.isfinite(d))
        self.c = floor
        self.logd = torch.log(torch.from_numpy(np.nan_to_num(d, nan=0.0)).clamp_min(0) + floor
                              ).to(dtype)[self.mask]
        self.dtype = dtype

    def simulate(self, theta: Tensor) -> Tensor:
        return simulate_tensors(self.st, with_free(self.free, theta))

    def simulate_tensors(self, params: dict[str, Tensor]) -> Tensor:
        return simulate_tensors(self.st, params)

    def residuals(self, theta: Tensor, log_s: Tensor, log_b: Tensor) -> Tensor:
        """[B, N] log residuals over the unmasked pixels."""
        sim = self.simulate(theta)[:, self.mask]
        model = torch.exp(log_s)[:, None] * sim + torch.exp(log_b)[:, None]
        return torch.log(model + self.c) - self.logd

    def misfit(self, theta: Tensor, log_s: Tensor, log_b: Tensor) -> Tensor:
        r = self.residuals(theta, log_s, log_b) / DELTA
        return (2 * DELTA**2 * (torch.sqrt(1 + r * r) - 1)).mean(-1)

    def initial_scale(self, theta: Tensor) -> Tensor:
        with torch.no_grad():
            sim = self.simulate(theta)[:, self.mask].clamp_min(1e-300)
            d = torch.exp(self.logd) - self.c
            return torch.log(d.sum().clamp_min(1e-300) / sim.sum(-1))


def _logit(theta: np.ndarray) -> np.ndarray:
    t = np.clip(theta, EDGE, 1 - EDGE)
    return np.log(t / (1 - t))


def _starts(template: Experiment, free: FreeTensors, start: Start | Sequence[Start] | None,
            cfg: FitConfig) -> np.ndarray:
    """Normalised starts [S, P]. Without ``start``: the prior centre and n_starts - 1 seeded
    prior draws. With a list of starts: one row each, names they lack taken from those prior
    points in turn. With one start that lacks names (e.g. a network's labels without the
    nuisance): it, and max(2, n_starts // 2) - 1 copies whose missing names are prior draws."""
    n = max(cfg.n_starts, 1)
    draws = draw_parameters(template, n - 1, seed=cfg.seed)
    prior = np.concatenate([np.full((1, len(free.params)), 0.5), np.array(
        [[float(q.prior.to_unit(draws[q.path][i])) for q in free.params] for i in range(n - 1)]
    ).reshape(n - 1, len(free.params))])
    if start is None:
        return prior
    given = [start] if isinstance(start, Mapping) else list(start)
    index = {**{q.name: i for i, q in enumerate(free.params)},
             **{q.path: i for i, q in enumerate(free.params)}}
    rows = []
    for k, s in enumerate(given):
        row = prior[k % n].copy()
        for name, value in s.items():
            if name in index:
                row[index[name]] = float(free.params[index[name]].prior.to_unit(float(value)))
        rows.append(row)
    if isinstance(start, Mapping):
        missing = [i for i, q in enumerate(free.params) if q.name not in start
                   and q.path not in start]
        for k in range(1, min(n, max(2, n // 2)) if missing else 1):
            row = rows[0].copy()
            row[missing] = prior[k, missing]
            rows.append(row)
    return np.stack(rows)


def network_starts(network: dict[str, Any], template: Experiment,
                   config: FitConfig | None = None, n: int = 4) -> list[dict[str, float]]:
    """Starts from a parameter model's prediction: its mean, then n - 1 draws from its
    Gaussian (mean, std) clipped to the priors, with the nuisance parameters it does not
    predict drawn from their priors (by :func:`fit_image`)."""
    labels = LabelSpace.of(template)
    priors = {labels.short[p]: prior for p, prior in template.free_parameters.items()}
    rng = np.random.default_rng((config or FitConfig()).seed)
    mean, std = network["parameters"], network.get("std", {})

    def clip(k: str, x: float) -> float:
        prior = priors.get(k)
        if isinstance(prior, Uniform | LogUniform):
            return float(np.clip(x, prior.lo, prior.hi))
        return float(x)

    out = [{k: clip(k, v) for k, v in mean.items()}]
    for _ in range(n - 1):
        out.append({k: clip(k, v + std.get(k, 0.0) * rng.standard_normal())
                    for k, v in mean.items()})
    return out


def fit_image(template: Experiment, image: np.ndarray, mask: np.ndarray | None = None,
              start: Start | Sequence[Start] | None = None, fixed: Mapping[str, float] | None
              = None, config: FitConfig | None = None) -> FitResult:
    """Fit ``template``'s free parameters to ``image``.

    image: float [rows, cols] on the template's detector grid (rows = alpha_f from low to high),
    NaN or ``mask`` False = not measured; the template's ROI and masks apply too.
    start: physical values by short name or path (one dict, e.g. a network's ``parameters``,
    or a list of dicts), or a parameter model's whole result ``{"parameters", "std"}`` (then
    its mean and draws from its Gaussian, see :func:`network_starts`); None = the prior
    centre and prior draws. fixed: path or short name -> value, free parameters to hold.
    Orientation templates (a ``random_bins`` prior) are fitted by
    :func:`deepgisas.fit.orientation.fit_orientation`.
    """
    from deepgisas.sample import RandomBins

    if any(isinstance(p, RandomBins) for p in template.free_parameters.values()):
        from deepgisas.fit.orientation import fit_orientation

        return fit_orientation(template, image, mask=mask, start=start, fixed=fixed,
                               config=config)
    cfg = config or FitConfig()
    t0 = time.perf_counter()
    if isinstance(start, Mapping) and isinstance(start.get("parameters"), Mapping):
        start = network_starts(dict(start), template, cfg)
    data = _masked(template, image, mask)
    free = free_tensors(template, dict(fixed or {}))
    if not free.params:
        raise UserError("the template has no free parameters to fit")
    positive = data[np.isfinite(data) & (data > 0)]
    if positive.size < len(free.params) + 2:
        raise UserError("the image has too few positive unmasked pixels to fit")
    c = cfg.floor * float(np.percentile(positive, 99))
    # stage 1: all starts at once, Adam on the binned detector, float32
    f = _bin_factor(template, cfg.coarse_side)
    coarse = _Problem(free, data, c, f, torch.float32)
    theta0 = torch.tensor(_starts(template, free, start, cfg), dtype=torch.float32)
    u = torch.tensor(_logit(theta0.double().numpy()), dtype=torch.float32, requires_grad=True)
    log_s = coarse.initial_scale(theta0).requires_grad_(True)
    log_b = torch.full_like(log_s, float(np.log(c * 1e-2))).requires_grad_(True)
    opt = torch.optim.Adam([u, log_s, log_b], lr=cfg.adam_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.adam_steps, 1),
                                                       cfg.adam_lr / 20)
    for _ in range(cfg.adam_steps):
        opt.zero_grad()
        loss = coarse.misfit(torch.sigmoid(u), log_s, log_b)
        torch.nan_to_num(loss, nan=0.0).sum().backward()
        for v in (u, log_s, log_b):  # a start that left the simulator's range stands still
            torch.nan_to_num_(v.grad, nan=0.0, posinf=0.0, neginf=0.0)  # type: ignore[arg-type]
        opt.step()
        sched.step()
    with torch.no_grad():
        final = torch.nan_to_num(coarse.misfit(torch.sigmoid(u), log_s, log_b), nan=np.inf)
    best = int(torch.argmin(final))
    # stage 2: the best start, L-BFGS on the binned detector (float32), then on the full one
    ub = u.detach()[best:best + 1].clone()
    lb = log_b.detach()[best:best + 1].clone()
    ls = log_s.detach()[best:best + 1].clone()
    _lbfgs(coarse, [ub, ls, lb], cfg.coarse_lbfgs_iter)
    fine = _Problem(free, data, c, 1, torch.float64)
    ub, lb = ub.double(), lb.double()
    ls = fine.initial_scale(torch.sigmoid(ub)) if f > 1 else ls.double()
    misfit = _lbfgs(fine, [ub, ls, lb], cfg.lbfgs_iter)
    theta = torch.sigmoid(ub)[0]
    std_theta = laplace_std(fine, theta, ls, lb, cfg.fd_step)
    with torch.no_grad():
        sim = fine.simulate(theta[None])[0].numpy()
    fitted = float(torch.exp(ls)) * sim + float(torch.exp(lb))
    fitted[~np.isfinite(data)] = np.nan
    th = theta.numpy()
    return FitResult(
        parameters=physical(free, th),
        std={q.name: abs(q.slope(float(th[i]))) * float(std_theta[i])
             for i, q in enumerate(free.params)},
        misfit=misfit, seconds=time.perf_counter() - t0, fitted=fitted,
        scale=float(torch.exp(ls)), background=float(torch.exp(lb)), theta=th,
        start_misfits=[float(x) for x in final])


def _lbfgs(problem: _Problem, variables: list[Tensor], iterations: int) -> float:
    """L-BFGS (strong Wolfe) on logit(theta), log scale, log background, in place; returns the
    misfit. A run that leaves the simulator's range is undone."""
    for v in variables:
        v.requires_grad_(True)
    opt = torch.optim.LBFGS(variables, lr=1.0, max_iter=iterations,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-10,
                            tolerance_change=1e-12)
    u, ls, lb = variables

    def closure() -> Tensor:
        opt.zero_grad()
        loss = problem.misfit(torch.sigmoid(u), ls, lb).sum()
        loss.backward()
        return loss

    saved = [v.detach().clone() for v in variables]
    opt.step(closure)
    with torch.no_grad():
        for v in variables:
            v.requires_grad_(False)
        misfit = float(problem.misfit(torch.sigmoid(u), ls, lb)[0])
        if not np.isfinite(misfit):
            for v, old in zip(variables, saved, strict=True):
                v.copy_(old)
            misfit = float(problem.misfit(torch.sigmoid(u), ls, lb)[0])
    return misfit


def _masked(template: Experiment, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    data = np.array(image, dtype=np.float64)
    if data.shape != template.detector.shape:
        raise UserError(f"image is {data.shape[0]} x {data.shape[1] if data.ndim > 1 else 1}, "
                        f"the template's detector is {template.detector.shape[0]} x "
                        f"{template.detector.shape[1]}")
    keep = detector_mask(template) & np.isfinite(data)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    data[~keep] = np.nan
    return data


def laplace_std(problem: _Problem, theta: Tensor, log_s: Tensor, log_b: Tensor,
                step: float = 1e-4) -> np.ndarray:
    """Standard deviations of the normalised parameters [P] at the optimum ``theta`` [P]:
    sqrt(diag(s2 (J^T J)^-1)) over (theta, log scale, log background), s2 = sum r^2 / (N - P - 2),
    J the Jacobian of the log residuals (central differences in theta, one-sided at the box
    edges, as one batch)."""
    p = theta.shape[0]
    eye = torch.eye(p, dtype=theta.dtype)
    hi = torch.clamp(theta + step, max=1.0)
    lo = torch.clamp(theta - step, min=0.0)
    plus = theta[None] + eye * (hi - theta)[None]
    minus = theta[None] - eye * (theta - lo)[None]
    with torch.no_grad():
        batch = torch.cat([theta[None], plus, minus])
        s, b = torch.exp(log_s), torch.exp(log_b)
        sim = problem.simulate(batch)[:, problem.mask]
        model = s * sim + b
        r_all = torch.log(model + problem.c) - problem.logd
        r0 = r_all[0]
        jt = (r_all[1:p + 1] - r_all[p + 1:]) / (hi - lo)[:, None]
        j_s = s * sim[0] / (model[0] + problem.c)
        j_b = b / (model[0] + problem.c)
        jac = torch.cat([jt, j_s[None], j_b[None]]).T  # [N, P + 2]
        ok = torch.isfinite(jac).all(-1) & torch.isfinite(r0)
        jac, r0 = jac[ok], r0[ok]
        if r0.shape[0] <= p + 2:
            return np.full(p, np.nan)
        n = r0.shape[0]
        s2 = float((r0 * r0).sum()) / max(n - p - 2, 1)
        cov = s2 * torch.linalg.pinv(jac.T @ jac)
    return np.sqrt(np.clip(np.diag(cov.numpy())[:p], 0, None))
