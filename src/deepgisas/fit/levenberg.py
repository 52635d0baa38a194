"""Levenberg-Marquardt for a misfit of the model m = s I(theta) + b against the data (the
Poisson deviance, chi^2 or a log-intensity misfit, :func:`terms`), run on several starts at
once, with Jacobians by finite differences in one simulator batch.

The misfit (:mod:`deepgisas.fit.objectives`) is the mean over the unmasked pixels of a
per-pixel loss l(m). Over x = (logit theta, log s, log b) its Gauss-Newton model is
H = J^T diag(w) J, g = J^T l'(m) (sums over pixels), J = d m / d x and w the Fisher weight of
the loss (for the log misfit, the soft-L1 rho(r), r = log(m + c) - log(D + c), this is
rho''(r) / (m + c)^2 and l' = rho'(r) / (m + c)).
The theta columns of J are one-sided differences of I with a step ``h`` (1e-5) in the unit box,
in float64: strongly correlated parameters amplify a Jacobian's errors along their weak
direction (by the square root of the condition number, ~100 for the film), where float32
differences (h ~ 1e-3) are too rough for Gauss-Newton to converge or to find the optimum; in
float64 the gradient J^T rho' is as good as autograd's (its error moves the optimum by ~0.02
standard deviations) at a third of the cost. The starts are simulated together with their
first Jacobians (one batch of K (1 + P)); every later iteration simulates the Jacobians of all
running starts as one batch (K x P); then come their trial steps, one batch per attempt (the
Gauss-Newton step, then ``spread`` dampings at a time). Near the optimum
(``reuse``) one iteration may keep the last d I / d theta, Broyden-updated with the step just
taken, instead of P more simulations: on film fits the result moves by at most ~0.15 standard
deviations, as much as the stopping rule's own spread (its test uses the last Jacobian too).

Each iteration tries the Gauss-Newton step first, then Marquardt-damped ones (Nielsen's rule),
``spread`` of the rule's next dampings at once in one simulator batch, the best kept.
A start stops when the Newton step left at its new point (last Jacobian and Hessian) is below
``tol`` standard deviations sqrt(k diag(H^-1)), k = sum rho'^2 / sum rho'' (the log misfit's
M-estimator) or 2 (a likelihood objective, loss -2 log L), in
every coordinate but the background, or when no damping lowers its misfit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from deepgisas.fit.objectives import Problem, curvature, soft_l1, terms


def simulate(problem: Problem, theta: Tensor) -> Tensor:
    """[B, N] simulations of theta [B, P] as float64 (no autograd)."""
    with torch.no_grad():
        return problem.simulate(theta).double()


def losses(problem: Problem, sim: Tensor, log_s: Tensor, log_b: Tensor) -> Tensor:
    """Sums of rho over the pixels [S] for sims [S, N], log scale and background [S]; inf for
    NaN."""
    model = torch.exp(log_s)[:, None] * sim + torch.exp(log_b)[:, None]
    total = terms(problem, model)[0].sum(-1)
    return torch.nan_to_num(total, nan=torch.inf)


def fit_scale(problem: Problem, sim: Tensor, iterations: int = 30, tol: float = 1e-9,
              start: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The best log scale and log background [S] for fixed simulations sim [S, N]; returns
    them and the loss sums [S]. No simulations: damped Newton on the two numbers s and b of
    each row (the model s I + b is linear in them, so the Poisson and chi^2 losses are convex
    and Newton's steps with their exact Hessian converge quadratically; the log misfit's exact
    Hessian where it is positive, else its Gauss-Newton one); the background's floor is an
    active bound as in Levenberg-Marquardt, a step changes s by at most a factor e^5, and a
    row stops once its step is below ``tol`` in log s and log b. ``start``: the log scale and
    log background [S] to start from (else the scale that matches the data's sum, and a
    background at 1 % of the floor ``c``)."""
    if start is None:
        d = getattr(problem, "data", None)
        d = torch.exp(problem.logd) - problem.c if d is None else d
        ls = torch.log(d.clamp_min(0).sum().clamp_min(1e-300) / sim.sum(-1).clamp_min(1e-300))
        lb = torch.full_like(ls, float(np.log(problem.c * 1e-2)))
    else:
        dtype = torch.promote_types(sim.dtype, problem.logd.dtype)  # as the data's sum gives
        ls, lb = (v.to(dtype).expand(len(sim)).clone() for v in start)
    floor = float(np.log(problem.c * 1e-6))
    lb = lb.clamp_min(floor)
    b_floor = float(np.exp(floor))
    lam = torch.full_like(ls, 1e-3)
    model = torch.addcmul(torch.exp(lb)[:, None], torch.exp(ls)[:, None], sim)
    per_pixel, d1, d2 = terms(problem, model)
    loss = torch.nan_to_num(per_pixel.sum(-1), nan=torch.inf)
    active = torch.ones_like(ls, dtype=torch.bool)
    for _ in range(iterations):
        rows = active.nonzero()[:, 0]
        if rows.numel() == 0:
            break
        every = rows.numel() == len(ls)  # no row settled yet: no gathers
        x, m, e1, e2 = ((sim, model, d1, d2) if every else
                        (sim[rows], model[rows], d1[rows], d2[rows]))
        s, b = torch.exp(ls[rows]), torch.exp(lb[rows])
        g1, g2 = (e1 * x).sum(-1), e1.sum(-1)  # d loss / d s, d loss / d b
        h11, h12, h22 = _hessian(curvature(problem, m, e1, e2), x)
        gn = (h11 <= 0) | (h22 <= 0) | (h11 * h22 <= h12 * h12)
        if bool(gn.any()):
            k11, k12, k22 = _hessian(e2, x)
            h11, h12, h22 = (torch.where(gn, k11, h11), torch.where(gn, k12, h12),
                             torch.where(gn, k22, h22))
        a11, a22 = h11 * (1 + lam[rows]) + 1e-300, h22 * (1 + lam[rows]) + 1e-300
        det = a11 * a22 - h12 * h12
        # a background at its floor that wants to go lower stays there: s alone moves
        pinned = (lb[rows] <= floor + 1e-9) & (g2 > 0)
        step_s = torch.where(pinned, -g1 / a11, (-g1 * a22 + g2 * h12) / det)
        step_b = torch.where(pinned, 0.0, (-g2 * a11 + g1 * h12) / det)
        new_s = torch.log(torch.clamp(s + step_s, min=s * math.exp(-5), max=s * math.exp(5)))
        new_b = torch.log(torch.clamp(b + step_b, min=b_floor))
        moving = ((new_s - ls[rows]).abs() > tol) | ((new_b - lb[rows]).abs() > tol)
        new_m = torch.addcmul(torch.exp(new_b)[:, None], torch.exp(new_s)[:, None], x)
        per_pixel, n1, n2 = terms(problem, new_m)
        new = torch.nan_to_num(per_pixel.sum(-1), nan=torch.inf)
        better = new < loss[rows]
        got = rows[better]
        ls[got], lb[got], loss[got] = new_s[better], new_b[better], new[better]
        if every:
            keep = better[:, None]
            model, d1, d2 = (torch.where(keep, new_m, model), torch.where(keep, n1, d1),
                             torch.where(keep, n2, d2))
        else:
            model[got], d1[got], d2[got] = new_m[better], n1[better], n2[better]
        lam[rows] = torch.where(better, lam[rows] / 3, lam[rows] * 10)
        active[rows[~moving]] = False
    return ls, lb, loss


