"""Orientation fits: the xi distribution of a hexagonal-domain template by non-negative least
squares, inside a search over the nuisance parameters (a, decay, R, position variance,
wavelength, alpha_i).

With average materials the pattern is linear in the domain weights when they sum to 1, so at
fixed nuisance the pattern of a distribution w is sum_k w_k B_k + b with B_k the single-domain
pattern at xi_k. The weights (times a free scale) and a background b >= 0 solve a non-negative
least-squares problem in relative-intensity space (each pixel divided by D + c, the first-order
form of the log misfit).

The nuisance search:

1. *Scan of a / wavelength.* The rods sit at q_y ~ 1 / a and the detector angle of a rod is
   ~ q / k ~ wavelength / a, so the ratio u = a / wavelength places every rod, and the misfit is
   multimodal in it (a rod of one domain at one u lands on another domain's rod at another).
   u is scanned over its prior range in steps that move the outermost rods by half a pixel,
   the other nuisance held, with NNLS on the single-domain basis at every point.
2. *Refinement.* From the best few distinct minima of the scan, all nuisance parameters and the
   weights of the domains NNLS made active are refined together by Levenberg-Marquardt through
   the simulator (log misfit, float64 finite-difference Jacobians of the active single-domain
   patterns; the weights' columns are exact), then NNLS over all bins is solved again at the
   new nuisance, which may change the active set; rounds repeat while the misfit falls.
   (Holding the weights while moving the nuisance, and alternating, stalls: decay, position
   variance and weights all set the rods' intensities.)
3. *Uncertainty.* A Laplace approximation at the optimum over the nuisance and the active
   domains' weights together (one more Jacobian) gives the nuisance's standard deviations and
   the weights' covariance; a residual bootstrap of the NNLS (nuisance held) gives per-bin
   standard deviations over all bins. Both are summed per peak (a run of non-zero bins, its
   weight within two bins, as weight moves between neighbours a coarse detector hardly tells
   apart). Neither sees a distribution that fits equally well elsewhere (a rotated domain that
   shows no rod on the detector): compare with the misfit of alternatives.

The bundled network's distribution (``start={"probability": [...]}``) narrows the scan's basis to
the bins it finds (with their neighbours and mirror images); the final weights always use the
full basis.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import nnls
from torch import Tensor
from tqdm import tqdm

from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.fit import levenberg as lm
from deepgisas.fit.objectives import laplace_cov, soft_l1
from deepgisas.fit.peaks import peaks
from deepgisas.fit.posterior import SETTLED_TV, orientation_posterior
from deepgisas.fit.problem import (
    EDGE,
    FitConfig,
    FitResult,
    Problem,
    flag_bounds,
    is_counts,
    masked,
    starts,
)
from deepgisas.fit.tensors import FreeTensors, free_tensors, physical, with_free
from deepgisas.physics.structures.hexagonal_lattice import A as LATTICE_A
from deepgisas.sample import RandomBins
from deepgisas.templates import Template
from deepgisas.units import DEG


def basis(problem: Problem, theta: Tensor, xi_rad: Tensor) -> Tensor:
    """Single-domain patterns at the angles ``xi_rad`` [K] for each nuisance row theta [B, P]
    (or [P]): [B, K, N] (or [K, N]) over the unmasked pixels, differentiable in theta."""
    single = theta.dim() == 1
    th = theta[None] if single else theta
    b, k = th.shape[0], xi_rad.shape[0]
    p = with_free(problem.free, th.repeat_interleave(k, 0).to(problem.dtype))
    p["xi"] = xi_rad.to(problem.dtype).repeat(b)[:, None]
    p["coverage"] = torch.ones((b * k, 1), dtype=problem.dtype)
    out = problem.pick(problem.simulate_tensors(p)).reshape(b, k, -1)
    return out[0] if single else out


def solve_weights(a: np.ndarray, data: np.ndarray, c: float, iterations: int = 3
                  ) -> tuple[np.ndarray, float]:
    """NNLS of ``data`` [N] on columns ``a`` [N, K] plus a constant background in relative
    intensity: each pixel weighted by 1 / (model + c), the first-order form of the log misfit,
    by iterative reweighting from 1 / (data + c) (weighting by the noisy data alone lets the
    empty pixels of low-count data pull the model down). Returns the coefficients [K] and the
    background."""
    design0 = np.concatenate([a, np.ones((a.shape[0], 1))], 1)
    fitted = np.clip(data, 0, None)
    for _ in range(max(iterations, 1)):
        w = 1.0 / (fitted + c)
        design = design0 * w[:, None]
        norms = np.linalg.norm(design, axis=0)
        norms[norms == 0] = 1.0
        x, _ = nnls(design / norms, data * w, maxiter=50 * design.shape[1])
        x = x / norms
        fitted = np.clip(design0 @ x, 0, None)
    return x[:-1], float(x[-1])


def _misfit(model: np.ndarray, logd: np.ndarray, c: float) -> float:
    r = np.log(np.clip(model, 0, None) + c) - logd
    return float(soft_l1(torch.from_numpy(r))[0].mean())


@dataclass
class _Solution:
    """Nuisance theta [P], coefficients over the bins (weights times the scale) and background,
    the model [N] and its log misfit; ``basis``: the float64 single-domain patterns of all bins
    at theta [N, bins], when they were simulated for it."""

    theta: Tensor
    coef: np.ndarray
    background: float
    model: np.ndarray
    misfit: float
    basis: np.ndarray | None = None


class _Mixture:
    """The pattern of a few domains as a function of the nuisance theta [P] and, for
    Levenberg-Marquardt, the domains' relative weights v [K] in the unit box: the parameters
    are (theta, v) [B, P + K] and simulate -> sum_k v_k B_k(theta) / sum_k v_k [B, N]. The
    weights' Jacobian columns are exact (no simulations), the nuisance ones differences of the
    K single-domain patterns."""

    def __init__(self, problem: Problem, xi_rad: Tensor, n_nuisance: int) -> None:
        self.problem, self.xi, self.p = problem, xi_rad, n_nuisance
        self.logd, self.c = problem.logd.double(), problem.c

    def _mix(self, patterns: Tensor, v: Tensor) -> Tensor:
        return torch.einsum("...k,...kn->...n", v, patterns) / v.sum(-1, keepdim=True)

    def simulate(self, theta: Tensor) -> Tensor:
        nuis, v = theta[:, :self.p], theta[:, self.p:].to(self.problem.dtype)
        return self._mix(basis(self.problem, nuis, self.xi), v)

    def sim_jacobian(self, theta: Tensor, sim: Tensor, h: float) -> Tensor:
        """d sim / d (theta, v) [B, P + K, N]."""
        b, p = theta.shape[0], self.p
        nuis, v = theta[:, :p], theta[:, p:].double()
        step = torch.where(nuis + h <= 1.0, torch.full_like(nuis, h), torch.full_like(nuis, -h))
        rows = torch.cat([nuis[:, None], nuis[:, None] + torch.diag_embed(step)], 1)
        with torch.no_grad():
            pats = basis(self.problem, rows.reshape(b * (p + 1), p), self.xi).double()
        pats = pats.reshape(b, p + 1, self.xi.shape[0], -1)  # [B, 1 + P, K, N]
        base = sim.to(pats.dtype)  # = self._mix(pats[:, 0], v)
        d_nuis = (self._mix(pats[:, 1:], v[:, None]) - base[:, None]) / step[..., None]
        d_v = (pats[:, 0] - base[:, None]) / v.sum(-1)[:, None, None]
        return torch.cat([d_nuis, d_v], 1)


class _Search:
    """The data on one grid (a float32 problem for bases, a float64 one for refinement) and
    the xi bins."""

    def __init__(self, free: FreeTensors, data: np.ndarray, c: float, bins: int) -> None:
        self.fast = Problem(free, data, c, 1, torch.float32)
        self.exact = Problem(free, data, c, 1, torch.float64)
        self.data = (torch.exp(self.exact.logd) - c).numpy()
        self.logd_t = self.exact.logd.double()
        self.logd = self.logd_t.numpy()
        self.c, self.bins = c, bins
        self.xi = torch.arange(bins, dtype=torch.float64) * (60.0 / bins) * DEG

    def solve(self, theta: Tensor, bins: np.ndarray | None = None, exact: bool = False
              ) -> _Solution:
        """NNLS over ``bins`` (indices; all by default) at nuisance theta [P]."""
        idx = np.arange(self.bins) if bins is None else bins
        with torch.no_grad():
            a = basis(self.exact if exact else self.fast, theta, self.xi[idx]).double().numpy().T
        x, b = solve_weights(a, self.data, self.c)
        model = a @ x + b
        coef = np.zeros(self.bins)
        coef[idx] = x
        return _Solution(theta.double(), coef, b, model, _misfit(model, self.logd, self.c),
                         a if exact and bins is None else None)

    def full_basis(self, sol: _Solution) -> np.ndarray:
        """The float64 single-domain patterns of all bins at sol's nuisance, [N, bins] (kept
        in ``sol.basis``: simulated at most once)."""
        if sol.basis is None:
            with torch.no_grad():
                sol.basis = basis(self.exact, sol.theta, self.xi).double().numpy().T
        return sol.basis


def _scan_points(free: FreeTensors, theta: Tensor, cols: int, step: float) -> list[Tensor]:
    """Nuisance rows along the scan of u = a / wavelength (a alone if the wavelength is fixed,
    the wavelength alone if a is); each keeps the wavelength nearest ``theta``'s."""
    keys = [q.key for q in free.params]
    ia = keys.index(LATTICE_A) if LATTICE_A in keys else None
    il = keys.index("wavelength") if "wavelength" in keys else None
    if ia is None and il is None:
        return [theta]
    base = free.base
    qa = free.params[ia] if ia is not None else None
    ql = free.params[il] if il is not None else None
    lam_now = float(ql.to_physical(theta[il])) if ql is not None and il is not None else float(
        base["wavelength"][0])
    a_lo, a_hi = (qa.prior.lo, qa.prior.hi) if qa is not None else (
        float(base[LATTICE_A][0]),) * 2
    l_lo, l_hi = (ql.prior.lo, ql.prior.hi) if ql is not None else (lam_now, lam_now)
    u_lo, u_hi = a_lo / l_hi, a_hi / l_lo
    n = max(2, int(math.ceil(math.log(u_hi / u_lo) / (step / cols))) + 1)
    out = []
    for u in np.exp(np.linspace(math.log(u_lo), math.log(u_hi), n)):
        lam = float(np.clip(lam_now, max(l_lo, a_lo / u), min(l_hi, a_hi / u)))
        row = theta.clone()
        if ia is not None and qa is not None:
            row[ia] = float(qa.prior.to_unit(float(np.clip(u * lam, a_lo, a_hi))))
        if il is not None and ql is not None:
            row[il] = float(ql.prior.to_unit(lam))
        out.append(row.clamp(EDGE, 1 - EDGE))
    return out


