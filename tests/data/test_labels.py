"""Priors drawn from templates, and labels: their layout, bounds, distribution, round trip."""

from __future__ import annotations

import numpy as np
import pytest

import deepgisas as dg
from deepgisas.data.labels import LabelSpace, record, xi_histogram
from deepgisas.errors import UserError
from deepgisas.templates import draw_parameters, parse_template

N = 4000
KS_CRIT = 1.95 / np.sqrt(N)  # Kolmogorov-Smirnov critical value at the 0.1 % level


def ks_uniform(u: np.ndarray) -> float:
    """KS distance between a sample in [0, 1] and the uniform distribution."""
    u = np.sort(u)
    i = np.arange(1, len(u) + 1)
    return float(max(np.max(i / len(u) - u), np.max(u - (i - 1) / len(u))))


def test_numeric_priors_match_bounds_and_distribution() -> None:
    d = dg.load("film").to_dict()
    d.pop("constraints")  # the priors alone: nothing rejected (tests/test_constraints.py
    d["options"] = {"use_average_materials": False}  # tests the draws with constraints)
    t = parse_template(d)
    draws = draw_parameters(t, N, seed=11)
    for path, prior in t.priors.items():
        x = np.asarray(draws[path])
        assert x.min() >= prior.lo and x.max() <= prior.hi, path
        assert ks_uniform(np.asarray(prior.to_unit(x))) < KS_CRIT, path
    # the check has power: a log-uniform sample seen linearly is far from uniform
    log_u = np.exp(np.random.default_rng(0).uniform(0, np.log(100), N))
    assert ks_uniform((log_u - 1) / 99) > 10 * KS_CRIT


def test_orientation_prior_bins_counts_and_weights() -> None:
    t = dg.load("hex-orientation")
    path = LabelSpace.of(t).orientation
    orients = draw_parameters(t, N, seed=5)[path]
    counts = np.array([len(o["xi_deg"]) for o in orients])
    assert set(counts) == {1, 2, 3, 4, 5}
    # number of non-zero bins is uniform on 1..5: chi-square with 4 dof, 0.1 % level 18.5
    freq = np.bincount(counts, minlength=6)[1:]
    assert np.sum((freq - N / 5) ** 2 / (N / 5)) < 18.5
    dist = xi_histogram(orients, 120)
    assert np.allclose(dist.sum(1), 1.0, atol=1e-6) and (dist >= 0).all()
    assert ((dist > 0).sum(1) == counts).all()  # distinct bins
    # every bin is used about equally: chi-square with 119 dof, 0.1 % level 169
    hits = (dist > 0).sum(0)
    assert np.sum((hits - hits.mean()) ** 2 / hits.mean()) < 169


def test_labels_round_trip_between_unit_box_and_physical_values() -> None:
    t = dg.load("film")
    space = LabelSpace.of(t)
    draws = draw_parameters(t, 200, seed=2)
    theta = space.encode(draws)["theta"]
    assert theta.shape == (200, 5) and theta.min() >= 0 and theta.max() <= 1
    back = space.decode(theta)
    for path in space.numeric:
        np.testing.assert_allclose(back[space.short[path]], draws[path], rtol=2e-6)


def test_log_uniform_label_is_logarithmic() -> None:
    d = dg.load("film").to_dict()
    d["sample"]["interference"]["radial_paracrystal"]["distance_nm"] = {"log_uniform": [5, 100]}
    space = LabelSpace.of(parse_template(d))
    theta = np.full((1, len(space.names)), 0.5)
    assert space.decode(theta)["distance_nm"][0] == pytest.approx(np.sqrt(5 * 100))


def test_beam_priors_are_nuisance_unless_named() -> None:
    film = LabelSpace.of(dg.load("film"))
    assert film.nuisance == ("beam.alpha_i_deg",) and "alpha_i_deg" not in film.names
    assert film.orientation is None and film.bins == 0
    d = dg.load("film").to_dict()
    d["labels"] = ["alpha_i_deg", "distance_nm"]
    chosen = LabelSpace.of(parse_template(d))
    assert chosen.names == ["alpha_i_deg", "distance_nm"]
    hexo = LabelSpace.of(dg.load("hex-orientation"))  # labels: [orientation] in the file
    assert hexo.orientation is not None and hexo.bins == 120 and hexo.numeric == ()
    assert "beam.wavelength_nm" in hexo.nuisance and len(hexo.nuisance) == 6


@pytest.mark.parametrize("labels", [["nope"], "radius_nm", [], ["radius_nm", "radius_nm"]])
def test_bad_labels_are_user_errors(labels: object) -> None:
    d = dg.load("film").to_dict()
    d["labels"] = labels
    with pytest.raises(UserError, match="labels"):
        parse_template(d)


def test_drawn_experiments_carry_no_labels_and_record_everything() -> None:
    t = dg.load("hex-orientation")
    e = dg.sample_experiments(t, 1, seed=0)[0]
    assert isinstance(e, dg.Experiment) and "labels" not in e.to_dict()
    rec = record(draw_parameters(t, 3, seed=0))
    xi = rec["sample.interference.hexagonal_lattice.orientation.xi_deg"]
    w = rec["sample.interference.hexagonal_lattice.orientation.weights"]
    assert xi.shape == (3, 5) and np.allclose(np.nansum(w, 1), 1.0)
    assert np.array_equal(np.isnan(xi), np.isnan(w))
