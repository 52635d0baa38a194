"""Physics refinement of a template's free parameters through the differentiable simulator.

The misfit of a simulated pattern I(theta) against data D over the unmasked pixels is a
soft-L1 (smooth Huber) mean of the log residuals

    r = log(s I + b + c) - log(D + c),   misfit = mean(2 delta^2 (sqrt(1 + (r/delta)^2) - 1))

with a free scale s and background b (both fitted in log), c a floor (a small fraction of the
bright end of the data) and theta the free parameters in the unit box of their priors
(sigmoid-bounded).

The search runs on a pyramid of pixel subsets: every f-th pixel of every f-th row (f = 4, 2, 1
for a 128-pixel detector), each an exact subset of the full detector, so the coarse misfits
have the same optimum as the full one, only noisier. The starts (a network's mean and draws,
prior points) are screened at the coarsest level with their best scale and background, the
best few are refined by Levenberg-Marquardt there (:mod:`deepgisas.fit.levenberg`), and the
best of those is carried up the levels, each run stopping once its steps fall below a fraction
of the standard deviations. Standard deviations come from the curvature at the optimum
(Laplace / Gauss-Newton: residual variance x (J^T J)^-1 with the last full-detector Jacobian,
scale and background marginalised). The coarse levels simulate in float32, the full detector
in float64. On the full detector the simulator computes a pattern mirror-symmetric in phi_f
(the film's) on the columns up to the centre only.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import qmc
from torch import Tensor

from deepgisas.api import detector_mask
from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.fit import levenberg as lm
from deepgisas.fit.tensors import FreeTensors, free_tensors, physical, with_free
from deepgisas.physics.simulate import Structure, simulate_tensors
from deepgisas.priors import LogUniform, Uniform, bound_flag
from deepgisas.sample import Experiment

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
    start_misfits: list[float] = field(default_factory=list)  # per start, when screened
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
    """Search settings (defaults suit 32 to 1024 pixel detectors on a CPU)."""

    n_starts: int = 256  # prior points screened without a start (centre + Sobol points)
    n_fill: int = 4  # with a start that lacks names: that many prior points fill them in
    n_polish: int = 8  # best screened prior starts raced by Levenberg-Marquardt (coarsest level)
    n_polish_given: int = 2  # the same with given starts (e.g. a network's)
    race: int = 8  # iterations between halvings of the race
    race_given: int = 2  # the same with given starts
    carry: int = 3  # distinct best candidates carried from each coarse level to the next
    # (the last coarse level hands its best to the full detector)
    seed: int = 0
    coarse_side: int = 32  # the coarsest pixel subset keeps at least this many rows/columns
    max_iter: int = 30  # Levenberg-Marquardt Jacobians per level
    tol: float = 0.1  # stop when every step is below tol standard deviations (finest level;
    coarse_tol: float = 0.5  # coarser levels stop at coarse_tol)
    floor: float = 1e-3  # c = floor x 99th percentile of the data
    fd_step: float = 1e-5  # finite-difference step of the Jacobian (float64), normalised units
    spread: int = 4  # damped steps tried at once (one batch) when a Gauss-Newton step fails,
    # on the coarse levels (one at a time on the full detector, where simulations cost most)
    reuse: float = 1.0  # keep d I / d theta (Broyden-updated) for one more step when the step
    # left is below this many standard deviations (deepgisas.fit.levenberg.levenberg_marquardt)
    float64: bool = False  # coarse levels in float64 too (else float32 with a 1e-3 step)
    explore: bool = True  # with given starts, also search from the prior; keep the best
    posterior_seconds: float = 10.0  # orientation fits on counts: the posterior's sampling
    posterior_extend: float = 15.0  # ... and up to this much more while it has not settled
    progress: bool = False  # a progress bar (on stderr) while the orientation posterior samples
    objective: str = "auto"  # poisson | gaussian | log; auto: poisson for counts, else log
    variance: float | None = None  # gaussian: the data's variance (None: max(D, 1) for
    # counts, else one common variance estimated from the residuals)

    def __post_init__(self) -> None:
        counts = ("n_starts", "n_fill", "n_polish", "n_polish_given", "race", "race_given",
                  "carry", "coarse_side", "max_iter", "spread")
        low = [k for k in counts if getattr(self, k) < 1]
        if low:
            raise UserError(f"fit settings {', '.join(low)} must be at least 1")
        positive = ("tol", "coarse_tol", "floor", "fd_step", "posterior_seconds")
        if any(not getattr(self, k) > 0 for k in positive):
            raise UserError(f"fit settings {', '.join(positive)} must be positive")
        if self.reuse < 0 or self.posterior_extend < 0:
            raise UserError("fit settings reuse and posterior_extend must not be negative")
        if self.objective not in ("auto", *lm.OBJECTIVES):
            raise UserError(f"unknown objective {self.objective!r} (auto, "
                            f"{', '.join(lm.OBJECTIVES)})", "--objective")
        if self.variance is not None and not self.variance > 0:
            raise UserError(f"the variance must be positive, got {self.variance}",
                            "--variance")


def _strides(template: Experiment, side: int) -> list[int]:
    """Pixel-subset strides from coarse to fine: powers of 2 keeping >= side rows and columns."""
    rows, cols = template.detector.shape
    out = [1]
    while min(rows, cols) // (2 * out[0]) >= side:
        out.insert(0, 2 * out[0])
    return out


def _subset_geometry(st: Structure, base: dict[str, Tensor], stride: int
                     ) -> tuple[tuple[int, int], dict[str, Tensor]]:
    """The detector of pixels (stride m + o) in both axes, o = stride // 2: its shape and
    geometry tensors. Its pixels are exactly those of the full detector (same directions);
    their weights (solid angles) are a constant multiple, which the free scale absorbs."""
    rows, cols = st.shape
    o = stride // 2
    shape = (len(range(o, rows, stride)), len(range(o, cols, stride)))
    out = dict(base)
    if st.detector == "spherical":
        for key, n, m in (("phi_edges", cols, shape[1]), ("alpha_edges", rows, shape[0])):
            lo, hi = base[key][:, 0], base[key][:, 1]
            d = (hi - lo) / n
            lo2 = lo + (o + 0.5 - stride / 2) * d
            out[key] = torch.stack([lo2, lo2 + m * stride * d], -1)
    else:
        out["pixel_mm"] = base["pixel_mm"] * stride
        out["center_px"] = 0.5 - (o + 0.5 - base["center_px"]) / stride
    return shape, out


class _Problem:
    """Data and simulator of one fit on one grid: the full detector (f = 1) or its subset of
    every f-th pixel of every f-th row. (The simulator itself halves the work of a
    mirror-symmetric pattern on the full detector,
    :func:`deepgisas.physics.simulate.mirror_symmetric`; a subset's columns are not
    symmetric about phi_f = 0, so it simulates all of them.)

    ``pixels``: the unmasked pixels fitted, as flat indices into the full detector [N];
    ``source``: where each is in the simulated grid ``st.shape``, flat [N]."""

    def __init__(self, free: FreeTensors, data: np.ndarray, floor: float, f: int,
                 dtype: torch.dtype, objective: str = "log",
                 variance: np.ndarray | None = None) -> None:
        rows, cols = free.structure.shape
        o = f // 2
        shape, base = free.structure.shape, free.base
        if f > 1:
            shape, base = _subset_geometry(free.structure, base, f)
        self.st: Structure = dataclasses.replace(free.structure, shape=shape, roi=None,
                                                 masks=())
        self.free = _cast(FreeTensors(self.st, base, free.params), dtype)
        r, c = np.arange(o, rows, f)[:, None], np.arange(o, cols, f)[None, :]
        pixels = (r * cols + c).reshape(-1)
        d = data.reshape(-1)[pixels]
        keep = np.isfinite(d)
        self.pixels = torch.from_numpy(pixels[keep])
        self.source = torch.from_numpy(np.flatnonzero(keep))
        self.c = floor
        self.logd = torch.log(torch.from_numpy(d[keep]).clamp_min(0) + floor).to(dtype)
        self.dtype = dtype
        self.objective = objective  # deepgisas.fit.levenberg.terms
        self.data = torch.from_numpy(d[keep]).double()
        self.variance = (None if variance is None else
                         torch.from_numpy(variance.reshape(-1)[pixels][keep]).double())

    def simulate(self, theta: Tensor) -> Tensor:
        """[B, N] over the fitted pixels for normalised theta [B, P]."""
        return self.pick(simulate_tensors(self.st, with_free(self.free, theta.to(self.dtype))))

    def simulate_tensors(self, params: dict[str, Tensor]) -> Tensor:
        return simulate_tensors(self.st, params)

    def pick(self, images: Tensor) -> Tensor:
        """The fitted pixels [B, N] of simulated images [B, *st.shape]."""
        return images.reshape(images.shape[0], -1)[:, self.source]


def _cast(free: FreeTensors, dtype: torch.dtype) -> FreeTensors:
    cdt = torch.complex64 if dtype == torch.float32 else torch.complex128
    return FreeTensors(free.structure, {k: (v.to(cdt) if v.is_complex() else v.to(dtype))
                                        for k, v in free.base.items()}, free.params)


def _starts(template: Experiment, free: FreeTensors, start: Start | Sequence[Start] | None,
            cfg: FitConfig) -> np.ndarray:
    """Normalised starts [S, P]. Without ``start``: the prior centre and n_starts - 1 seeded
    prior draws. With starts (one dict or a list): each start once per fill, the names it
    lacks (e.g. nuisance a network does not predict) taken from the first n_fill of those
    prior points (the centre first); a start that lacks nothing appears once."""
    n = max(cfg.n_starts, cfg.n_fill, 1)
    sobol = qmc.Sobol(len(free.params), scramble=True, seed=cfg.seed)
    prior = np.concatenate([np.full((1, len(free.params)), 0.5),
                            sobol.random(n)[:n - 1]]) if n > 1 else np.full((1, len(
                                free.params)), 0.5)
    if start is None:
        return prior[:max(cfg.n_starts, 1)]
    given = [start] if isinstance(start, Mapping) else list(start)
    index = {**{q.name: i for i, q in enumerate(free.params)},
             **{q.path: i for i, q in enumerate(free.params)}}
    rows = []
    for s in given:
        known = {index[k]: float(free.params[index[k]].prior.to_unit(float(v)))
                 for k, v in s.items() if k in index}
        for k in range(max(cfg.n_fill, 1) if len(known) < len(free.params) else 1):
            row = prior[k].copy()
            for i, v in known.items():
                row[i] = v
            rows.append(row)
    return np.stack(rows)


def network_starts(network: dict[str, Any], template: Experiment,
                   config: FitConfig | None = None, n: int = 4) -> list[dict[str, float]]:
    """Starts from a parameter model's prediction: its mean, then its ``modes`` (a flow
    model's densest draws) if it gives them, then draws from the Gaussian (mean, std), n in
    all, clipped to the priors; the nuisance parameters it does not predict are filled in
    from prior points by :func:`fit_image`."""
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
    out += [{k: clip(k, v) for k, v in mode.items()} for mode in network.get("modes", [])]
    out = out[:max(n, 1)]
    for _ in range(n - len(out)):
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

        if config is not None and config.objective == "gaussian":
            raise UserError("orientation fits take the poisson or the log objective",
                            "--objective")
        counts = is_counts(_masked(template, image, mask))
        if config is not None and config.objective == "poisson" and not counts:
            choose_objective(image, "poisson")  # the error that says why
        result = fit_orientation(template, image, mask=mask, start=start, fixed=fixed,
                                 config=config)
        poisson = "posterior" in result.extra
        result.extra.update(
            objective="poisson" if poisson else "log",
            objective_reason=("counts: the nuisance by the log misfit, the distribution as "
                              "the posterior of the Poisson likelihood" if poisson else
                              "the log misfit and the bootstrap (not counts, or asked for)"))
        return result
    cfg = config or FitConfig()
    t0 = time.perf_counter()
    if isinstance(start, Mapping) and isinstance(start.get("parameters"), Mapping):
        start = network_starts(dict(start), template, cfg)
    data = _masked(template, image, mask)
    free = free_tensors(template, dict(fixed or {}))
    if not free.params:
        raise UserError("the template has no free parameters to fit")
    result = _fit(template, data, free, start, cfg, t0)
    if start is not None and cfg.explore:
        # given starts (a network's) can sit in the wrong valley of a multimodal misfit:
        # search from the prior too and keep the lower misfit
        prior = _fit(template, data, free, None, cfg, t0)
        chosen = prior if prior.misfit < result.misfit else result
        chosen.extra["explored"] = {"given_misfit": result.misfit, "prior_misfit": prior.misfit,
                                    "kept": "prior" if chosen is prior else "given"}
        chosen.extra["simulations"] = (result.extra["simulations"]
                                       + prior.extra["simulations"])
        result = chosen
    gof = result.extra.get("goodness_of_fit")
    if gof is not None and not gof["described"]:
        # a valley much worse than the counts allow: search again from the prior, wider
        again = _fit(template, data, free, None, dataclasses.replace(
            cfg, n_polish=2 * cfg.n_polish, seed=cfg.seed + 1), t0)
        result.extra["retried"] = {"per_dof": again.extra["goodness_of_fit"]["per_dof"],
                                   "kept": "retry" if again.misfit < result.misfit
                                   else "first"}
        if again.misfit < result.misfit:
            again.extra["retried"] = dict(result.extra["retried"],
                                          first_per_dof=gof["per_dof"])
            again.extra["simulations"] += result.extra["simulations"]
            result = again
    return result


def _fit(template: Experiment, data: np.ndarray, free: FreeTensors,
         start: Start | Sequence[Start] | None, cfg: FitConfig, t0: float) -> FitResult:
    """One search of :func:`fit_image` (data masked, free parameters compiled)."""
    positive = data[np.isfinite(data) & (data > 0)]
    if positive.size < len(free.params) + 2:
        raise UserError("the image has too few positive unmasked pixels to fit")
    c = cfg.floor * float(np.percentile(positive, 99))
    strides = _strides(template, cfg.coarse_side)
    objective, why = choose_objective(data, cfg.objective)
    variance = None
    if objective == "gaussian":
        variance = (np.full(data.shape, cfg.variance) if cfg.variance is not None else
                    np.maximum(data, 1.0) if is_counts(data) else np.ones(data.shape))
    levels = [_Problem(free, data, c, f, torch.float64 if f == 1 or cfg.float64 else
                       torch.float32, objective, variance) for f in strides]
    # screen every start at the coarsest level with its best scale and background, race the
    # best few by Levenberg-Marquardt there, carry the winner up the levels
    candidates = torch.from_numpy(np.clip(_starts(template, free, start, cfg), EDGE, 1 - EDGE))
    sims = lm.simulate(levels[0], candidates)
    # to rank the starts, 1e-5 in log scale and background is plenty (loss to ~1e-10)
    log_s, log_b, screened = lm.fit_scale(levels[0], sims, tol=1e-5)
    screened = torch.nan_to_num(screened, nan=torch.inf)
    n_polish, race = (cfg.n_polish, cfg.race) if start is None else (cfg.n_polish_given,
                                                                     cfg.race_given)
    top = torch.argsort(screened)[:max(n_polish, 1)]
    x = torch.cat([torch.logit(candidates[top]), log_s[top, None], log_b[top, None]], 1)
    simulations = len(candidates)
    levels_log: list[dict[str, float]] = []
    for k, level in enumerate(levels):
        finest = k == len(levels) - 1
        out = lm.levenberg_marquardt(
            level, x, cfg.max_iter, cfg.tol if finest else cfg.coarse_tol,
            cfg.fd_step if level.dtype == torch.float64 else 1e-3, keep=1, race=race,
            rescale=k > 0, reuse=cfg.reuse, spread=1 if finest else cfg.spread,
            sim=sims[top] if k == 0 else None)
        best = int(torch.argmin(out.misfit))
        # the best few distinct candidates go on to the next coarse level; the full
        # detector, where simulations cost most, polishes the best one
        x = (out.state.x[best:best + 1] if k >= len(levels) - 2 else
             out.state.x[_distinct(out.state.theta, out.misfit, cfg.carry)])
        simulations += out.simulations
        levels_log.append({"pixels": len(level.logd), "iterations": out.iterations,
                           "simulations": out.simulations, "misfit": float(out.misfit[best]),
                           "seconds": time.perf_counter() - t0})
    fine, theta = levels[-1], out.state.theta[best]
    cov = lm.fisher_cov(fine, out.jac[best], out.state.model[best])
    std_theta = (np.full(len(free.params), np.nan) if cov is None else
                 np.sqrt(np.clip(np.diag(cov.numpy())[:len(free.params)], 0, None)))
    fit_quality = goodness(fine, out.state.model[best], len(free.params) + 2, cfg,
                           estimated=objective == "gaussian" and cfg.variance is None
                           and not is_counts(data))
    if fit_quality is not None and fit_quality["widen"] > 1.0:
        std_theta = std_theta * np.sqrt(fit_quality["widen"])
    log_s_fit, log_b_fit = float(x[0, -2]), float(x[0, -1])
    fitted = np.full(data.shape, np.nan)
    fitted.flat[fine.pixels.numpy()] = (np.exp(log_s_fit) * out.state.sim[best]
                                        + np.exp(log_b_fit)).numpy()
    th = theta.numpy()
    return flag_bounds(FitResult(
        parameters=physical(free, th),
        std={q.name: abs(q.slope(float(th[i]))) * float(std_theta[i])
             for i, q in enumerate(free.params)},
        misfit=float(out.misfit[best]), seconds=time.perf_counter() - t0, fitted=fitted,
        scale=float(np.exp(log_s_fit)), background=float(np.exp(log_b_fit)), theta=th,
        start_misfits=[float(v) / len(levels[0].logd) for v in screened],
        extra={"simulations": simulations, "levels": levels_log, "objective": objective,
               "objective_reason": why,
               **({"goodness_of_fit": fit_quality} if fit_quality is not None else {})}),
        free)


CARRY_APART = 0.02  # candidates carried up the levels differ by this much (unit box)


def _distinct(theta: Tensor, misfit: Tensor, n: int) -> Tensor:
    """Rows of the ``n`` lowest finite misfits whose normalised parameters theta [K, P] differ
    from every better row's by more than ``CARRY_APART`` in some parameter (the best first)."""
    rows: list[int] = []
    for j in torch.argsort(torch.nan_to_num(misfit, nan=torch.inf)).tolist():
        if len(rows) == n:
            break
        if rows and not torch.isfinite(misfit[j]):
            break
        if all(float((theta[j] - theta[i]).abs().max()) > CARRY_APART for i in rows):
            rows.append(j)
    return torch.tensor(rows, dtype=torch.long)


