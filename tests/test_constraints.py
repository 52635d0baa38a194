"""Constraints between a template's priors (deepgisas.constraints): the grammar, its refusals
(no code is ever run), and drawing by rejection (deepgisas.templates.draw_parameters)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from deepgisas.errors import UserError
from deepgisas.fill import volume_fractions
from deepgisas.io.description import load_template, read_template
from deepgisas.templates import Template, draw_parameters, parse_template
from tests.cases import PARA, base

R = "sample.particles.shape.sphere.radius_nm"
D = "sample.interference.radial_paracrystal.distance_nm"


def _film(*constraints: str) -> dict:
    d = base({"sphere": {"radius_nm": {"uniform": [2.0, 10.0]}}}, copy.deepcopy(PARA), n=8)
    d["sample"]["interference"]["radial_paracrystal"]["distance_nm"] = {"uniform": [5.0, 60.0]}
    d["beam"]["alpha_i_deg"] = {"uniform": [0.15, 0.3]}
    if constraints:
        d["constraints"] = list(constraints)
    return d


def _values(t: Template, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    draws = draw_parameters(t, n, seed)
    return np.array(draws[R]), np.array(draws[D])


@pytest.mark.parametrize("text", [
    "distance_nm >= 2 * radius_nm",
    f"{D} >= 2 * {R}",
    "2 * radius_nm <= distance_nm <= 40",
    "distance_nm - 2*radius_nm > -0.0 and radius_nm ** 2 < 1e3",
    "distance_nm / radius_nm >= -(-2)",
    "distance_nm >= 2 * radius_nm + sample.layers.1.thickness_nm / 60",  # fixed: 60 nm
])
def test_good_constraints_hold_in_every_draw(text: str) -> None:
    t = parse_template(_film(text))
    r, d = _values(t, 500, 3)
    assert len(r) == 500 and np.all(d >= 2 * r - 1e-12)
    assert t.to_dict()["constraints"] == [text]  # written back as given


@pytest.mark.parametrize("text,message", [
    ("__import__('os').system('touch /tmp/pwned')", "function calls are not allowed"),
    ("__import__('os').system('touch /tmp/pwned') > 0", "function calls are not allowed"),
    ("radius_nm.__class__ > 0", "unknown name"),
    ("(lambda: 1)() > 0", "function calls"),
    ("[radius_nm][0] > 0", "not allowed in a constraint"),
    ("radius_nm if 1 else 0 > 0", "a constraint is a comparison"),
    ("radius_nm", "a constraint is a comparison"),
    ("radius_nm > 1 or radius_nm < 0", "only 'and'"),
    ("radius_nm == 3", "compare with < <= > >= only"),
    ("radius_nm > 'a'", "is not a number"),
    ("(radius_nm > 1) + 1 > 0", "a comparison cannot be a number"),
    ("radius > 1", "unknown name 'radius'"),
    ("delta > 0", "'delta' names 3 numbers"),
    ("sample.layers.7.thickness_nm > 1", "unknown name"),
    ("radius_nm >", "not a valid constraint"),
    ("radius_nm > 20", "never holds in 4096 draws"),
    ("sample.layers.1.thickness_nm < 1", "never holds for the description's numbers"),
    ("alpha_i_deg > 1", "never holds"),
])
def test_bad_constraints_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(UserError) as err:
        parse_template(_film("distance_nm >= 2 * radius_nm", text))
    assert str(err.value).startswith("constraints.1: ") and message in str(err.value)
    assert "\n" not in str(err.value)
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("value", [[], "radius_nm > 1", [3], [""]])
def test_the_list_itself_is_checked(value: object) -> None:
    d = _film()
    d["constraints"] = value
    with pytest.raises(UserError, match=r"^constraints"):
        parse_template(d)


def test_an_orientation_prior_is_not_a_number() -> None:
    d = base({"sphere": {"radius_nm": {"uniform": [2.0, 10.0]}}}, {"hexagonal_lattice": {
        "a_nm": 40.0, "orientation": {"random_bins": {"bins": 12}}}}, n=8)
    d["constraints"] = ["orientation > 1"]
    with pytest.raises(UserError, match="not a number"):
        parse_template(d)


def test_a_file_error_names_the_file_and_the_constraint(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(_film("open('x') > 1")))
    with pytest.raises(UserError, match=rf"^{p}: constraints\.0: function calls"):
        read_template(p)


def test_drawing_is_reproducible_and_unconstrained_templates_draw_as_before() -> None:
    d = _film()
    d["options"] = {"use_average_materials": False}  # nothing refused: the priors alone
    free, held = parse_template(d), parse_template(_film("distance_nm >= 2 * radius_nm"))
    r0, d0 = _values(free, 200, 7)
    r1, d1 = _values(held, 200, 7)
    r2, d2 = _values(held, 200, 7)
    assert np.array_equal(r1, r2) and np.array_equal(d1, d2)
    assert not np.all(d0 >= 2 * r0) and np.all(d1 >= 2 * r1)
    # the kept draws are the priors' own, in order: the first round is the same candidates
    kept = d0 >= 2 * r0
    assert np.array_equal(r1[:kept.sum()], r0[kept]) and np.array_equal(d1[:kept.sum()], d0[kept])
    # without constraints and overfills the draws are the priors' draws, value for value
    rng = np.random.default_rng(7)
    ref = {p: prior.sample(rng, 200) for p, prior in free.priors.items()}  # type: ignore[union-attr]
    assert np.array_equal(r0, ref[R]) and np.array_equal(d0, ref[D])
    assert _values(held, 200, 8)[0].tolist() != r1.tolist()


def test_constraints_thin_the_prior_like_a_truncation() -> None:
    t = parse_template(_film("distance_nm >= 2 * radius_nm"))
    r, d = _values(t, 4000, 1)
    # uniform on the allowed region: P(R < 6) there = area(R < 6) / area, D in [2R, 60]
    area = lambda a, b: (60 * (b - a) - (b * b - a * a))  # noqa: E731
    expected = area(2.0, 6.0) / area(2.0, 10.0)
    assert abs(np.mean(r < 6.0) - expected) < 0.03


def test_a_tiny_acceptance_is_an_error() -> None:
    # each holds in about 1 % of the draws, both in about 1 in 10000
    t = parse_template(_film("distance_nm < 5.5", "radius_nm < 2.1"))
    with pytest.raises(UserError, match=r"^constraints: only \d+ of \d+ draws"):
        draw_parameters(t, 100, 0)


def test_draws_never_overfill_even_without_constraints() -> None:
    t = parse_template(_film())
    draws = draw_parameters(t, 400, 0)
    f = volume_fractions(t.base, draws, 400)
    assert f is not None and np.all(f <= 1.0)
    unfiltered = dataclasses.replace(t, base=dataclasses.replace(t.base,
                                                                 use_average_materials=False))
    g = volume_fractions(t.base, draw_parameters(unfiltered, 400, 0), 400)
    assert g is not None and np.any(g > 1.0)  # the rule is what keeps them out


def test_film_draws_keep_distance_at_least_a_diameter_and_never_overfill() -> None:
    t = load_template("film")
    assert [c.text for c in t.constraints] == ["distance_nm >= 2 * radius_nm"]
    experiments = t.draw(64, seed=0)
    for e in experiments:
        radius = e.sample.particles.shape["radius_nm"]  # type: ignore[union-attr]
        distance = e.sample.interference.params["distance_nm"]  # type: ignore[union-attr]
        assert distance >= 2 * radius
        f = volume_fractions(e)
        assert f is not None and f[0] <= 1.0


def test_fix_keeps_the_constraints_meaning() -> None:
    t = parse_template(_film("distance_nm >= 2 * radius_nm"))
    fixed = t.fix({R: 5.0})
    assert R not in fixed.priors
    d = np.array(draw_parameters(fixed, 300, 0)[D])
    assert np.all(d >= 10.0) and d.min() < 12.0
    with pytest.raises(UserError, match="never holds"):
        t.fix({R: 5.0, D: 8.0})


def test_a_short_name_fixed_since_reads_its_number() -> None:
    d = _film("distance_nm >= 2 * radius_nm")
    d["sample"]["particles"]["shape"]["sphere"]["radius_nm"] = 8.0
    t = parse_template(d)
    assert np.all(np.array(draw_parameters(t, 300, 0)[D]) >= 16.0)
