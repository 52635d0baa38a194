"""Results that look like measurements but are not: a fitted value pinned at its prior's
bound, and a network start the fit disagrees with."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deepgisas as dg
from deepgisas.fit import FitConfig, fit_image
from deepgisas.fit.files import disagreement
from deepgisas.fit.problem import FitResult
from deepgisas.parse import parse_experiment
from deepgisas.priors import Uniform, bound_flag
from deepgisas.templates import parse_template
from tests.data.helpers import small_film


def test_a_value_beyond_the_prior_is_pinned_at_its_bound_and_flagged() -> None:
    """Data whose paracrystal disorder omega (30 nm) lies beyond the prior [0.5, 20]: the fit
    ends at 20 nm, and says so (at_bound, null std) instead of reporting 20 +- a tiny
    error; the distance, inside its prior, is a measurement as before."""
    d = small_film(32).to_dict()
    d.pop("labels")
    for k in ("radius_nm", "height_nm"):
        d["sample"]["particles"]["shape"]["spheroid"][k] = 6.0
    d["beam"]["alpha_i_deg"] = 0.25
    template = parse_template(d)
    para = dict(d["sample"]["interference"]["radial_paracrystal"], distance_nm=40.0,
                omega_nm=30.0)
    truth = d | {"sample": d["sample"] | {"interference": {"radial_paracrystal": para}}}
    image = dg.simulate(parse_experiment(truth)) * 1e4
    r = fit_image(template, image, config=FitConfig(n_starts=8, n_polish=2))
    assert r.parameters["omega_nm"] == pytest.approx(20.0, rel=0.01)
    flag = r.extra["at_bound"]["omega_nm"]
    assert flag["bound"] == "upper" and flag["prior"] == [0.5, 20.0]
    assert r.to_dict("x")["std"]["omega_nm"] is None
    assert "distance_nm" not in r.extra["at_bound"] and np.isfinite(r.std["distance_nm"])


def test_bound_flag() -> None:
    prior = Uniform(0.5, 20.0)
    assert bound_flag(prior, 10.0, 0.01) is None
    assert bound_flag(prior, 19.9, 0.01)["bound"] == "upper"
    assert bound_flag(prior, 19.9) is None  # inside: not beyond
    beyond = bound_flag(prior, 20.8)
    assert beyond["outside"] and beyond["value"] == 20.8


def test_disagreement_in_combined_std() -> None:
    net = {"parameters": {"radius_nm": 5.0, "distance_nm": 40.0},
           "std": {"radius_nm": 0.3, "distance_nm": 2.0}}
    fit = FitResult({"radius_nm": 6.2, "distance_nm": 41.0, "omega_nm": 3.0},
                    {"radius_nm": 0.4, "distance_nm": float("nan"), "omega_nm": 0.1},
                    0.0, 0.0, np.zeros(1))
    z = disagreement(net, fit)
    assert z["radius_nm"] == pytest.approx(1.2 / 0.5)
    assert z["distance_nm"] == pytest.approx(0.5)  # the fit's std is missing: the network's
    assert set(z) == {"radius_nm", "distance_nm"} and not math.isnan(z["radius_nm"])


def test_an_unsettled_orientation_posterior_is_flagged() -> None:
    from deepgisas.cli.fit import flag_lines

    def result(settled: bool) -> FitResult:
        post = {"split_tv": 0.35 if not settled else 0.02, "settled": settled}
        return FitResult({}, {}, 0.0, 1.0, np.zeros((2, 2)), extra={"posterior": post})

    lines = flag_lines(result(False))
    assert len(lines) == 1 and "has not settled" in lines[0] and "0.35" in lines[0]
    assert flag_lines(result(True)) == []


def test_a_spacing_with_two_valleys_is_flagged() -> None:
    from deepgisas.cli.fit import flag_lines

    modes = [{"parameters": {"radius_nm": 2.0, "distance_nm": 90.5}, "deviance": 10.0,
              "weight": 0.89},
             {"parameters": {"radius_nm": 2.1, "distance_nm": 45.2}, "deviance": 14.0,
              "weight": 0.11, "along": "distance_nm"}]
    profile = {"points": {"distance_nm": 64, "radius_nm": 32},
               "valleys": {"distance_nm": [45.2]}, "kept": "search", "along": ["distance_nm"]}
    two = FitResult({}, {}, 0.0, 1.0, np.zeros((2, 2)),
                    extra={"profile": profile, "modes": modes})
    lines = flag_lines(two)
    assert len(lines) == 1 and "2 valleys of distance_nm: 90.5 (weight 0.89), 45.2 " in lines[0]
    assert flag_lines(FitResult({}, {}, 0.0, 1.0, np.zeros((2, 2)),
                                extra={"profile": profile})) == []
    from deepgisas.report_text import fit_table

    assert "  " + lines[0] in fit_table(two.to_dict("x.tif")).splitlines()
