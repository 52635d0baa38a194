"""The film search: a template's free parameters fitted through the differentiable simulator.

The objective (:func:`deepgisas.fit.objectives.terms`, chosen by
:func:`deepgisas.fit.problem.choose_objective`) compares s I(theta) + b with the data D over
the unmasked pixels: the Poisson deviance for counts, chi-square, or a soft-L1 of log
residuals; the scale s and background b are fitted in log, theta in the unit box of the
priors (sigmoid-bounded).

The search runs on a pyramid of pixel subsets: every f-th pixel of every f-th row (f = 4, 2, 1
for a 128-pixel detector), each an exact subset of the full detector, so the coarse misfits
have the same optimum as the full one, only noisier. The starts (a network's mean and draws,
prior points) are screened at the coarsest level with their best scale and background, the
best few are raced by Levenberg-Marquardt there (:mod:`deepgisas.fit.levenberg`), the best
``carry`` distinct candidates go on to the next coarse level, and the full detector polishes
the best of the last one; each run stops once its steps fall below a fraction of the standard
deviations. Then each parameter is profiled across its prior on the full detector, the others
held, and for a likelihood the structure's spacing again with the others fitted too
(``valleys.parameter_profiles``): the other valleys found are polished there, the deepest
is kept, and those within a few deviance units of it are modes of the answer, whose Laplace
mixture gives the error bars. Standard deviations come from the Fisher information
of the likelihood at the optimum (for the log misfit, Gauss-Newton: residual variance x
(J^T J)^-1), with scale and background marginalised, and widened by the overdispersion when
the model does not describe the counts (:func:`goodness`). For the likelihood objectives the
answer also gets 68 and 95 % profile-likelihood intervals (``extra["intervals"]``,
:mod:`deepgisas.fit.intervals`). The coarse levels simulate in float32, the full detector in
float64.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepgisas.errors import UserError
from deepgisas.fit import levenberg as lm
from deepgisas.fit.intervals import profile_intervals
from deepgisas.fit.objectives import fisher_cov, terms
from deepgisas.fit.problem import (
    EDGE,
    FitConfig,
    FitResult,
    Problem,
    Start,
    choose_objective,
    flag_bounds,
    is_counts,
    masked,
    network_starts,
    pixel_strides,
    starts,
)
from deepgisas.fit.tensors import FreeTensors, free_tensors, physical
from deepgisas.fit.valleys import (
    distinct_candidates,
    mode_mixture,
    other_orders,
    parameter_profiles,
)
from deepgisas.templates import Template


def fit_parameters(template: Template, image: np.ndarray, mask: np.ndarray | None = None,
                   start: Start | Sequence[Start] | None = None,
                   fixed: Mapping[str, float] | None = None,
                   config: FitConfig | None = None) -> FitResult:
    """Fit the free parameters of a template without an orientation distribution to
    ``image`` (arguments as for :func:`deepgisas.fit.image.fit_image`): the search from the
    given starts, from the prior too (``explore``), and again, wider, when the answer's
    deviance is beyond what the counts allow."""
    cfg = config or FitConfig()
    t0 = time.perf_counter()
    if isinstance(start, Mapping) and isinstance(start.get("parameters"), Mapping):
        start = network_starts(dict(start), template, cfg)
    data = masked(template, image, mask)
    free = free_tensors(template, dict(fixed or {}))
    if not free.params:
        raise UserError("the template has no free parameters to fit")
    search = _fit(template, data, free, start, cfg, t0)
    result = search.result
    if start is not None and cfg.explore:
        # given starts (a network's) can sit in the wrong valley of a multimodal misfit:
        # search from the prior too and keep the lower misfit
        prior = _fit(template, data, free, None, cfg, t0)
        kept = prior if prior.result.misfit < result.misfit else search
        kept.result.extra["explored"] = {
            "given_misfit": result.misfit, "prior_misfit": prior.result.misfit,
            "kept": "prior" if kept is prior else "given"}
        kept.result.extra["simulations"] = (result.extra["simulations"]
                                            + prior.result.extra["simulations"])
        search, result = kept, kept.result
    final = _profiled(template, free, data, search, cfg, t0)
    result = final.result
    gof = result.extra.get("goodness_of_fit")
    if gof is not None and not gof["described"]:
        # a valley much worse than the counts allow: search again from the prior, wider
        again = _fit(template, data, free, None, dataclasses.replace(
            cfg, n_polish=2 * cfg.n_polish, seed=cfg.seed + 1), t0)
        second = _profiled(template, free, data, again, cfg, t0)
        retry = second.result
        result.extra["retried"] = {"per_dof": retry.extra["goodness_of_fit"]["per_dof"],
                                   "kept": "retry" if retry.misfit < result.misfit
                                   else "first"}
        if retry.misfit < result.misfit:
            retry.extra["retried"] = dict(result.extra["retried"],
                                          first_per_dof=gof["per_dof"])
            retry.extra["simulations"] += result.extra["simulations"]
            final, result = second, retry
    if cfg.intervals and final.fine.objective != "log":
        gof = result.extra.get("goodness_of_fit") or {}
        found, simulations = profile_intervals(
            free, final.fine, final.out, final.best, cfg, gof.get("widen", 1.0),
            skip=list(result.extra.get("at_bound", {})), modes=result.extra.get("modes", ()),
            upper=result.extra.get("profile", {}).get("upper"))
        result.extra["intervals"] = found
        result.extra["simulations"] += simulations
        result.seconds = time.perf_counter() - t0
    return result


@dataclasses.dataclass
class _Search:
    """One search's answer and what its parameter profiles need: the full detector's problem
    ``fine`` and run ``out``, the row ``best`` kept, and the data's ``variance`` (gaussian)."""

    result: FitResult
    fine: Problem
    out: lm.Outcome
    best: int
    variance: np.ndarray | None


