"""The overfill rule (deepgisas.fill) against BornAgain 25: it refuses a sample exactly when we
do, on both sides of the limit, for every interference type, with size distributions, domain
weights and particles inside an inner layer; with average materials off neither refuses."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from deepgisas.errors import UserError
from deepgisas.fill import check_fill, overfilled, volume_fractions
from deepgisas.parse import parse_experiment
from deepgisas.sample import Spherical
from tests.cases import PARA, base, hexagonal

SD = {"lognormal": {"sigma": 0.25}, "samples": 9, "width": 2.0}


def _set(d: dict, path: str, value: Any) -> dict:
    node: Any = d
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    node[parts[-1]] = value
    return d


def _case(shape: dict, itf: dict, path: str, sd: dict | None = None,
          layer: int = 0, placement: str = "deposit",
          film_nm: float | None = None) -> Callable[[float], dict]:
    """``film_nm``: layer 1 that thin, so that the particles cross into the ambient (each part's
    slice is then checked: the fullest decides)."""
    def make(x: float) -> dict:
        d = base(copy.deepcopy(shape), copy.deepcopy(itf), n=2)
        if film_nm is not None:
            d["sample"]["layers"][1]["thickness_nm"] = film_nm
        pt = d["sample"]["particles"]
        pt.update(layer=layer, placement=placement)
        if sd is not None:
            pt["size_distribution"] = copy.deepcopy(sd)
        return _set(d, path, x)
    return make


D_PARA = "sample.interference.radial_paracrystal.distance_nm"
A_HEX = "sample.interference.hexagonal_lattice.a_nm"
CASES: dict[str, tuple[Callable[[float], dict], float, float]] = {
    # name: (description of x, x range holding the limit f = 1)
    "dilute-sphere": (_case({"sphere": {"radius_nm": 5.0}}, {"dilute": {
        "area_density_per_nm2": 0.01}}, "sample.interference.dilute.area_density_per_nm2"),
        0.001, 0.1),
    "paracrystal-spheroid-sizes": (_case({"spheroid": {"radius_nm": 10.0, "height_nm": 8.0}},
                                         PARA, D_PARA, SD), 2.0, 60.0),
    "paracrystal-cylinder-inner-layer": (_case(
        {"cylinder": {"radius_nm": 6.0, "height_nm": 5.0}}, PARA, D_PARA, layer=1), 2.0, 60.0),
    "hexagonal-box-two-domains": (_case(
        {"box": {"length_nm": 10.0, "width_nm": 12.0, "height_nm": 4.0}},
        hexagonal([0.0, 10.0], [0.5, 0.3]), A_HEX), 2.0, 60.0),
    "hexagonal-hemisphere-sizes-suspended": (_case(
        {"hemisphere": {"radius_nm": 6.0}}, hexagonal([0.0], [0.9]), A_HEX,
        {"lognormal": {"sigma": 0.3}, "samples": 7, "width": 1.5}, layer=2,
        placement="suspend"), 2.0, 60.0),
    "crossing-sphere-thin-film": (_case({"sphere": {"radius_nm": 5.0}}, {"dilute": {
        "area_density_per_nm2": 0.01}}, "sample.interference.dilute.area_density_per_nm2",
        layer=1, film_nm=2.0), 0.001, 0.1),
    "crossing-cone-sizes-thin-film": (_case(
        {"cone": {"radius_nm": 6.0, "height_nm": 6.0, "alpha_deg": 70.0}}, PARA, D_PARA, SD,
        layer=1, film_nm=3.0), 2.0, 60.0),
}


def _fraction(d: dict) -> float:
    f = volume_fractions(parse_experiment(d, fill=False))
    assert f is not None
    return float(f[0])


def _limit(make: Callable[[float], dict], lo: float, hi: float) -> float:
    """x where our fraction is 1 (bisection; the fraction is monotonic in x)."""
    rising = _fraction(make(hi)) > _fraction(make(lo))
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if (_fraction(make(mid)) > 1.0) == rising:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def _bornagain_refuses(d: dict) -> bool:
    from deepgisas.reference import bornagain_simulate

    e = parse_experiment(d, fill=False)
    e = dataclasses.replace(e, detector=dataclasses.replace(
        e.detector, geometry=Spherical((-1.0, 1.0), (0.0, 2.0), (2, 2))))
    try:
        bornagain_simulate(e, threads=1)
    except Exception as exc:  # BornAgain's C++ exception, as a Python one
        assert "exceeds base volume" in str(exc), exc
        return True
    return False


def _we_refuse(d: dict) -> bool:
    try:
        parse_experiment(d)
    except UserError as exc:
        assert "overfill" in str(exc) and "sample.particles" in str(exc)
        return True
    return False


@pytest.mark.parametrize("name", sorted(CASES))
def test_bornagain_refuses_exactly_when_we_do(name: str) -> None:
    pytest.importorskip("bornagain")
    make, lo, hi = CASES[name]
    x = _limit(make, lo, hi)
    for factor in (1 - 1e-6, 1 + 1e-6, 0.5, 2.0):
        d = make(x * factor)
        assert _we_refuse(d) == (_fraction(d) > 1.0)
        assert _bornagain_refuses(d) == _we_refuse(d), (name, factor, _fraction(d))
    # both sides of the limit are covered
    assert {_we_refuse(make(x * 0.999999)), _we_refuse(make(x * 1.000001))} == {True, False}


def test_without_average_materials_nothing_is_refused() -> None:
    pytest.importorskip("bornagain")
    make, lo, hi = CASES["dilute-sphere"]
    d = make(0.05)
    assert _fraction(d) > 2.0 and _we_refuse(d) and _bornagain_refuses(d)
    d["options"] = {"use_average_materials": False}
    assert not _we_refuse(d) and not _bornagain_refuses(d)


def test_batched_fractions_match_one_at_a_time() -> None:
    make, _, _ = CASES["paracrystal-spheroid-sizes"]
    e = parse_experiment(make(20.0))
    sigma = "sample.particles.size_distribution.lognormal.sigma"
    draws = {D_PARA: [8.0, 20.0, 40.0], sigma: [0.1, 0.25, 0.4]}
    batched = volume_fractions(e, draws, 3)
    assert batched is not None
    for i in range(3):
        d = _set(_set(make(draws[D_PARA][i]), "sample.particles.size_distribution.lognormal."
                      "sigma", draws[sigma][i]), D_PARA, draws[D_PARA][i])
        assert batched[i] == pytest.approx(_fraction(d), rel=1e-12)
    assert list(overfilled(e, draws, 3)) == list(batched > 1.0)


def test_check_fill_names_the_problem() -> None:
    make, _, _ = CASES["dilute-sphere"]
    e = parse_experiment(make(0.05), fill=False)
    with pytest.raises(UserError, match=r"^sample\.particles: the particles overfill"):
        check_fill(e)
    check_fill(parse_experiment(make(0.005)))
    assert np.isclose(_fraction(make(0.005)), 0.005 * 4 / 3 * np.pi * 125 / 10)
