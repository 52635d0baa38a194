"""The Levenberg-Marquardt search on a toy problem: batched dampings, the starts simulated with
their first Jacobians, given start simulations, and the simulation count."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from deepgisas.fit import levenberg as lm


class Toy:
    """I_n = (1 + 4 t0) exp(-x_n (0.5 + 3 t1)) + 0.3 t2 cos(6 x_n) + 0.5, theta in the unit
    box, on 300 pixels; counts every simulated row."""

    def __init__(self, truth: tuple[float, float, float], seed: int = 0) -> None:
        self.x = torch.linspace(0.0, 3.0, 300, dtype=torch.float64)
        clean = self.simulate(torch.tensor([truth], dtype=torch.float64))[0]
        rng = np.random.default_rng(seed)
        data = torch.from_numpy(rng.poisson(clean.numpy() * 200) / 200)
        self.c = 1e-3
        self.logd = torch.log(data.clamp_min(0) + self.c)
        self.rows = 0

    def simulate(self, theta: Tensor) -> Tensor:
        self.rows = getattr(self, "rows", 0) + theta.shape[0]
        t0, t1, t2 = (theta[:, i:i + 1] for i in range(3))
        return ((1 + 4 * t0) * torch.exp(-self.x * (0.5 + 3 * t1))
                + 0.3 * t2 * torch.cos(6 * self.x) + 0.5)


def starts(k: int) -> Tensor:
    theta = torch.tensor([[0.2, 0.8, 0.3], [0.9, 0.1, 0.7], [0.5, 0.5, 0.5]],
                         dtype=torch.float64)[:k]
    return torch.cat([torch.logit(theta), torch.zeros((k, 1), dtype=torch.float64),
                      torch.full((k, 1), -8.0, dtype=torch.float64)], 1)


@pytest.mark.parametrize("keep", [None, 1])
def test_batched_dampings_reach_the_same_optimum(keep: int | None) -> None:
    runs = {}
    for spread in (1, 4):
        p = Toy((0.6, 0.4, 0.5))
        out = lm.levenberg_marquardt(p, starts(3), tol=0.01, keep=keep, race=2,
                                     spread=spread, rescale=True)
        assert out.simulations == p.rows
        runs[spread] = out
    best = {s: int(torch.argmin(o.misfit)) for s, o in runs.items()}
    m1, m4 = (float(runs[s].misfit[best[s]]) for s in (1, 4))
    assert m4 == pytest.approx(m1, rel=1e-7)
    th1, th4 = (runs[s].state.theta[best[s]] for s in (1, 4))
    assert torch.allclose(th1, th4, atol=1e-3)


def test_starts_come_with_their_first_jacobian() -> None:
    p = Toy((0.6, 0.4, 0.5))
    x = starts(2)
    st, first = lm._start(p, x, True, 1e-5)
    assert first is not None and p.rows == 2 * (1 + 3)
    assert torch.equal(first, lm.sim_derivative(p, st.theta, st.sim, 1e-5))
    assert torch.equal(st.x, lm.State.at(p, x, True).x)


def test_given_start_simulations_are_used_and_not_counted() -> None:
    p = Toy((0.3, 0.7, 0.2))
    x = starts(2)
    sims = lm.simulate(p, torch.sigmoid(x[:, :-2]))
    p.rows = 0
    given = lm.levenberg_marquardt(p, x, tol=0.01, sim=sims)
    assert given.simulations == p.rows
    fresh = lm.levenberg_marquardt(Toy((0.3, 0.7, 0.2)), x, tol=0.01)
    assert torch.allclose(given.state.x, fresh.state.x, atol=1e-9)


@pytest.mark.parametrize("bad", [{"spread": 0}, {"n_starts": 0}, {"tol": 0.0},
                                 {"fd_step": -1e-5}, {"reuse": -1.0}])
def test_fit_settings_are_validated(bad: dict) -> None:
    from deepgisas.errors import UserError
    from deepgisas.fit import FitConfig

    with pytest.raises(UserError, match=next(iter(bad))):
        FitConfig(**bad)


def test_fit_scale_reaches_each_rows_own_optimum() -> None:
    """Scale and background of fixed simulations by the Poisson deviance: every row at the
    optimum a general minimiser finds for it alone, rows that converge early and late alike;
    an exact model s I + b is recovered."""
    from scipy.optimize import minimize

    class Counts:
        objective = "poisson"

        def __init__(self, data: Tensor) -> None:
            self.data, self.c = data, 1e-3 * float(data.max())
            self.logd = torch.log(data + self.c)

    rng = np.random.default_rng(3)
    x = torch.linspace(0.0, 3.0, 400, dtype=torch.float64)
    sims = torch.stack([torch.exp(-x * k) + 0.05 * torch.cos(4 * k * x) + 0.1
                        for k in (0.3, 0.8, 1.5, 2.5, 4.0)])
    data = torch.from_numpy(rng.poisson(50.0 * sims[1].numpy() + 2.0).astype(float))
    p = Counts(data)
    ls, lb, loss = lm.fit_scale(p, sims)
    for r in range(len(sims)):
        def deviance(v: np.ndarray, r: int = r) -> float:
            m = np.exp(v[0]) * sims[r].numpy() + np.exp(v[1])
            d = data.numpy()
            return float(2 * np.sum(m - d + np.where(d > 0, d * np.log(np.where(d > 0, d, 1) / m),
                                                     0.0)))
        ref = minimize(deviance, [float(ls[r]), float(lb[r])], method="Nelder-Mead",
                       options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
        assert float(loss[r]) == pytest.approx(deviance(np.array([ls[r], lb[r]])), rel=1e-10)
        assert float(loss[r]) <= ref.fun * (1 + 1e-8)  # or the background's floor binds
    exact = Counts(3.0 * sims[2] + 0.5)
    ls, lb, loss = lm.fit_scale(exact, sims[2:3])
    assert float(torch.exp(ls[0])) == pytest.approx(3.0, rel=1e-6)
    assert float(torch.exp(lb[0])) == pytest.approx(0.5, rel=1e-5)
    assert float(loss[0]) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("objective", ["poisson", "log"])
def test_fit_scale_converges_in_a_few_newton_steps_from_any_start(objective: str) -> None:
    """Newton in (s, b), where the model is linear: the optimum of every row within 10 steps
    (Newton in (log s, log b) needs 16 on these data: slow steps in log b), and the same
    optimum from a given start far from it."""

    class Counts:
        def __init__(self, data: Tensor) -> None:
            self.objective = objective
            self.data, self.c = data, 1e-3 * float(data.max())
            self.logd = torch.log(data + self.c)

    rng = np.random.default_rng(5)
    x = torch.linspace(0.0, 3.0, 2000, dtype=torch.float64)
    sims = torch.stack([torch.exp(-x * k) + 0.3 * torch.exp(-((x - 1.0 - 0.2 * k) / 0.05) ** 2)
                        for k in (0.5, 1.0, 1.5, 2.0)])
    data = torch.from_numpy(rng.poisson(30.0 * sims[1].numpy() + 0.2).astype(float))
    p = Counts(data)
    ls, lb, loss = lm.fit_scale(p, sims, iterations=200, tol=1e-12)
    few = lm.fit_scale(p, sims, iterations=10, tol=1e-12)
    far = lm.fit_scale(p, sims, iterations=200, tol=1e-12,
                       start=(ls + 3.0, torch.full_like(lb, float(np.log(p.c)))))
    for got in (few, far):
        assert torch.allclose(got[2], loss, rtol=1e-9, atol=0)
        assert torch.allclose(got[0], ls, atol=1e-5)
