"""Templates apart from experiments: an Experiment holds numbers only, a Template its base
experiment, priors and labels."""

from __future__ import annotations

import dataclasses

import pytest

import deepgisas as dg
from deepgisas.errors import UserError
from deepgisas.parse import parse_experiment, parse_instrument
from deepgisas.priors import Uniform
from deepgisas.templates import parse_template

RADIUS = "sample.particles.shape.spheroid.radius_nm"


def _numbers(node: object) -> list:
    """Every leaf of a dataclass tree."""
    if dataclasses.is_dataclass(node):
        return [x for f in dataclasses.fields(node) for x in _numbers(getattr(node, f.name))]
    if isinstance(node, tuple):
        return [x for v in node for x in _numbers(v)]
    return [node]


def test_load_gives_an_experiment_or_a_template() -> None:
    assert isinstance(dg.load("hex-talk"), dg.Experiment)
    film = dg.load("film")
    assert isinstance(film, dg.Template) and film.priors
    assert isinstance(dg.load_template("hex-talk"), dg.Template)
    assert not dg.load_template("hex-talk").priors


def test_a_templates_base_holds_numbers_at_the_prior_centres() -> None:
    t = dg.load_template("film")
    leaves = _numbers(t.base)
    assert not any(isinstance(v, Uniform) for v in leaves)
    lo, hi = t.priors[RADIUS].lo, t.priors[RADIUS].hi
    assert dict(t.base.sample.particles.shape.values)["radius_nm"] == pytest.approx(
        (lo + hi) / 2 if isinstance(t.priors[RADIUS], Uniform) else (lo * hi) ** 0.5)


def test_at_sets_every_free_parameter_and_refuses_a_missing_one() -> None:
    t = dg.load_template("film")
    values = {p: float(prior.from_unit(0.25)) for p, prior in t.priors.items()}
    e = t.at(values)
    assert dict(e.sample.particles.shape.values)["radius_nm"] == pytest.approx(values[RADIUS])
    with pytest.raises(UserError, match="no value for"):
        t.at({RADIUS: 5.0})


def test_fix_removes_the_parameter_from_the_priors_and_the_labels() -> None:
    d = dg.load_template("film").to_dict()
    d["labels"] = ["radius_nm", "distance_nm"]
    t = parse_template(d)
    fixed = t.fix({RADIUS: 4.0})
    assert RADIUS not in fixed.priors and fixed.labels == (
        "sample.interference.radial_paracrystal.distance_nm",)
    assert dict(fixed.base.sample.particles.shape.values)["radius_nm"] == 4.0


def test_draw_is_seeded_and_gives_experiments() -> None:
    t = dg.load_template("hex-orientation")
    a, b = t.draw(3, seed=1), t.draw(3, seed=1)
    assert a == b and all(isinstance(e, dg.Experiment) for e in a)


def test_priors_keep_the_format_order_whatever_the_files_order() -> None:
    d = dg.load_template("film").to_dict()
    shuffled = {k: d[k] for k in reversed(list(d))}
    assert list(parse_template(shuffled).priors) == list(parse_template(d).priors)


def test_a_concrete_parse_and_an_instrument_refuse_priors() -> None:
    d = dg.load_template("film").to_dict()
    with pytest.raises(UserError, match="template with free parameters"):
        parse_experiment(d)
    with pytest.raises(UserError, match="instrument's numbers are measured"):
        parse_instrument(d)