def _network_bins(probability: Sequence[float], bins: int, spread: int = 2,
                  level: float = 0.05) -> np.ndarray:
    """Bins where a network's distribution reaches ``level`` of its peak, with ``spread``
    neighbours each side and their mirror images (xi -> 60 - xi, nearly the same pattern)."""
    p = np.asarray(probability, dtype=np.float64)
    if p.shape != (bins,) or not np.isfinite(p).all() or p.max() <= 0:
        return np.arange(bins)
    keep = p >= level * p.max()
    out = np.zeros(bins, bool)
    for shift in range(-spread, spread + 1):
        out |= np.roll(keep, shift)
    out |= out[(-np.arange(bins)) % bins]
    return np.flatnonzero(out)


def _refine(search: _Search, sol: _Solution, cfg: FitConfig, rounds: int) -> _Solution:
    """Levenberg-Marquardt on the nuisance and the weights of the active domains together, then
    NNLS over all bins at the new nuisance (which may change the active set), while the log
    misfit falls; returns the best solution."""
    p = sol.theta.shape[0]
    for _ in range(rounds):
        active = np.flatnonzero(sol.coef > 0)
        scale = float(sol.coef.sum())
        if scale <= 0 or p == 0:
            break
        v = torch.from_numpy(sol.coef[active] / sol.coef[active].max()).clamp(EDGE, 1 - EDGE)
        mix = _Mixture(search.exact, search.xi[active], p)
        x = torch.cat([torch.logit(torch.cat([sol.theta.clamp(EDGE, 1 - EDGE), v])),
                       torch.tensor([math.log(scale), math.log(max(sol.background,
                                                                   search.c * 1e-6))],
                                    dtype=torch.float64)])[None]
        out = lm.levenberg_marquardt(mix, x, cfg.max_iter, cfg.tol, cfg.fd_step)
        st = out.state
        theta_v = st.theta[0]
        coef = np.zeros(search.bins)
        w = theta_v[p:].numpy()
        coef[active] = w / w.sum() * math.exp(float(st.x[0, -2]))
        joint = _Solution(theta_v[:p], coef, math.exp(float(st.x[0, -1])),
                          (torch.exp(st.x[0, -2]) * st.sim[0] + torch.exp(st.x[0, -1])).numpy(),
                          float(out.misfit[0]))
        new = search.solve(joint.theta, exact=True)
        best = min((joint, new), key=lambda s: s.misfit)
        if best.misfit >= sol.misfit * (1 - 1e-6):
            break
        sol = best
    return sol