def is_counts(data: np.ndarray) -> bool:
    """True when the finite values of ``data`` are non-negative integers (detector counts)."""
    d = data[np.isfinite(data)]
    return bool(d.size) and bool((d >= 0).all()) and bool(np.all(d == np.round(d)))


def choose_objective(data: np.ndarray, asked: str) -> tuple[str, str]:
    """The objective for ``data`` and why: "auto" is "poisson" for counts and "log" otherwise
    (scaled, resampled or background-subtracted data); "poisson" on data that are not counts
    is a UserError."""
    counts = is_counts(data)
    if asked == "auto":
        return (("poisson", "the image holds counts (non-negative integers)") if counts else
                ("log", "the image does not hold counts (scaled, resampled or "
                        "background-subtracted): the robust log misfit"))
    if asked == "poisson" and not counts:
        d = data[np.isfinite(data)]
        what = ("negative values" if (d < 0).any() else "values that are not integers")
        raise UserError(f"the Poisson objective needs counts, and the image has {what} "
                        "(resampled through an instrument, scaled or background-subtracted?):"
                        " use --objective gaussian or log")
    return asked, "asked for"


GOF_DRAWS = 16  # Poisson draws of the fitted model for the deviance's expected range


def goodness(problem: _Problem, model: Tensor, n_fitted: int, cfg: FitConfig,
             estimated: bool = False) -> dict[str, Any] | None:
    """The goodness of fit of a likelihood objective at the optimum (None for "log"):
    ``deviance`` (the loss, -2 log L up to a constant), the ``expected`` deviance of data
    drawn from the fitted model less the ``n_fitted`` parameters (Poisson: from
    ``GOF_DRAWS`` seeded draws, exact at any count level; chi^2: N - n_fitted) with its
    ``expected_std``, ``per_dof`` = deviance / expected, ``described``: whether the deviance
    lies within 3 expected_std of the expectation, and ``widen``: the factor the covariance
    is multiplied by, the overdispersion deviance / expected when the model does not
    describe the data (or when the variance is ``estimated``), else 1."""
    if problem.objective == "log":
        return None
    m = model.double()
    deviance = float(lm.terms(problem, m)[0].sum())
    n = int(m.numel())
    if problem.objective == "poisson":
        gen = torch.Generator().manual_seed(cfg.seed)
        draws = torch.poisson(m.expand(GOF_DRAWS, n).clamp_max(1e12), generator=gen)
        mm = m.clamp_min(1e-300)
        dev = 2.0 * (mm - draws + torch.xlogy(draws, draws) - torch.xlogy(draws, mm))
        totals = dev.sum(-1)
        expected = float(totals.mean()) - n_fitted
        spread = float(totals.std()) if GOF_DRAWS > 1 else math.sqrt(2.0 * n)
    else:
        expected, spread = float(n - n_fitted), math.sqrt(2.0 * max(n - n_fitted, 1))
    expected = max(expected, 1.0)
    ratio = deviance / expected
    described = deviance <= expected + 3.0 * spread
    return {"objective": problem.objective, "deviance": deviance, "expected": expected,
            "expected_std": spread, "per_dof": ratio, "described": bool(described),
            "widen": ratio if (estimated or not described) else 1.0}


AT_BOUND = 0.01  # a fitted value this close to a prior's bound (fraction of its width) is flagged


def flag_bounds(result: FitResult, free: FreeTensors) -> FitResult:
    """Mark every parameter within ``AT_BOUND`` of its prior's bound in
    ``result.extra["at_bound"]`` (:func:`deepgisas.priors.bound_flag`) and set its std to NaN
    (null in the JSON): the optimum sits on the edge of the box, where the curvature does not
    give an error; the value is a limit, not a measurement."""
    at = {}
    for q in free.params:
        flag = bound_flag(q.prior, result.parameters[q.name], AT_BOUND)
        if flag is not None:
            at[q.name] = flag
            result.std[q.name] = float("nan")
    if at:
        result.extra["at_bound"] = at
    return result


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
