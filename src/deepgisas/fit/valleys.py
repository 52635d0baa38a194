"""The valleys of a film fit's misfit besides the one its search ended in: the structure's
spacing at other orders (:func:`other_orders`), the parameter profiles that find other
valleys and polish them (:func:`parameter_profiles`), and the Laplace mixture over the modes
the counts allow (:func:`mode_mixture`). Used by :mod:`deepgisas.fit.gradient`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepgisas.fit import levenberg as lm
from deepgisas.fit.objectives import fisher_cov
from deepgisas.fit.problem import EDGE, FitConfig, Problem
from deepgisas.fit.tensors import FreeTensors, physical
from deepgisas.physics.structures import STRUCTURES
from deepgisas.physics.structures import key as structure_key
from deepgisas.templates import Template


def mode_mixture(free: FreeTensors, out: lm.Outcome, best: int, cov: Tensor, fine: Problem,
                 others: Sequence[int], along: Mapping[int, str] | None = None
                 ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The standard deviations (unit box) of the Laplace mixture over the modes ``best`` and
    ``others`` of ``out`` about the best one, and the modes' record (see ``gradient._finish``;
    ``along``: the parameter whose profile found a row)."""
    p = len(free.params)
    rows, covs = [best], [cov]
    for j in others:
        c = fisher_cov(fine, out.jac[j], out.state.model[j])
        if c is not None:
            rows.append(j)
            covs.append(c)
    loss = torch.stack([out.state.loss[j] for j in rows])
    logdet = torch.stack([torch.linalg.slogdet(c)[1] for c in covs])
    w = torch.softmax(-loss / 2 + logdet / 2, 0)
    theta = out.state.theta
    var = sum(float(w[m]) * (torch.diagonal(covs[m])[:p] + (theta[j] - theta[best]) ** 2)
              for m, j in enumerate(rows))
    assert isinstance(var, Tensor)
    modes = [{"parameters": physical(free, theta[j].numpy()),
              "deviance": float(out.state.loss[j]), "weight": float(w[m]),
              **({"along": along[j]} if along and j in along else {})}
             for m, j in enumerate(rows)]
    return np.sqrt(np.clip(var.numpy(), 0, None)), modes


def _spacing_index(template: Template, free: FreeTensors) -> int | None:
    """The column of the structure's spacing (a lattice constant, a paracrystal's distance)
    among the free parameters, or None when there is none or it is not fitted."""
    itf = template.base.sample.interference
    spacing = STRUCTURES[itf.kind].spacing if itf is not None else None
    keys = [q.key for q in free.params]
    if spacing is None or structure_key(spacing) not in keys:
        return None
    return keys.index(structure_key(spacing))