def _laplace(search: _Search, sol: _Solution, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Laplace at the optimum over the nuisance and the active domains' weights together:
    standard deviations of the nuisance [P] (normalised) and the covariance of the
    distribution [bins, bins] (zero off the active set), scale and background marginalised."""
    p, bins = sol.theta.shape[0], search.bins
    active = np.flatnonzero(sol.coef > 0)
    cov_w = np.zeros((bins, bins))
    if active.size == 0:
        return np.full(p, np.nan), cov_w
    v = torch.from_numpy(sol.coef[active] / sol.coef[active].max())
    mix = _Mixture(search.exact, search.xi[active], p)
    point = torch.cat([sol.theta.double(), v])[None]
    log_s = torch.tensor([math.log(sol.coef.sum())], dtype=torch.float64)
    log_b = torch.tensor([math.log(max(sol.background, search.c * 1e-6))],
                         dtype=torch.float64)
    sim = (lm.simulate(mix, point) if sol.basis is None else
           torch.from_numpy(sol.basis[:, active] @ (v.numpy() / v.numpy().sum()))[None])
    jac = lm.residual_jacobian(mix, point, sim, log_s, log_b, h)[0]
    model = torch.exp(log_s) * sim[0] + torch.exp(log_b)
    cov = laplace_cov(jac, torch.log(model + search.c) - search.logd_t)
    if cov is None:
        return np.full(p, np.nan), cov_w
    c = cov.numpy()
    w = v.numpy() / v.numpy().sum()
    g = (np.eye(active.size) - w[:, None]) / v.numpy().sum()  # d w_i / d v_j
    cov_w[np.ix_(active, active)] = g @ c[p:p + active.size, p:p + active.size] @ g.T
    return np.sqrt(np.clip(np.diag(c)[:p], 0, None)), cov_w


def _bootstrap(search: _Search, sol: _Solution, n: int, seed: int) -> np.ndarray:
    """Normalised weights of NNLS refits (nuisance held) to the fitted model plus resampled
    weighted residuals, [n, bins] (fewer rows if some refits vanish)."""
    if n <= 1 or sol.coef.sum() <= 0:
        return np.zeros((0, search.bins))
    a = search.full_basis(sol)
    w = 1.0 / (np.clip(sol.model, 0, None) + search.c)
    resid = (search.data - sol.model) * w
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        fake = sol.model + rng.choice(resid, resid.shape[0]) / w
        x, _ = solve_weights(a, fake, search.c)
        if x.sum() > 0:
            draws.append(x / x.sum())
    return np.array(draws).reshape(-1, search.bins)


def fit_orientation(template: Template, image: np.ndarray, mask: np.ndarray | None = None,
                    start: Mapping[str, Any] | Sequence[Mapping[str, float]] | None = None,
                    fixed: Mapping[str, float] | None = None, config: FitConfig | None = None,
                    n_polish: int = 3, rounds: int = 4, scan_step: float = 1.0,
                    scan_every: int = 2, bootstrap: int = 40) -> FitResult:
    """Fit the xi distribution of an orientation template (and its nuisance parameters).

    image [rows, cols] on the template's grid, NaN / ``mask`` False = not measured. ``fixed``
    (path or short name -> value) holds nuisance parameters; when all are fixed only the NNLS
    solve runs. ``start``: nuisance values (one dict or a list; the first is the scan's base
    point, else the prior centre), or an orientation network's result (``probability`` over
    the bins) to narrow the scan's basis (else it uses every ``scan_every``-th bin). The scan
    steps ``scan_step`` / cols in log(a / wavelength); the best ``n_polish`` distinct minima are
    refined for up to ``rounds`` rounds. The result's ``extra`` holds ``xi_deg``,
    ``probability`` [bins] (summing to 1) and ``probability_std`` (bootstrap, ``bootstrap``
    refits); parameters are the nuisance values with Laplace standard deviations.
    """
    cfg = config or FitConfig()
    t0 = time.perf_counter()
    labels = LabelSpace.of(template)
    if labels.orientation is None:
        raise UserError("the template has no orientation prior (random_bins)")
    bins = labels.bins
    data = masked(template, image, mask)
    free = free_tensors(template, dict(fixed or {}))
    positive = data[np.isfinite(data) & (data > 0)]
    if positive.size < bins + 1:
        raise UserError("the image has too few positive unmasked pixels to fit")
    c = cfg.floor * float(np.percentile(positive, 99))
    search = _Search(free, data, c, bins)
    network = start if isinstance(start, Mapping) and "probability" in start else None
    nuisance = None if network is not None else start
    theta0 = torch.from_numpy(starts(template, free, nuisance, cfg)[0]).clamp(EDGE, 1 - EDGE) \
        if free.params else torch.zeros(0, dtype=torch.float64)
    scan_bins = (_network_bins(network["probability"], bins) if network is not None
                 else np.arange(0, bins, scan_every))
    scan = [search.solve(row, scan_bins) for row in _scan_points(
        free, theta0, template.base.detector.shape[1], scan_step)] if free.params else []
    if not scan:
        sol = search.solve(theta0, exact=True)
    else:
        order = np.argsort([s.misfit for s in scan])
        picked: list[int] = []
        for i in order:
            if all(abs(int(i) - j) > 2 for j in picked):
                picked.append(int(i))
            if len(picked) == n_polish:
                break
        sol = min((_refine(search, search.solve(scan[i].theta, exact=True), cfg, rounds)
                   for i in picked), key=lambda r: r.misfit)
    scale = float(sol.coef.sum())
    if scale <= 0:
        raise UserError("no orientation distribution fits the image (all weights zero)")
    use_posterior = cfg.objective in ("auto", "poisson") and is_counts(data)
    if use_posterior:
        bootstrap = 0  # the posterior gives the weights' spread
    if bootstrap > 1 or use_posterior:
        search.full_basis(sol)  # the basis of the bootstrap / posterior, Laplace's start too
    std_theta, cov_w = _laplace(search, sol, cfg.fd_step)
    th = sol.theta.double().numpy()
    prob, xi_deg = sol.coef / scale, labels.xi_deg()
    draws = _bootstrap(search, sol, bootstrap, cfg.seed)
    fitted = np.full(data.shape, np.nan)
    fitted.flat[search.exact.pixels.numpy()] = sol.model
    extra: dict[str, Any] = {
        "xi_deg": xi_deg.tolist(), "probability": prob.tolist(),
        "probability_std": (draws.std(0) if draws.shape[0] > 1 else np.full(
            bins, np.nan)).tolist(), "peaks": peaks(prob, draws, xi_deg, cov_w)}
    if use_posterior:
        prior = template.priors[labels.orientation]
        assert isinstance(prior, RandomBins)
        counts = data.reshape(-1)[search.exact.pixels.numpy()]
        with tqdm(total=round(cfg.posterior_seconds, 1), unit="s", desc="posterior",
                  disable=not cfg.progress, leave=False,
                  bar_format="{desc}: {bar} {n:.0f}/{total:.0f} s") as bar:
            post = orientation_posterior(
                search.full_basis(sol), counts, scale, sol.background, prior,
                start=[prob] + ([np.asarray(network["probability"], dtype=np.float64)]
                                if network is not None else []),
                seed=cfg.seed, seconds=cfg.posterior_seconds, extend=cfg.posterior_extend,
                progress=lambda done, _: bar.update(min(done, bar.total) - bar.n))
        extra.update(
            probability=post.mean.tolist(), probability_low=post.low.tolist(),
            probability_high=post.high.tolist(), probability_ml=prob.tolist(),
            probability_std=post.samples.std(0).tolist(),
            peaks=peaks(post.mean, post.samples, xi_deg),
            posterior={"method": "reversible-jump MCMC on the Poisson likelihood, nuisance at "
                       "the fit", "k_probability": dict(zip(
                           [str(k) for k in range(prior.nonzero[0], prior.nonzero[1] + 1)],
                           post.k_probability.tolist(), strict=True)),
                       "sweeps": post.sweeps, "seconds": post.seconds,
                       "acceptance": post.acceptance,
                       "split_tv": None if np.isnan(post.split_tv) else post.split_tv,
                       "settled": None if np.isnan(post.split_tv)
                       else bool(post.split_tv <= SETTLED_TV)})
    return flag_bounds(FitResult(
        parameters=physical(free, th),
        std={q.name: abs(q.slope(float(th[i]))) * float(std_theta[i])
             for i, q in enumerate(free.params)},
        misfit=sol.misfit, seconds=time.perf_counter() - t0, fitted=fitted, scale=scale,
        background=sol.background, method="nnls", theta=th,
        start_misfits=[s.misfit for s in scan], extra=extra), free, template)
