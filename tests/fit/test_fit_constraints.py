"""The fit and a template's constraints: its prior starts lie where the template's draws do,
and an answer outside them is flagged (the search itself is not constrained)."""

from __future__ import annotations

import numpy as np

from deepgisas.fit.problem import FitResult, flag_bounds, prior_points
from deepgisas.fit.tensors import free_tensors
from deepgisas.io.description import load_template
from deepgisas.templates import Template, parse_template

R, D = "radius_nm", "distance_nm"


def _physical(template: Template, rows: np.ndarray) -> dict[str, np.ndarray]:
    free = free_tensors(template)
    return {q.name: np.asarray(q.prior.from_unit(rows[:, i])) for i, q in
            enumerate(free.params)}


def test_prior_starts_keep_the_constraints_and_the_sobol_order() -> None:
    film = load_template("film")
    free = free_tensors(film)
    rows = prior_points(film, free, 64, seed=3)
    v = _physical(film, rows)
    assert rows.shape == (64, len(free.params)) and np.all(v[D] >= 2 * v[R])
    # without the constraint (and nothing overfilled): the centre and the plain Sobol points
    d = film.to_dict()
    d.pop("constraints")
    d["options"] = {"use_average_materials": False}
    loose = parse_template(d)
    plain = prior_points(loose, free_tensors(loose), 64, seed=3)
    w = _physical(loose, plain)
    assert np.any(w[D] < 2 * w[R])
    kept = plain[w[D] >= 2 * w[R]]
    assert np.array_equal(rows[:len(kept)], kept)


def test_an_answer_outside_the_constraints_is_flagged() -> None:
    film = load_template("film")
    free = free_tensors(film)
    names = [q.name for q in free.params]

    def result(values: dict[str, float]) -> FitResult:
        theta = np.array([float(q.prior.to_unit(values.get(q.name, q.prior.from_unit(0.5))))
                          for q in free.params])
        params = {q.name: float(q.prior.from_unit(t)) for q, t in zip(free.params, theta,
                                                                          strict=True)}
        return flag_bounds(FitResult(parameters=params, std={n: 1.0 for n in names}, misfit=0.0,
                                     seconds=0.0, fitted=np.zeros(1), theta=theta), free, film)

    inside = result({R: 5.0, D: 30.0})
    assert "outside_constraints" not in inside.extra and "overfilled" not in inside.extra
    touching = result({R: 10.0, D: 15.0})  # overlapping, not overfilled
    assert touching.extra["outside_constraints"] == ["distance_nm >= 2 * radius_nm"]
    assert "overfilled" not in touching.extra
    packed = result({R: 12.0, D: 9.0, "sigma": 0.1})
    assert packed.extra["overfilled"] > 1.0
    from deepgisas.cli.fit import flag_lines

    lines = flag_lines(packed)
    assert any("break the constraint 'distance_nm >= 2 * radius_nm'" in x for x in lines)
    assert any("overfill their slice" in x for x in lines) and not flag_lines(inside)
