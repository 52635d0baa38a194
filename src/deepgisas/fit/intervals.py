"""Profile-likelihood intervals of a film fit's parameters (as MINUIT's MINOS gives them).

For a likelihood objective the deviance D is -2 log L, so by Wilks' theorem the parameter
values whose profile deviance (every other parameter, the scale and the background fitted
again) lies within L^2 of the optimum's form an interval of about 68 % (L = 1) or 95 %
(L = 2) coverage. Unlike the Fisher standard deviations it follows a likelihood that is not
quadratic: asymmetric errors, a tail towards a prior's bound.

Each parameter's profile is evaluated at ``POINTS`` Fisher standard deviations on either side
of the optimum, started on the Fisher covariance's conditional path (the others moved by
Sigma_oi / Sigma_ii) and polished on the full detector by Levenberg-Marquardt with that
parameter held (``levenberg_marquardt(hold=...)``), all points of all parameters in one batch.
The signed root r = +-sqrt(D_profile - D_optimum) is interpolated linearly in the held value
between the points (and extrapolated beyond the last one) to where it crosses each level;
an interval ends at the prior's bound at the latest. The deviance differences are divided
by the goodness of fit's ``widen`` when the model does not describe the counts, and the
intervals span every other mode of the answer (``extra["modes"]``) whose deviance is within
L^2 of the optimum's, and every point within L^2 where the profile is known to lie lower
than a value (``upper``: {name: [[value, deviance], ...]}, the points of
:func:`deepgisas.fit.valleys.parameter_profiles`, which hold the other parameters or fit them
in a few steps): the set the profile allows can span two valleys, and the interval holds
both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from deepgisas.fit import levenberg as lm
from deepgisas.fit.objectives import fisher_cov
from deepgisas.fit.problem import EDGE, FitConfig, Problem
from deepgisas.fit.tensors import FreeTensors

POINTS = (1.0, 2.0)  # profile points on each side, in Fisher standard deviations
LEVELS = {"68": 1.0, "95": 2.0}  # interval name -> signed root of the deviance excess


def profile_intervals(free: FreeTensors, fine: Problem, out: lm.Outcome, best: int,
                      cfg: FitConfig, widen: float = 1.0, skip: Sequence[str] = (),
                      modes: Sequence[Mapping[str, Any]] = (),
                      upper: Mapping[str, Sequence[Sequence[float]]] | None = None
                      ) -> tuple[dict[str, dict[str, list[float]]], int]:
    """The 68 and 95 % profile-likelihood intervals {name: {"68": [lo, hi], "95": [lo, hi]}}
    (physical values) of the free parameters at row ``best`` of the full detector's run
    ``out``, but those in ``skip`` (e.g. at a bound) or without a Fisher error, and the
    simulations they took."""
    p = len(free.params)
    cov = fisher_cov(fine, out.jac[best], out.state.model[best])
    if cov is None:
        return {}, 0
    x0, theta0 = out.state.x[best], out.state.theta[best]
    loss0 = float(out.state.loss[best])
    sd = torch.sqrt(torch.diagonal(cov).clamp_min(0.0))
    rows, hold, where = [], [], []
    for i, q in enumerate(free.params):
        if q.name in skip or not math.isfinite(float(sd[i])) or float(sd[i]) <= 0:
            continue
        path = cov[:, i] / cov[i, i]  # the others' conditional shift per unit of theta_i
        for t in sorted(s * v for v in POINTS for s in (-1.0, 1.0)):
            d = t * sd[i] * path
            th = theta0 + d[:p]
            if not EDGE <= float(th[i]) <= 1 - EDGE:
                continue  # beyond the prior
            rows.append(torch.cat([torch.logit(th.clamp(EDGE, 1 - EDGE)), x0[-2:] + d[p:]]))
            hold.append(i)
            where.append((i, t))
    if not rows:
        return {}, 0
    run = lm.levenberg_marquardt(fine, torch.stack(rows), cfg.max_iter, cfg.tol, cfg.fd_step,
                                 rescale=True, reuse=cfg.reuse,
                                 hold=torch.tensor(hold, dtype=torch.long))
    excess = ((torch.nan_to_num(run.state.loss, nan=torch.inf) - loss0) / max(widen, 1.0)
              ).tolist()
    out_: dict[str, dict[str, list[float]]] = {}
    for i, q in enumerate(free.params):
        mine = [(t, e) for (j, t), e in zip(where, excess, strict=True) if j == i]
        if not mine:
            continue
        ends = {}
        for name, level in LEVELS.items():
            lo = _crossing([(-t, e) for t, e in mine if t < 0], level)
            hi = _crossing([(t, e) for t, e in mine if t > 0], level)
            u = [min(max(float(theta0[i]) + s * v * float(sd[i]), 0.0), 1.0)
                 for s, v in ((-1, lo), (1, hi))]
            ends[name] = [float(q.to_physical(torch.tensor(v, dtype=torch.float64)))
                          for v in u]
            allowed = [float(m["parameters"][q.name]) for m in modes  # other modes
                       if m.get("deviance", math.inf) - loss0 < level * level * max(widen, 1.0)]
            allowed += [v for v, dev in (upper or {}).get(q.name, ())  # profile points
                        if dev - loss0 < level * level * max(widen, 1.0)]
            if allowed:
                ends[name] = [min(ends[name][0], *allowed), max(ends[name][1], *allowed)]
        out_[q.name] = ends
    return out_, run.simulations


def _crossing(points: list[tuple[float, float]], level: float) -> float:
    """Where the root of the deviance excess, r(0) = 0 and r(t) = sqrt(excess) at the
    ``points`` (t > 0 in standard deviations, excess), first reaches ``level``: linear
    between the points, extrapolated from the last two beyond them (infinite when the profile
    does not rise there, or when no point could be evaluated, at a bound)."""
    pts = [(0.0, 0.0)] + sorted((t, math.sqrt(max(e, 0.0)) if math.isfinite(e) else math.inf)
                                for t, e in points)
    for (t0, r0), (t1, r1) in zip(pts, pts[1:], strict=False):
        if r1 >= level:
            if not math.isfinite(r1):
                return t1
            return t0 + (t1 - t0) * (level - r0) / max(r1 - r0, 1e-12)
    if len(pts) < 2:
        return math.inf
    (t0, r0), (t1, r1) = pts[-2], pts[-1]
    if r1 <= r0:
        return math.inf
    return t1 + (t1 - t0) * (level - r1) / (r1 - r0)
