"""Profile-likelihood intervals: a held column in Levenberg-Marquardt, and interval ends where
the profile deviance has risen by 1 and 4, each checked against a fit with that parameter
fixed in the template itself."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import deepgisas as dg
from deepgisas.cli.main import main
from deepgisas.fit import FitConfig, fit_image, free_tensors
from deepgisas.fit import levenberg as lm
from deepgisas.fit.intervals import LEVELS, profile_intervals
from deepgisas.fit.objectives import fisher_cov
from deepgisas.fit.problem import Problem, masked
from deepgisas.templates import Template, parse_template


def film(n: int = 32, samples: int = 5) -> Template:
    d = dg.load("film").to_dict()
    d["detector"]["spherical"]["shape"] = [n, n]
    d["sample"]["particles"]["size_distribution"]["samples"] = samples
    return parse_template(d)


def counts(t: Template, seed: int = 0, peak: float = 300.0) -> np.ndarray:
    """Poisson counts of the template at its prior centre, ``peak`` at the 99th percentile."""
    values = {p: float(prior.from_unit(0.5)) for p, prior in t.priors.items()}
    img = dg.simulate(t.at(values))
    k = peak / np.nanpercentile(img, 99)
    return np.random.default_rng(seed).poisson(img * k).astype(float)


def floor(data: np.ndarray) -> float:
    return 1e-3 * float(np.percentile(data[np.isfinite(data) & (data > 0)], 99))


def optimum(fine: Problem, p: int) -> lm.Outcome:
    x = torch.cat([torch.zeros((1, p), dtype=torch.float64),
                   torch.zeros((1, 2), dtype=torch.float64)], 1)
    return lm.levenberg_marquardt(fine, x, max_iter=40, tol=0.01, rescale=True)


def fixed_fit(t: Template, data: np.ndarray, name: str, value: float,
              start: dict[str, float]) -> float:
    """The profile deviance at ``name`` = ``value`` by an independent route: the template
    compiled with that parameter fixed, the others fitted from ``start``."""
    free = free_tensors(t, fixed={name: value})
    fine = Problem(free, data, floor(data), 1, torch.float64, "poisson")
    u = torch.tensor([[float(q.prior.to_unit(start[q.name])) for q in free.params]],
                     dtype=torch.float64)
    x = torch.cat([torch.logit(u), torch.zeros((1, 2), dtype=torch.float64)], 1)
    out = lm.levenberg_marquardt(fine, x, max_iter=40, tol=0.01, rescale=True)
    return float(out.state.loss[0])


def test_a_held_column_stays_and_the_others_reach_the_profile() -> None:
    t = film()
    data = masked(t, counts(t), None)
    free = free_tensors(t)
    fine = Problem(free, data, floor(data), 1, torch.float64, "poisson")
    names = [q.name for q in free.params]
    best = optimum(fine, len(names))
    i = names.index("radius_nm")
    x = best.state.x.clone()
    x[0, i] += 0.3  # held off the optimum
    held = lm.levenberg_marquardt(fine, x, max_iter=40, tol=0.01, rescale=True,
                                  hold=torch.tensor([i]))
    assert float(held.state.x[0, i]) == pytest.approx(float(x[0, i]), abs=1e-9)
    others = [j for j in range(len(names)) if j != i]
    assert not torch.allclose(held.state.x[0, others], x[0, others])
    value = float(free.params[i].to_physical(held.state.theta[0, i]))
    start = dict(zip(names, (float(q.to_physical(best.state.theta[0, j]))
                             for j, q in enumerate(free.params)), strict=True))
    reference = fixed_fit(t, data, "radius_nm", value, start)
    assert float(held.state.loss[0]) == pytest.approx(reference, abs=0.05)
    assert float(held.state.loss[0]) > float(best.state.loss[0]) + 1.0


def test_profile_intervals_end_where_the_deviance_rises_by_the_level() -> None:
    t = film()
    data = masked(t, counts(t, seed=1), None)
    free = free_tensors(t)
    fine = Problem(free, data, floor(data), 1, torch.float64, "poisson")
    names = [q.name for q in free.params]
    best = optimum(fine, len(names))
    found, sims = profile_intervals(free, fine, best, 0, FitConfig())
    assert set(found) == set(names) and sims > 0
    cov = fisher_cov(fine, best.jac[0], best.state.model[0])
    assert cov is not None
    at = {q.name: float(q.to_physical(best.state.theta[0, j]))
          for j, q in enumerate(free.params)}
    loss0 = float(best.state.loss[0])
    for j, q in enumerate(free.params):
        lo68, hi68 = found[q.name]["68"]
        lo95, hi95 = found[q.name]["95"]
        assert lo95 < lo68 < at[q.name] < hi68 < hi95, q.name
        # near-quadratic here: the 95 % interval is about +-2 Fisher std
        half = 0.5 * (q.prior.to_unit(hi95) - q.prior.to_unit(lo95))
        assert half == pytest.approx(2 * float(cov[j, j]) ** 0.5, rel=0.3), q.name
    for name in ("radius_nm", "distance_nm"):  # the deviance at the ends, independently
        for key, level in LEVELS.items():
            for end in found[name][key]:
                rise = fixed_fit(t, data, name, end, at) - loss0
                assert rise == pytest.approx(level**2, abs=0.25 * level**2), (name, key, end)


def test_fit_image_reports_intervals_for_likelihoods_only() -> None:
    t = film(24)
    data = counts(t, seed=2)
    cfg = FitConfig(n_starts=32, profile=0)
    r = fit_image(t, data, config=cfg)
    assert set(r.extra["intervals"]) == set(r.parameters)
    for name, ends in r.extra["intervals"].items():
        assert ends["95"][0] <= r.parameters[name] <= ends["95"][1]
    assert "intervals" not in fit_image(t, data, config=dataclasses.replace(
        cfg, intervals=False)).extra
    assert "intervals" not in fit_image(t, data, config=dataclasses.replace(
        cfg, objective="log")).extra


def test_cli_writes_the_intervals_and_skips_them_when_asked(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture
                                                            ) -> None:
    t = film(16, 3)
    (tmp_path / "film.yaml").write_text(yaml.safe_dump(t.to_dict()))
    np.save(tmp_path / "img.npy", counts(t, seed=3))
    out = tmp_path / "fit.json"
    args = ["fit", str(tmp_path / "film.yaml"), str(tmp_path / "img.npy"), "-o", str(out)]
    assert main(args) == 0
    res = json.loads(out.read_text())
    assert res["objective"] == "poisson" and set(res["intervals"]) == set(res["parameters"])
    assert "95 % interval" in capsys.readouterr().out
    assert main([*args, "--no-intervals"]) == 0
    assert "intervals" not in json.loads(out.read_text())
    assert "95 % interval" not in capsys.readouterr().out


def test_points_known_below_a_level_widen_that_level_only() -> None:
    t = film()
    data = masked(t, counts(t, seed=1), None)
    free = free_tensors(t)
    fine = Problem(free, data, floor(data), 1, torch.float64, "poisson")
    best = optimum(fine, len(free.params))
    loss0 = float(best.state.loss[0])
    plain, _ = profile_intervals(free, fine, best, 0, FitConfig())
    lo95, hi95 = plain["distance_nm"]["95"]
    far, farther = hi95 + 5.0, hi95 + 9.0
    upper = {"distance_nm": [[far, loss0 + 2.5], [farther, loss0 + 5.0]]}
    found, _ = profile_intervals(free, fine, best, 0, FitConfig(), upper=upper)
    assert found["distance_nm"]["95"] == pytest.approx([lo95, far])  # 2.5 < 4 but 5 > 4
    assert found["distance_nm"]["68"] == pytest.approx(plain["distance_nm"]["68"])
    assert found["radius_nm"]["95"] == pytest.approx(plain["radius_nm"]["95"])
    wide, _ = profile_intervals(free, fine, best, 0, FitConfig(), widen=2.0, upper=upper)
    assert wide["distance_nm"]["95"][1] == pytest.approx(farther)  # 5 / 2 < 4


def test_the_profile_points_a_fit_reports_bound_the_profile_from_above() -> None:
    t = film()
    data = counts(t, seed=4)
    r = fit_image(t, data, config=FitConfig(n_starts=32, relax=8))
    upper = r.extra["profile"]["upper"]
    assert set(upper) == set(r.parameters) and len(upper["distance_nm"]) > 64
    at = dict(r.parameters)
    loss0 = r.extra["goodness_of_fit"]["deviance"]
    for name in ("distance_nm", "radius_nm"):
        points = sorted(upper[name], key=lambda p: p[1])
        assert points[0][1] >= loss0 - 1e-3
        for value, dev in points[1:4]:
            # the profile there, fitted independently, lies at or below the reported point
            assert fixed_fit(t, masked(t, data, None), name, value, at) <= dev + 0.05, (
                name, value)
