"""Particles across layer interfaces: which layers they overlap, the fit's spanning structure,
and what is refused. Their agreement with BornAgain 25 is in test_bornagain_equivalence
(the ``crossing-*`` cases of tests/cases.py)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import deepgisas as dg
from deepgisas.compile import spanning_structure, structure_of
from deepgisas.fit import free_tensors
from deepgisas.parse import parse_experiment
from deepgisas.physics.crossing import part_volumes
from deepgisas.physics.formfactors import SHAPES
from deepgisas.placement import overlapped_layers
from deepgisas.templates import instantiate, parse_template
from deepgisas.units import DEG
from tests.cases import CASES


@pytest.mark.parametrize("name,expected", [
    ("crossing-protruding-sphere", ((0, True, False), (1, False, False))),
    ("crossing-sunk-box", ((1, True, False), (2, False, True))),
    ("crossing-galaxi", ((1, False, False), (2, False, True))),
    ("crossing-from-ambient-into-film", ((0, True, False), (1, False, True))),
    ("buried-deposit-middle", ((1, True, True),)),
    ("sphere-dilute", ((0, True, False),)),
])
def test_overlapped_layers(name: str, expected: tuple) -> None:
    assert overlapped_layers(parse_experiment(CASES[name])) == expected


def test_without_average_materials_particles_stay_whole() -> None:
    """BornAgain 25 cuts particles at interfaces only with average materials on."""
    on = structure_of(parse_experiment(CASES["crossing-protruding-sphere"]))
    off = structure_of(parse_experiment(CASES["crossing-protruding-sphere-avg-off"]))
    assert on.crossing and not off.crossing and off.slice_above


def test_core_shell_particles_must_not_cross() -> None:
    d = copy.deepcopy(CASES["crossing-protruding-sphere"])
    d["sample"]["particles"]["core"] = {"material": {"delta": 2e-5, "beta": 1e-6},
                                        "shape": {"sphere": {"radius_nm": 2.0}}}
    with pytest.raises(dg.UserError, match="cross an interface"):
        parse_experiment(d)


def _galaxi_template(n: int = 16, name: str = "crossing-galaxi") -> dg.Template:
    d = copy.deepcopy(CASES[name])
    d["detector"]["spherical"]["shape"] = [n, n]
    d["sample"]["particles"]["shape"]["sphere"]["radius_nm"] = {"uniform": [3.0, 9.0]}
    d["sample"]["particles"]["size_distribution"]["lognormal"]["sigma"] = {
        "uniform": [0.1, 0.45]}
    return parse_template(d)


@pytest.mark.parametrize("name,layers", [("crossing-galaxi", [1, 2, 3]),
                                         ("crossing-galaxi-rough", [0, 1])])
def test_the_fit_simulates_every_draw_with_one_structure(name: str, layers: list) -> None:
    """Radius and sigma move the largest members across interfaces (suspended from the HMDSO's
    top: down into the PTFE and the substrate; deposited on the PTFE: up into the ambient).
    The fit's one structure spans those layers and gives each draw's image, rough interfaces
    included (its empty slices take the particles' slice's material), to 1e-6: where a draw's
    particles do not cross, its own structure takes the closed-form sphere, the spanning one
    the cross-sections, whose torch Bessel J1 is 5e-7 accurate."""
    t = _galaxi_template(name=name)
    free = free_tensors(t)
    assert [i for i, _, _ in free.structure.crossing] == layers
    seen = set()
    for u in ([0.05, 0.05], [0.5, 0.5], [0.95, 0.95], [0.9, 0.1]):
        theta = torch.tensor([u], dtype=torch.float64)
        values = {q.path: [float(q.to_physical(theta[0, i]))]
                  for i, q in enumerate(free.params)}
        e = instantiate(t, values)[0]
        seen.add(tuple(i for i, _, _ in overlapped_layers(e)))
        np.testing.assert_allclose(free(theta)[0].numpy(), dg.simulate(e, mixed=False), rtol=1e-6)
    assert len(seen) >= 2  # the draws overlap different layers


def test_spanning_structure_of_equal_structures_is_that_structure() -> None:
    e = parse_experiment(CASES["crossing-galaxi"])
    assert spanning_structure([e, e]) == structure_of(e)
    with pytest.raises(ValueError, match="differ"):
        spanning_structure([e, parse_experiment(CASES["sphere-dilute"])])


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_part_volumes_add_up_to_the_shape_volume(name: str) -> None:
    """The parts' z-quadrature (a few Gauss-Legendre nodes) is exact for every built-in
    shape: a whole part is the shape's volume, and two parts cut at any height add up to it."""
    spec = SHAPES[name]
    sizes = {p.name: torch.tensor([[p.default * (DEG if p.name in spec.angles else 1.0)]],
                                  dtype=torch.float64) for p in spec.params}
    h = spec.height(sizes)
    whole = part_volumes(spec, sizes, torch.zeros_like(h), h)
    assert torch.allclose(whole, spec.volume(sizes), rtol=1e-12, atol=0)
    for frac in (0.13, 0.5, 0.87):
        z = frac * h
        below = part_volumes(spec, sizes, torch.zeros_like(h), z)
        above = part_volumes(spec, sizes, z, h)
        assert 0 < float(below) < float(whole)
        assert torch.allclose(below + above, whole, rtol=1e-12, atol=0)


def test_sphere_cap_volume() -> None:
    r, z = 5.0, 2.0
    sizes = {"radius_nm": torch.tensor([[r]], dtype=torch.float64)}
    cap = part_volumes(SHAPES["sphere"], sizes, torch.zeros(1, 1, dtype=torch.float64),
                       torch.full((1, 1), z, dtype=torch.float64))
    assert float(cap) == pytest.approx(math.pi * z * z * (3 * r - z) / 3, rel=1e-13)