def _hessian(w: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """sum w x^2, sum w x, sum w [R]: the Hessian in (s, b) of a loss with per-pixel second
    derivative w [R, N] in the model s x + b."""
    wx = w * x
    return (wx * x).sum(-1), wx.sum(-1), w.sum(-1)


def sim_derivative(problem: Problem, theta: Tensor, sim: Tensor, h: float) -> Tensor:
    """d I / d theta [K, P, N] at K points theta [K, P] with their sims [K, N]: by the
    problem's own ``sim_jacobian(theta, sim, h)`` if it has one, else by one-sided differences
    (K x P simulations in one batch, each step pointing into the unit box)."""
    own = getattr(problem, "sim_jacobian", None)
    if own is not None:
        return own(theta, sim, h)
    moved, step = _moved(theta, h)
    return _differences(simulate(problem, moved), sim, step)


def _moved(theta: Tensor, h: float) -> tuple[Tensor, Tensor]:
    """The K x P points [K P, P] of one-sided differences at theta [K, P], and their steps
    [K, P] (each pointing into the unit box)."""
    k, p = theta.shape
    step = torch.where(theta + h <= 1.0, torch.full_like(theta, h), torch.full_like(theta, -h))
    return (theta[:, None, :] + torch.diag_embed(step)).reshape(k * p, p), step


def _differences(moved_sims: Tensor, sim: Tensor, step: Tensor) -> Tensor:
    k, p = step.shape
    return (moved_sims.reshape(k, p, -1) - sim[:, None]) / step[..., None]


def _start(problem: Problem, x: Tensor, rescale: bool, h: float
           ) -> tuple[State, Tensor | None]:
    """The starts x [K, Q] simulated (see :meth:`State.at`) and, when the problem has no
    ``sim_jacobian`` of its own, their d I / d theta [K, P, N] from the same simulator batch
    (one call instead of two)."""
    if getattr(problem, "sim_jacobian", None) is not None:
        return State.at(problem, x, rescale), None
    theta = torch.sigmoid(x[:, :-2])
    moved, step = _moved(theta, h)
    sims = simulate(problem, torch.cat([theta, moved]))
    st = State.from_sims(problem, x, sims[:len(x)], rescale)
    return st, _differences(sims[len(x):], st.sim, step)


def residual_jacobian(problem: Problem, theta: Tensor, sim: Tensor, log_s: Tensor,
                      log_b: Tensor, h: float) -> Tensor:
    """Jacobians of the log residuals over (theta, log s, log b), [K, N, P + 2], at K points
    theta [K, P] with their sims [K, N] (d I / d theta by :func:`sim_derivative`)."""
    return log_jacobian(problem, sim, log_s, log_b, sim_derivative(problem, theta, sim, h))


def model_jacobian(sim: Tensor, log_s: Tensor, log_b: Tensor, d_sim: Tensor) -> Tensor:
    """Jacobians of the model m = s I + b over (theta, log s, log b), [K, N, P + 2], for sims
    [K, N], log scale and background [K] and d I / d theta ``d_sim`` [K, P, N]."""
    s, b = torch.exp(log_s)[:, None], torch.exp(log_b)[:, None]
    return torch.cat([(s[:, None] * d_sim).transpose(1, 2), (s * sim)[..., None],
                      (b + 0.0 * sim)[..., None]], -1)


def log_jacobian(problem: Problem, sim: Tensor, log_s: Tensor, log_b: Tensor, d_sim: Tensor
                 ) -> Tensor:
    """Jacobians of the log residuals over (theta, log s, log b), [K, N, P + 2], for sims
    [K, N], log scale and background [K] and d I / d theta ``d_sim`` [K, P, N]."""
    s, b = torch.exp(log_s)[:, None], torch.exp(log_b)[:, None]
    m = s * sim + b + problem.c  # [K, N]
    return torch.cat([(s[:, None] * d_sim / m[:, None]).transpose(1, 2),
                      (s * sim / m)[..., None], (b / m)[..., None]], -1)


@dataclass
class State:
    """K points of the search: x = (logit theta, log s, log b) [K, P + 2], their sims [K, N]
    and loss sums [K]."""

    x: Tensor
    sim: Tensor
    loss: Tensor

    @property
    def theta(self) -> Tensor:
        return torch.sigmoid(self.x[:, :-2])

    @staticmethod
    def at(problem: Problem, x: Tensor, rescale: bool = False) -> State:
        """Simulate x [K, P + 2]. ``rescale``: replace log s and log b by their best values for
        these sims (:func:`fit_scale`, no more simulations)."""
        return State.from_sims(problem, x, simulate(problem, torch.sigmoid(x[:, :-2])), rescale)

    @staticmethod
    def from_sims(problem: Problem, x: Tensor, sim: Tensor, rescale: bool = False) -> State:
        """:meth:`at` with the sims [K, N] of x given."""
        if rescale:
            ls, lb, loss = fit_scale(problem, sim)
            return State(torch.cat([x[:, :-2], ls[:, None], lb[:, None]], 1), sim, loss)
        return State(x.clone(), sim, losses(problem, sim, x[:, -2], x[:, -1]))

    @property
    def model(self) -> Tensor:
        """[K, N] s I + b."""
        return torch.exp(self.x[:, -2:-1]) * self.sim + torch.exp(self.x[:, -1:])

    def residuals(self, problem: Problem) -> Tensor:
        """[K, N] log residuals."""
        return torch.log(self.model + problem.c) - problem.logd


@dataclass
class Outcome:
    """Finished runs: the final state (K rows), misfits (mean loss per pixel) [K], the
    Jacobian of the model s I + b over (theta, log s, log b) at the last point where one was
    computed [K, N, P + 2],
    iterations (Jacobians of the longest run) and simulations."""

    state: State
    misfit: Tensor
    jac: Tensor
    iterations: int
    simulations: int


def _limit(delta: Tensor, max_step: float) -> Tensor:
    """Scale the theta part of steps [K, P + 2] to at most ``max_step`` and clip the log scale
    and background parts to it (a vanishing background asks for ever larger log steps)."""
    out = delta.clone()
    biggest = delta[:, :-2].abs().amax(-1, keepdim=True).clamp_min(1e-300)
    out[:, :-2] *= (max_step / biggest).clamp(max=1.0)
    out[:, -2:] = out[:, -2:].clamp(-max_step, max_step)
    return out


def _model(problem: Problem, st: State, rows: Tensor, d_sim: Tensor, floor_b: float,
           hold: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gauss-Newton model at ``rows`` with d I / d theta ``d_sim`` [R, P, N]: the model's
    Jacobian over (theta, log s, log b) [R, N, Q], d m / d x [R, N, Q] (zero at non-finite
    pixels and in a held column), gradient [R, Q], Hessian [R, Q, Q] and the M-estimator
    variance factor k [R]. A background at its floor that wants to go lower is held there (an
    active bound); ``hold`` [R]: a column of theta each row keeps where it is (-1: none)."""
    theta = st.theta[rows]
    jac = model_jacobian(st.sim[rows], st.x[rows, -2], st.x[rows, -1], d_sim)
    chain = torch.cat([theta * (1 - theta), torch.ones((rows.numel(), 2), dtype=theta.dtype)],
                      1)
    jx = jac * chain[:, None]
    _, d1, d2 = terms(problem, st.model[rows])
    ok = torch.isfinite(jx).all(-1) & torch.isfinite(d1)
    jx = torch.where(ok[..., None], jx, 0.0)
    d1, d2 = torch.where(ok, d1, 0.0), torch.where(ok, d2, 0.0)
    grad = (jx * d1[..., None]).sum(1)
    hess = jx.transpose(1, 2) @ (d2[..., None] * jx)
    if hold is not None:  # a held column: no gradient, decoupled, unit curvature
        keep = torch.ones_like(grad)
        held = hold >= 0
        keep[held.nonzero()[:, 0], hold[held]] = 0.0
        jx, grad = jx * keep[:, None], grad * keep
        hess = hess * keep[:, :, None] * keep[:, None, :] + torch.diag_embed(1.0 - keep)
    pinned = (st.x[rows, -1] <= floor_b + 1e-9) & (grad[:, -1] > 0)
    hess[pinned, -1, :] = 0.0
    hess[pinned, :, -1] = 0.0
    hess[pinned, -1, -1] = 1.0
    grad[pinned, -1] = 0.0
    jx[pinned, :, -1] = 0.0
    if getattr(problem, "objective", "log") == "log":  # the soft-L1 M-estimator's factor
        _, r1, r2 = soft_l1(st.residuals(problem)[rows])
        r1, r2 = torch.where(ok, r1, 0.0), torch.where(ok, r2, 0.0)
        k = (r1 * r1).sum(-1) / r2.sum(-1).clamp_min(1e-300)
    else:  # a likelihood's loss is -2 log L: covariance 2 H^-1
        k = torch.full((rows.numel(),), 2.0, dtype=grad.dtype)
    return jac, jx, grad, hess, k


def _broyden(d_sim: Tensor, theta0: Tensor, sim0: Tensor, theta1: Tensor, sim1: Tensor
             ) -> Tensor:
    """Broyden's update of d I / d theta [K, P, N] from a step theta0 -> theta1 [K, P] with
    sims sim0 -> sim1 [K, N]: the least change that makes it reproduce the step's own change
    of the sims."""
    step = theta1 - theta0
    miss = sim1 - sim0 - torch.einsum("kpn,kp->kn", d_sim, step)
    return d_sim + step[:, :, None] * miss[:, None, :] / (step * step).sum(-1)[:, None, None]


def _damped(problem: Problem, x: Tensor, grad: Tensor, hess: Tensor, diag: Tensor,
            damping: Tensor, max_step: float, floor_b: float) -> tuple[State, Tensor]:
    """Trial steps from I points x [I, Q] with their gradients [I, Q], Hessians [I, Q, Q] and
    Hessian diagonals [I, Q], S Marquardt dampings each [I, S] (H + d diag(H)): the trial
    states (I x S rows, simulated in one batch) and the steps' predicted decreases [I, S]."""
    i, s = damping.shape
    q = x.shape[1]
    a = hess[:, None] + damping[..., None, None] * torch.diag_embed(diag)[:, None]
    g = grad[:, None].expand(i, s, q)
    delta = _limit(torch.linalg.lstsq(a, -g[..., None]).solution[..., 0].reshape(i * s, q),
                   max_step).reshape(i, s, q)
    pred = -((g * delta).sum(-1)
             + 0.5 * (delta[..., None, :] @ hess[:, None] @ delta[..., None])[..., 0, 0])
    trial_x = (x[:, None] + delta).reshape(i * s, q)
    trial_x[:, -1] = trial_x[:, -1].clamp_min(floor_b)
    return State.at(problem, trial_x), pred


def levenberg_marquardt(problem: Problem, x: Tensor, max_iter: int = 30, tol: float = 0.1,
                        h: float = 1e-5, max_step: float = 2.0, keep: int | None = None,
                        race: int = 4, rescale: bool = False, reuse: float = 0.0,
                        spread: int = 1, sim: Tensor | None = None,
                        hold: Tensor | None = None) -> Outcome:
    """Minimise the misfit from K starts x [K, P + 2] (logit theta, log s, log b) at once.

    ``keep``: after every ``race`` iterations, only the best half of the starts still running
    (by misfit, at least ``keep``) go on; the others stop where they are. Steps larger than
    ``max_step`` (logit units) are scaled down. ``rescale``: start from the best scale and
    background for each start's theta (e.g. on a new pixel grid). ``reuse``: when the step
    left after an iteration is below ``reuse`` standard deviations (but not below ``tol``),
    the next iteration keeps that iteration's d I / d theta, Broyden-updated (no simulations;
    the scale and background columns are exact), instead of a fresh one, once; a reused
    model whose steps all fail gets a fresh one. ``spread``: dampings tried at once, in one
    simulator batch, when the Gauss-Newton step fails (see :func:`_damped`). ``sim``: the
    starts' simulations [K, N] when already made (then ``rescale`` is ignored). ``hold`` [K]:
    the column of theta each row keeps at its start (-1: none), for profile likelihoods."""
    if spread < 1:
        raise ValueError(f"spread must be at least 1, not {spread}")
    n = problem.logd.shape[0]
    first = None
    if sim is None:
        st, first = _start(problem, x, rescale, h)
    else:
        st = State.from_sims(problem, x, sim)
    k_all, q = st.x.shape
    lam = torch.full((k_all,), 1e-4, dtype=torch.float64)
    nu = torch.full_like(lam, 2.0)
    running = torch.isfinite(st.loss)
    jac = torch.zeros((k_all, n, q), dtype=torch.float64)
    d_sim = torch.zeros((k_all, q - 2, n), dtype=torch.float64)
    stale = torch.zeros(k_all, dtype=torch.bool)  # the next model reuses d_sim
    ready = torch.zeros(k_all, dtype=torch.bool)  # d_sim is fresh at the row's point
    sims, it = (k_all if sim is None else 0), 0
    if first is not None:
        d_sim[:], ready[:] = first, True
        sims += first.shape[0] * first.shape[1]
    floor_b = float(np.log(problem.c * 1e-6))
    for _ in range(max_iter):
        if keep is not None and it and it % race == 0 and int(running.sum()) > keep:
            order = torch.argsort(torch.where(running, st.loss, torch.inf))
            running[order[max(keep, (int(running.sum()) + 1) // 2):]] = False
        rows = running.nonzero()[:, 0]
        if rows.numel() == 0:
            break
        it += 1
        reused = stale[rows]
        fresh = rows[~reused & ~ready[rows]]
        if fresh.numel():
            d_sim[fresh] = sim_derivative(problem, st.theta[fresh], st.sim[fresh], h)
            sims += fresh.numel() * (q - 2)
        stale[rows], ready[rows] = False, False
        jac[rows], jx, grad, hess, kk = _model(problem, st, rows, d_sim[rows], floor_b,
                                               None if hold is None else hold[rows])
        diag = torch.diagonal(hess, dim1=1, dim2=2)
        diag = diag.clamp_min(1e-12 * diag.amax(-1, keepdim=True) + 1e-300)
        old_x, old_loss, old_sim = st.x[rows].clone(), st.loss[rows].clone(), st.sim[rows].clone()
        pending = torch.ones(rows.numel(), dtype=torch.bool)
        for attempt in range(1 + -(-11 // spread)):  # Gauss-Newton, then damped steps
            idx = pending.nonzero()[:, 0]
            if idx.numel() == 0:
                break
            # dampings [I, S]: none first, then the next ``spread`` of Nielsen's sequence (lam,
            # then each the last times nu, with nu doubling every time), all at once
            if attempt:
                grow = torch.cumprod(torch.cat([torch.ones((idx.numel(), 1), dtype=torch.float64),
                                                nu[rows[idx], None] * 2.0 ** torch.arange(
                                                    spread - 1, dtype=torch.float64)], 1), 1)
                damping = lam[rows[idx], None] * grow
            else:
                damping = torch.zeros((idx.numel(), 1), dtype=torch.float64)
            trial, pred = _damped(problem, old_x[idx], grad[idx], hess[idx], diag[idx],
                                  damping, max_step, floor_b)
            sims += trial.loss.numel()
            # each row keeps its best trial
            along = torch.arange(idx.numel())
            tried = trial.loss.reshape(damping.shape)
            pick = torch.argmin(torch.nan_to_num(tried, nan=torch.inf), 1)
            new_loss = tried[along, pick]
            better = new_loss < old_loss[idx]
            ratio = ((old_loss[idx] - new_loss) / pred[along, pick].clamp_min(1e-300)
                     ).clamp(max=2.0)
            got = idx[better]
            flat = (along * damping.shape[1] + pick)[better]
            for name in ("x", "sim", "loss"):
                getattr(st, name)[rows[got]] = getattr(trial, name)[flat]
            used = damping[along, pick] if attempt else lam[rows[idx]]
            lam[rows[got]] = used[better] * torch.clamp(1 - (2 * ratio[better] - 1) ** 3,
                                                        min=1 / 3)
            nu[rows[got]] = 2.0
            if attempt:  # all failed: the sequence goes on from the last one tried
                bad = rows[idx[~better]]
                lam[bad] = damping[~better, -1] * nu[bad] * 2.0 ** (spread - 1)
                nu[bad] *= 2.0 ** spread
            pending[got] = False
        # no damping lowers the misfit: a minimum to working precision (unless the model was
        # reused: then a fresh one)
        running[rows[pending & ~reused]] = False
        moved = ~pending
        if bool(moved.any()):
            # what is left: the Newton step at the new point, its gradient estimated with this
            # Jacobian, in standard deviations (a damped step can be small far from the optimum)
            _, d1, _ = terms(problem, st.model[rows[moved]])
            g_new = (jx[moved] * torch.nan_to_num(d1)[..., None]).sum(1)
            g_new[:, -1] = torch.where(grad[moved, -1] == 0, 0.0, g_new[:, -1])
            inverse = torch.linalg.pinv(hess[moved])
            sigma = torch.sqrt((torch.diagonal(inverse, dim1=1, dim2=2) * kk[moved, None]
                                ).clamp_min(1e-300))
            left = (inverse @ g_new[..., None])[..., 0].abs() / sigma
            worst = left[:, :-1].amax(-1)
            running[rows[moved][worst < tol]] = False
            again = moved.clone()
            again[moved] = (worst >= tol) & (worst < reuse) & ~reused[moved]
            if bool(again.any()):
                back = rows[again]
                d_sim[back] = _broyden(d_sim[back], torch.sigmoid(old_x[again, :-2]),
                                       old_sim[again], st.theta[back], st.sim[back])
                stale[back] = True
    return Outcome(st, st.loss / n, jac, it, sims)


