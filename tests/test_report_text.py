"""The terminal tables of fit and predict, from fixed result records."""

from __future__ import annotations

import numpy as np
import pytest

from deepgisas.report_text import (
    distribution_peaks,
    fit_table,
    predict_table,
    unit_of,
    value_text,
)

FIT = {"image": "/data/galaxi.tif", "parameters": {"radius_nm": 4.6861, "sigma": 0.4,
                                                   "distance_nm": 31.92},
       "std": {"radius_nm": 0.0941, "sigma": None, "distance_nm": 0.48}, "misfit": 1.2,
       "seconds": 3.25, "objective": "poisson",
       "at_bound": {"sigma": {"bound": "upper", "prior": [0.05, 0.4], "value": 0.4,
                              "outside": False}},
       "goodness_of_fit": {"objective": "poisson", "deviance": 3100.0, "expected": 1000.0,
                           "expected_std": 45.0, "per_dof": 3.1, "described": False,
                           "widen": 3.1},
       "network": {"parameters": {"radius_nm": 7.43, "sigma": 0.28, "distance_nm": 33.0}},
       "disagreement": {"radius_nm": -6.5, "sigma": 4.4, "distance_nm": -1.0},
       "disagree": ["radius_nm", "sigma"],
       "beam": {"wavelength_nm": {"value": 0.1341, "source": "instrument"}}}


def test_units_and_rounding() -> None:
    assert [unit_of(n) for n in ("radius_nm", "position_variance_nm2", "alpha_i_deg",
                                 "sigma", "area_density_per_nm2")] == [
        "nm", "nm^2", "deg", "", "1/nm^2"]
    assert value_text(5.7512, 0.0312) == ("5.751", "0.031")
    assert value_text(123.4, 12.0) == ("123", "12")
    assert value_text(-0.183, 20.4) == ("-0.18", "20")
    assert value_text(0.4, None) == ("0.4", "-")
    assert value_text(0.4, float("nan")) == ("0.4", "-")


def test_fit_table_shows_values_flags_and_the_goodness_of_fit() -> None:
    text = fit_table(FIT)
    lines = text.splitlines()
    assert lines[0] == "fit of galaxi.tif in 3.2 s, objective poisson"
    row = next(x for x in lines if x.strip().startswith("radius_nm"))
    assert row.split()[:4] == ["radius_nm", "4.686", "0.094", "nm"]
    assert "the network says 7.43 (-6.5 std)" in row
    row = next(x for x in lines if x.strip().startswith("sigma"))
    assert row.split()[:3] == ["sigma", "0.4", "-"]
    assert "at the prior's upper edge (0.05 to 0.4)" in row and "+4.4 std" in row
    assert "network" not in next(x for x in lines if x.strip().startswith("distance_nm"))
    assert "poor fit: deviance 3.1 per degree of freedom" in text
    assert "from the instrument (held): wavelength_nm 0.1341" in text
    good = FIT | {"goodness_of_fit": FIT["goodness_of_fit"] | {"per_dof": 1.01,
                                                               "described": True}}
    assert "good fit: deviance 1.01 per degree of freedom" in fit_table(good)
    log = {k: v for k, v in FIT.items() if k != "goodness_of_fit"} | {"objective": "log"}
    assert "misfit 1.2 (log objective" in fit_table(log)


def test_fit_table_shows_the_95_percent_interval_when_the_fit_has_one() -> None:
    rec = FIT | {"intervals": {"radius_nm": {"68": [4.59, 4.78], "95": [4.5012, 4.8803]},
                               "distance_nm": {"68": [31.4, 32.4], "95": [30.97, 32.9]}}}
    lines = fit_table(rec).splitlines()
    assert "95 % interval" in next(x for x in lines if "parameter" in x)
    row = next(x for x in lines if x.strip().startswith("radius_nm"))
    assert row.split()[:6] == ["radius_nm", "4.686", "0.094", "4.501", "to", "4.880"]
    row = next(x for x in lines if x.strip().startswith("sigma"))
    assert row.split()[:4] == ["sigma", "0.4", "-", "-"]
    assert "interval" not in fit_table(FIT)