def _fit(template: Template, data: np.ndarray, free: FreeTensors,
         start: Start | Sequence[Start] | None, cfg: FitConfig, t0: float) -> _Search:
    """One search of :func:`fit_image` (data masked, free parameters compiled)."""
    positive = data[np.isfinite(data) & (data > 0)]
    if positive.size < len(free.params) + 2:
        raise UserError("the image has too few positive unmasked pixels to fit")
    c = cfg.floor * float(np.percentile(positive, 99))
    strides = pixel_strides(template, cfg.coarse_side)
    objective, why = choose_objective(data, cfg.objective)
    variance = None
    if objective == "gaussian":
        variance = (np.full(data.shape, cfg.variance) if cfg.variance is not None else
                    np.maximum(data, 1.0) if is_counts(data) else np.ones(data.shape))
    levels = [Problem(free, data, c, f, torch.float64 if f == 1 or cfg.float64 else
                       torch.float32, objective, variance) for f in strides]
    # screen every start at the coarsest level with its best scale and background, race the
    # best few by Levenberg-Marquardt there, carry the winner up the levels
    candidates = torch.from_numpy(np.clip(starts(template, free, start, cfg), EDGE, 1 - EDGE))
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
    orders: dict[str, Any] = {}
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
             out.state.x[distinct_candidates(out.state.theta, out.misfit, cfg.carry)])
        simulations += out.simulations
        if k == len(levels) - 2:
            x, orders = other_orders(template, free, level, levels[-1], x,
                                     float(out.misfit[best]), cfg)
            simulations += orders.pop("simulations", 0)
        levels_log.append({"pixels": len(level.logd), "iterations": out.iterations,
                           "simulations": out.simulations, "misfit": float(out.misfit[best]),
                           "seconds": time.perf_counter() - t0})
    extra: dict[str, Any] = {"objective": objective, "objective_reason": why,
                             **({"orders": orders} if orders else {})}
    result = _finish(template, free, data, levels[-1], out, best, cfg, simulations,
                     levels_log, [float(v) / len(levels[0].logd) for v in screened], extra, t0)
    return _Search(result, levels[-1], out, best, variance)


