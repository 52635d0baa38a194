"""The instrument's resolution in the description format: beam.phi_i_deg, beam.divergence and
detector.resolution parse, round-trip, travel in instrument files and fail in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

import deepgisas as dg
from deepgisas.errors import UserError
from deepgisas.io.description import read_instrument
from deepgisas.io.instrument import resolution_on
from deepgisas.parse import parse_experiment, parse_instrument
from deepgisas.sample import Rectangular, Resolution, Spherical, Spread
from deepgisas.templates import parse_template
from tests.cases import CASES, _with, base

FULL = CASES["divergence-all-resolution-wavelength"]


def test_parsed_values_and_round_trip(tmp_path: Path) -> None:
    e = parse_experiment(FULL)
    assert e.beam.phi_i_deg == -2.0
    assert dict(e.beam.divergence) == {"alpha_i_deg": Spread(0.01, 3, 2.0),
                                       "phi_i_deg": Spread(0.3, 3, 2.0),
                                       "wavelength": Spread(0.01, 3, 2.0)}
    assert e.detector.resolution == Resolution((0.04, 0.04), "deg")
    assert parse_experiment(e.to_dict()) == e
    for suffix in (".yaml", ".json"):
        p = tmp_path / f"x{suffix}"
        dg.save(e, p)
        assert dg.load(p) == e


def test_a_plain_description_writes_none_of_it() -> None:
    out = parse_experiment(base()).to_dict()
    assert "phi_i_deg" not in out["beam"] and "divergence" not in out["beam"]
    assert "resolution" not in out["detector"]


def test_instrument_files_carry_resolution_and_divergence(tmp_path: Path) -> None:
    d = {k: FULL[k] for k in ("beam", "detector")}
    beam, det = parse_instrument(d)
    assert beam.divergence and det.resolution is not None
    p = tmp_path / "inst.json"
    p.write_text(__import__("json").dumps(d))
    assert read_instrument(p) == (beam, det)
    d2 = _with(d, "beam.divergence.alpha_i_deg.gaussian_std_deg", {"uniform": [0.01, 0.02]})
    with pytest.raises(UserError, match="measured"):
        parse_instrument(d2)


@pytest.mark.parametrize("path,value,message", [
    ("beam.divergence.alpha_i_deg.gaussian_std_deg", 0.0, "outside"),
    ("beam.divergence.wavelength.relative_std", 0.9, "outside"),
    ("beam.divergence.alpha_i_deg.samples", 0, "integer"),
    ("beam.divergence.alpha_i_deg.width", -1.0, "outside"),
    ("beam.divergence.alpha_i_deg.fwhm", 1.0, "unknown key 'fwhm'"),
    ("beam.divergence.energy", {"relative_std": 0.1}, "unknown key 'energy'"),
    ("beam.phi_i_deg", 200.0, "outside"),
    ("detector.resolution", {"gaussian_sigma_mm": [0.1, 0.1]}, "gaussian_sigma_deg"),
    ("detector.resolution", {"gaussian_sigma_deg": [0.1]}, "two numbers"),
    ("detector.resolution", {"gaussian_sigma_deg": [0.1, -0.1]}, "outside"),
])
def test_bad_values_are_one_line_errors(path: str, value: object, message: str) -> None:
    d = _with(FULL, "beam.divergence.alpha_i_deg",
              {"gaussian_std_deg": 0.01, "samples": 3, "width": 2.0})
    with pytest.raises(UserError, match=message) as err:
        parse_experiment(_with(d, path, value))
    assert "\n" not in str(err.value)
    assert path.split(".")[0] in str(err.value)


def test_a_flat_detector_takes_millimetres() -> None:
    d = base()
    d["detector"] = {"rectangular": {"shape": [8, 8], "pixel_size_mm": 0.172,
                                     "distance_mm": 1000.0, "beam_center_px": [4.0, -2.0]},
                     "resolution": {"gaussian_sigma_deg": [0.01, 0.01]}}
    with pytest.raises(UserError, match="gaussian_sigma_mm"):
        parse_experiment(d)
    d["detector"]["resolution"] = {"gaussian_sigma_mm": [0.2, 0.3]}
    assert parse_experiment(d).detector.resolution == Resolution((0.2, 0.3), "mm")


def test_resolution_between_detectors() -> None:
    flat = Rectangular((10, 10), 0.172, 1000.0, (5.0, 0.0))
    sph = Spherical()
    res = resolution_on(Resolution((0.172, 0.344), "mm"), flat, sph)
    assert res.unit == "deg" and res.sigma == pytest.approx((0.00985481, 0.01970962), rel=1e-5)
    back = resolution_on(res, sph, flat)
    assert back.unit == "mm" and back.sigma == pytest.approx((0.172, 0.344))


def test_widths_may_be_priors_in_a_template() -> None:
    d = _with(FULL, "detector.resolution.gaussian_sigma_deg.1", {"uniform": [0.02, 0.06]})
    t = parse_template(d)
    assert list(t.priors) == ["detector.resolution.gaussian_sigma_deg.1"]
    res = t.base.detector.resolution
    assert res is not None and res.sigma == pytest.approx((0.04, 0.04))