def test_fit_table_lists_the_orientation_peaks() -> None:
    peaks = [{"xi_deg": 0.2, "weight": 0.7, "std": float("nan"), "std_bootstrap": 0.031},
             {"xi_deg": 30.1, "weight": 0.25, "std": float("nan"), "std_bootstrap": 0.02},
             {"xi_deg": 12.0, "weight": 0.03, "std": float("nan"), "std_bootstrap": 0.01},
             {"xi_deg": 45.0, "weight": 0.02, "std": float("nan"), "std_bootstrap": 0.01}]
    rec = {"image": "hex.npy", "parameters": {"a_nm": 34.0}, "std": {"a_nm": 0.2},
           "seconds": 1.0, "misfit": 0.1, "objective": "poisson",
           "probability": [0.0] * 120, "peaks": peaks,
           "posterior": {"settled": False, "split_tv": 0.2}}
    lines = fit_table(rec).splitlines()
    at = lines.index("  orientation peaks (posterior), heaviest first:")
    assert lines[at + 2].split() == ["0.2", "0.700", "0.031"]
    assert lines[at + 3].split() == ["30.1", "0.250", "0.020"]
    assert lines[at + 5] == "    and 1 smaller peak"
    assert lines[at - 1] == "  misfit 0.1"  # the posterior's fit has no goodness of fit
    assert "has not settled (split TV 0.20)" in lines[-1]


def test_distribution_peaks_of_a_spread_network_answer() -> None:
    xi = np.arange(120) * 0.5
    p = np.full(120, 0.002)
    p[[13, 14, 15]] = [0.1, 0.3, 0.1]  # around 7 deg
    p[[100, 101]] = [0.12, 0.1]  # around 50 deg
    p[60] = 0.01  # below a tenth of the highest (smoothed): no peak
    p /= p.sum()
    found = distribution_peaks(p, xi)
    assert [q["xi_deg"] for q in found] == [7.0, 50.0]
    assert found[0]["lo_deg"] == pytest.approx(6.25) and found[0]["hi_deg"] == pytest.approx(
        7.75)
    assert found[0]["weight"] == pytest.approx(p[13:16].sum())
    assert distribution_peaks(np.zeros(120), xi) == []


def test_predict_table_for_one_and_for_many_images() -> None:
    one = {"image": "a/img0.npy", "parameters": {"radius_nm": 14.2087, "sigma": 0.0642},
           "std": {"radius_nm": 0.6014, "sigma": 0.009}, "extrapolation": [],
           "outside_prior": {"sigma": {"bound": "lower", "prior": [0.05, 0.4],
                                       "value": 0.04, "outside": True}}}
    text = predict_table({"model": "film", "results": [one]})
    lines = text.splitlines()
    assert lines[0] == "model film, 1 image: img0.npy"
    assert lines[2].split()[:4] == ["radius_nm", "14.21", "0.60", "nm"]
    assert "beyond the training prior's lower edge" in lines[3]
    many = {"model": "film", "results": [one | {"image": f"img{i}.npy"} for i in range(25)]}
    lines = predict_table(many, max_rows=20).splitlines()
    assert lines[0] == "model film, 25 images"
    assert lines[1].split()[:3] == ["image", "radius_nm", "(nm)"]
    assert lines[2].split()[:4] == ["img0.npy", "14.21", "+-", "0.60"]
    assert "sigma lower edge" in lines[2]
    assert len(lines) == 2 + 20 + 1 and lines[-1] == "  ... and 5 more in the JSON"
    p = np.zeros(120)
    p[14] = 1.0
    hexes = {"model": "hex", "results": [{"image": "h.npy", "probability": list(p),
                                          "xi_deg": list(np.arange(120) * 0.5)}]}
    # one bin: the three-bin smoothing widens its half-maximum interval to three bins
    assert "7.0 deg (6.2 to 7.8) weight 1.00" in predict_table(hexes)