def _profiled(template: Template, free: FreeTensors, data: np.ndarray, search: _Search,
              cfg: FitConfig, t0: float) -> _Search:
    """A search after its parameter profiles (``valleys.parameter_profiles``): its answer
    with ``extra["profile"]``, made afresh when a deeper valley was found or other valleys
    are modes of the answer, and the run and row that hold it."""
    out, best, record, others = parameter_profiles(
        template, free, data, search.fine.c, search.fine, search.out, search.best, cfg,
        search.fine.objective, search.variance)
    result = search.result
    if not record:
        return search
    extra = dict(result.extra)
    extra["simulations"] += record.pop("simulations")
    extra["profile"] = record
    if record["kept"] == "search" and not others:
        result.extra = extra
        return search
    # what _finish and flag_bounds make afresh for the new answer
    fresh = ("simulations", "levels", "goodness_of_fit", "at_bound", "outside_constraints",
             "overfilled")
    along = dict(enumerate(record.get("along", []), start=1))
    return _Search(_finish(template, free, data, search.fine, out, best, cfg,
                           extra["simulations"], extra["levels"], result.start_misfits,
                           {k: v for k, v in extra.items() if k not in fresh}, t0, others,
                           along), search.fine, out, best, search.variance)


def _finish(template: Template, free: FreeTensors, data: np.ndarray, fine: Problem,
            out: lm.Outcome, best: int, cfg: FitConfig, simulations: int,
            levels_log: list[dict[str, float]], start_misfits: list[float],
            extra: dict[str, Any], t0: float, others: Sequence[int] = (),
            along: Mapping[int, str] | None = None) -> FitResult:
    """The FitResult of row ``best`` of the full detector's run ``out``: physical values,
    Fisher standard deviations (widened by the overdispersion), goodness of fit, the
    fitted image.

    ``others``: rows of ``out`` that are other modes (valleys) of a likelihood. Each mode m
    is a Laplace approximation, weighed by exp(-D_m / 2) sqrt(det Sigma_m) (deviance D_m,
    covariance Sigma_m over the unit box of the priors, scale and background, where the
    prior is flat); the answer stays at the best mode, and its variances are the mixture's
    second moments about it, sum_m w_m (Sigma_m + (theta_m - theta_best)^2). The modes, with
    their values, deviances and weights, and the parameter whose profile found each
    (``along``, the rows' names; none for the search's own), go to ``extra["modes"]``."""
    theta = out.state.theta[best]
    cov = fisher_cov(fine, out.jac[best], out.state.model[best])
    std_theta = (np.full(len(free.params), np.nan) if cov is None else
                 np.sqrt(np.clip(np.diag(cov.numpy())[:len(free.params)], 0, None)))
    if cov is not None and others:
        std_theta, extra["modes"] = mode_mixture(free, out, best, cov, fine, others, along)
    fit_quality = goodness(fine, out.state.model[best], len(free.params) + 2, cfg,
                           estimated=fine.objective == "gaussian" and cfg.variance is None
                           and not is_counts(data))
    if fit_quality is not None and fit_quality["widen"] > 1.0:
        std_theta = std_theta * np.sqrt(fit_quality["widen"])
    log_s_fit, log_b_fit = float(out.state.x[best, -2]), float(out.state.x[best, -1])
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
        start_misfits=start_misfits,
        extra={"simulations": simulations, "levels": levels_log, **extra,
               **({"goodness_of_fit": fit_quality} if fit_quality is not None else {})}),
        free, template)


GOF_DRAWS = 16  # Poisson draws of the fitted model for the deviance's expected range


def goodness(problem: Problem, model: Tensor, n_fitted: int, cfg: FitConfig,
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
    deviance = float(terms(problem, m)[0].sum())
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