def profile_columns(template: Template, free: FreeTensors, cfg: FitConfig
                    ) -> list[tuple[int, int]]:
    """The columns of the free parameters to profile and their points: the structure's
    spacing first at ``cfg.profile`` points, every other parameter at ``cfg.profile // 4``
    (none when ``cfg.profile`` is 0)."""
    if not cfg.profile:
        return []
    first = _spacing_index(template, free)
    order = ([first] if first is not None else []) + [
        i for i in range(len(free.params)) if i != first]
    columns = [(i, cfg.profile if i == first else cfg.profile // 4) for i in order]
    return [(i, n) for i, n in columns if n >= 2]


def parameter_profiles(template: Template, free: FreeTensors, data: np.ndarray, c: float,
                       fine: Problem, out: lm.Outcome, best: int, cfg: FitConfig,
                       objective: str, variance: np.ndarray | None
                       ) -> tuple[lm.Outcome, int, dict[str, Any], list[int]]:
    """The parameter profiles: each free parameter stepped across its prior
    (:func:`profile_columns`), every other one at the search's optimum, each point simulated
    on the full detector (float32) at its best scale and background.

    Valleys the search did not reach show as a profile's other local minima: the structure
    factor's peaks are sharp at low disorder, so the spacing has several valleys; a nuisance
    the network does not predict (the incidence angle) can be filled in far from its own.
    Those below the optimum's own value + ``MODE_MARGIN`` in deviance (for the log misfit,
    below it - ``MODE_MARGIN``), the best ``cfg.carry`` of them over all profiles, are
    polished on the full detector, each to its own optimum. The lowest misfit is kept; for a
    likelihood objective the other valleys within ``MODE_MARGIN`` of it are the answer's
    other modes (``gradient._finish`` weighs them). Rows that lie within ``SAME_VALLEY`` standard
    deviations of a better one in every parameter are its valley. For a likelihood, the
    spacing is also profiled with the others fitted again (:func:`relaxed_profile`, at
    ``cfg.relax`` points), and its other valleys join the candidates; every point's loss
    bounds that parameter's profile from above and goes to ``record["upper"]`` ({name:
    [[value, deviance], ...]}) for the intervals. Returns the run holding the answer (the
    search's ``out`` with the polished rows appended), the row kept, what was tried (empty
    when profiles are off) and the rows of the other modes; the polished rows' profiled
    parameter is ``record["along"]``."""
    columns = profile_columns(template, free, cfg)
    if not columns:
        return out, best, {}, []
    scan = Problem(free, data, c, 1, torch.float32, objective, variance)
    theta = out.state.theta[best].detach().clone()
    x_best = out.state.x[best].detach()
    total = out.state.sim[best].detach().sum().clamp_min(1e-300)
    record: dict[str, Any] = {"points": {}, "simulations": 0, "valleys": {}, "kept": "search"}
    found: list[tuple[float, str, Tensor]] = []  # (loss, parameter, x)
    for i, n in columns:
        # the grid and the optimum's own value, in order
        values = torch.cat([torch.linspace(EDGE, 1 - EDGE, n, dtype=theta.dtype),
                            theta[i:i + 1]])
        order = torch.argsort(values)
        home = int((order == n).nonzero()[0, 0])
        rows = theta[None].repeat(len(values), 1)
        rows[:, i] = values[order]
        sims = lm.simulate(scan, rows)
        # from the optimum's background and a scale that keeps its total intensity
        log_s, log_b, loss = lm.fit_scale(scan, sims, tol=1e-5, start=(
            x_best[-2] + torch.log(total / sims.sum(-1).clamp_min(1e-300)), x_best[-1]))
        loss = torch.nan_to_num(loss, nan=torch.inf)
        q = free.params[i]
        limit = float(loss[home]) + (MODE_MARGIN if objective != "log" else -MODE_MARGIN)
        pick = [j for j in _other_minima(loss, home) if float(loss[j]) < limit]
        record["points"][q.name] = n
        record["simulations"] += len(rows)
        if pick:
            record["valleys"][q.name] = [float(q.to_physical(rows[j, i])) for j in pick]
        found += [(float(loss[j]), q.name, torch.cat([torch.logit(rows[j]), log_s[j:j + 1],
                                                      log_b[j:j + 1]])) for j in pick]
        if objective == "log":
            continue
        # each point's loss bounds the profile from above there (the others not refitted)
        upper = record.setdefault("upper", {})
        upper[q.name] = [[float(q.to_physical(rows[j, i])), float(loss[j])]
                         for j in range(len(rows)) if math.isfinite(float(loss[j]))]
    both = _joined(out, [best], None)
    if found:
        found = sorted(found, key=lambda f: f[0])[:cfg.carry]
        both = _joined(both, [0], _polished(fine, found, cfg, record))
    spacing = _spacing_index(template, free) if cfg.relax and objective != "log" else None
    if spacing is not None:
        # the spacing's profile with the others fitted too, from the best row so far
        here = int(torch.argmin(torch.nan_to_num(both.misfit, nan=torch.inf)))
        x0 = both.state.x[here]
        relaxed, x_relaxed, sims_n = relaxed_profile(scan, x0, spacing, cfg.relax, cfg)
        record["simulations"] += sims_n
        q = free.params[spacing]
        record.setdefault("upper", {}).setdefault(q.name, []).extend([
            [float(q.to_physical(torch.sigmoid(x_relaxed[j, spacing]))), float(relaxed[j])]
            for j in range(len(relaxed)) if math.isfinite(float(relaxed[j]))])
        home = int(torch.argmin((x_relaxed[:, spacing] - x0[spacing]).abs()))
        pick = [j for j in _other_minima(relaxed, home)
                if float(relaxed[j]) < float(relaxed[home]) + MODE_MARGIN][:cfg.carry]
        if pick:
            both = _joined(both, list(range(len(both.misfit))), _polished(
                fine, [(float(relaxed[j]), q.name, x_relaxed[j]) for j in pick], cfg, record))
    if len(both.misfit) == 1:
        return out, best, record, []
    valleys = _valleys(fine, both, len(free.params))
    kept = valleys[0]
    record["kept"] = "search" if kept == 0 else "profile"
    if objective == "log":
        return both, kept, record, []
    low = float(both.state.loss[kept])
    others = [j for j in valleys[1:] if float(both.state.loss[j]) < low + MODE_MARGIN]
    return both, kept, record, others


def _polished(fine: Problem, found: list[tuple[float, str, Tensor]], cfg: FitConfig,
              record: dict[str, Any]) -> lm.Outcome:
    """The candidates ``found`` (loss, parameter whose profile found it, x) polished on the
    full detector; their parameters go to ``record["along"]``, their cost to its
    simulations."""
    again = lm.levenberg_marquardt(fine, torch.stack([f[2] for f in found]), cfg.max_iter,
                                   cfg.tol, cfg.fd_step, rescale=True, reuse=cfg.reuse)
    record["simulations"] += again.simulations
    record.setdefault("along", []).extend(f[1] for f in found)
    return again


def _joined(out: lm.Outcome, rows: list[int], more: lm.Outcome | None) -> lm.Outcome:
    """The ``rows`` of a run, followed by every row of ``more``."""
    idx = torch.as_tensor(rows, dtype=torch.long)
    parts = [(out.state.x[idx], out.state.sim[idx], out.state.loss[idx], out.misfit[idx],
              out.jac[idx])]
    if more is not None:
        parts.append((more.state.x, more.state.sim, more.state.loss, more.misfit, more.jac))
    x, sim, loss, misfit, jac = (torch.cat(t) for t in zip(*parts, strict=True))
    return lm.Outcome(lm.State(x, sim, loss), misfit, jac, out.iterations, out.simulations)


def relaxed_profile(scan: Problem, x0: Tensor, i: int, n: int, cfg: FitConfig
                    ) -> tuple[Tensor, Tensor, int]:
    """The profile of column ``i`` at ``n`` points across its prior (and at the optimum x0
    [P + 2]), every other parameter fitted again with it held, from x0's values, by at most
    ``RELAX_ITER`` Jacobians of Levenberg-Marquardt on the ``scan`` problem (the full
    detector in float32). A slice with the others held misses valleys where they move with it
    (a weak, broad interference peak: distance, radius and omega trade off); coarser pixels
    hold too few counts to follow them at low exposure. The losses lie above the exact
    profile (the fits stop early) and meet it where they converge. Returns the losses
    [n + 1] and the points x [n + 1, P + 2], in the order of the held value, and the
    simulations."""
    values = torch.cat([torch.linspace(EDGE, 1 - EDGE, n, dtype=x0.dtype),
                        torch.sigmoid(x0[i:i + 1])])
    rows = x0[None].repeat(n + 1, 1)
    rows[:, i] = torch.logit(values)
    rows = rows[torch.argsort(values)]
    run = lm.levenberg_marquardt(scan, rows, RELAX_ITER, cfg.coarse_tol, 1e-3, rescale=True,
                                 reuse=cfg.reuse, hold=torch.full((n + 1,), i))
    return torch.nan_to_num(run.state.loss, nan=torch.inf), run.state.x, run.simulations


RELAX_ITER = 6  # Jacobians of the relaxed profile's fits

SAME_VALLEY = 2.0  # rows this many standard deviations apart (or closer) in every parameter
# are one valley


def _valleys(fine: Problem, out: lm.Outcome, p: int) -> list[int]:
    """The rows of ``out`` that are distinct valleys, the best first: a row within
    ``SAME_VALLEY`` standard deviations (the best row's Fisher errors over the unit box; or
    ``CARRY_APART`` when they are not defined) of a better one in every parameter is that
    one's valley."""
    order = torch.argsort(torch.nan_to_num(out.misfit, nan=torch.inf)).tolist()
    cov = fisher_cov(fine, out.jac[order[0]], out.state.model[order[0]])
    sd = (torch.full((p,), CARRY_APART / SAME_VALLEY, dtype=torch.float64) if cov is None else
          torch.sqrt(torch.diagonal(cov)[:p].clamp_min(1e-300)))
    theta = out.state.theta
    rows: list[int] = []
    for j in order:
        if rows and not torch.isfinite(out.misfit[j]):
            break
        if all(float(((theta[j] - theta[k]).abs() / sd).max()) > SAME_VALLEY for k in rows):
            rows.append(j)
    return rows


def other_orders(template: Template, free: FreeTensors, level: Problem, fine: Problem,
                  x: Tensor, misfit: float, cfg: FitConfig) -> tuple[Tensor, dict[str, Any]]:
    """The search's best ``x`` [1, P + 2] at a coarse ``level``, or the best of it with the
    structure's spacing times each of ``cfg.orders`` (within its prior), refitted there: a
    spacing off by a factor puts the structure factor's peaks on other orders, a valley that
    local steps do not leave. When the coarse pixels prefer the other order, the full
    detector (``fine``) decides between the two by one simulation each, at their best
    scale and background. Returns the row and what was tried."""
    itf = template.base.sample.interference
    spacing = STRUCTURES[itf.kind].spacing if itf is not None and cfg.orders else None
    keys = [q.key for q in free.params]
    if spacing is None or structure_key(spacing) not in keys:
        return x, {}
    i = keys.index(structure_key(spacing))
    q = free.params[i]
    now = float(q.to_physical(torch.sigmoid(x[0, i])))
    rows = []
    for factor in cfg.orders:
        u = float(q.prior.to_unit(now * factor))
        if EDGE <= u <= 1 - EDGE:
            row = x[0].clone()
            row[i] = math.log(u / (1 - u))
            rows.append(row)
    if not rows:
        return x, {}
    out = lm.levenberg_marquardt(level, torch.stack(rows), cfg.max_iter, cfg.coarse_tol,
                                 cfg.fd_step if level.dtype == torch.float64 else 1e-3,
                                 keep=1, race=cfg.race_given, rescale=True, reuse=cfg.reuse,
                                 spread=cfg.spread)
    j = int(torch.argmin(out.misfit))
    kept, simulations = "search", out.simulations
    if float(out.misfit[j]) < misfit:
        both = torch.cat([x, out.state.x[j:j + 1]])
        losses = lm.fit_scale(fine, lm.simulate(fine, torch.sigmoid(both[:, :-2])), tol=1e-5)[2]
        simulations += 2
        if float(losses[1]) < float(losses[0]):
            x, kept = both[1:], "order"
    return x, {"orders": [now * f for f in cfg.orders], "misfit": float(out.misfit[j]),
               "kept": kept, "simulations": simulations}


def _other_minima(values: Tensor, at: int) -> list[int]:
    """The local minima of a profile ``values`` [G] but index ``at`` (the search's own
    optimum), lowest first."""
    v = values.tolist()
    n = len(v)
    minima = [j for j in range(n) if (j == 0 or v[j] < v[j - 1])
              and (j == n - 1 or v[j] <= v[j + 1]) and j != at]
    return sorted(minima, key=lambda j: v[j])


MODE_MARGIN = 6.0  # deviance units (the loss sums): the spacing's other valleys within this
# of the best are its modes (weight exp(-3) = 5 % at the margin)

CARRY_APART = 0.02  # candidates carried up the levels differ by this much (unit box)


def distinct_candidates(theta: Tensor, misfit: Tensor, n: int) -> Tensor:
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
