"""A new interference type or shape is one declaration: registered, it is parsed, compiled,
simulated, fitted, documented and built for BornAgain with no other file touched."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from deepgisas import simulate
from deepgisas.errors import UserError
from deepgisas.fit.tensors import free_tensors
from deepgisas.format_doc import format_reference
from deepgisas.parse import parse_experiment
from deepgisas.physics.formfactors import SHAPES, Shape
from deepgisas.physics.params import INF, ParamSpec
from deepgisas.physics.structures import STRUCTURES, Amplitudes, StructureType, key
from deepgisas.physics.structures.base import Domains, Particle
from deepgisas.reference import bornagain_sample
from deepgisas.templates import parse_template
from tests.cases import base


class Pairs(StructureType):
    """Toy type: dilute pairs of particles far apart, i.e. dilute at twice the density."""

    def density(self, p: dict[str, Tensor]) -> Tensor:
        return 2.0 * p[key("pair_density_per_nm2")]

    def intensity(self, p: dict[str, Tensor], prepared: Any, a: Amplitudes) -> Tensor:
        return a.mean_abs2()

    def bornagain(self, ba: Any, particle: Particle, values: dict[str, float],
                  xi_rad: Sequence[float] = (), weights: Sequence[float] = ()) -> Domains:
        return [(None, ba.Dilute2D(2.0 * values["pair_density_per_nm2"], particle()))]


PAIRS = Pairs("pairs", (ParamSpec("pair_density_per_nm2", "1/nm^2", 0.001, (0.0, INF),
                                  "pairs per nm^2"),), "toy: far-apart pairs")


def _cube(qx: Tensor, qy: Tensor, qz: Tensor, p: dict[str, Tensor]) -> Tensor:
    e = p["edge_nm"]
    return SHAPES["box"].kernel(qx, qy, qz, {"length_nm": e, "width_nm": e, "height_nm": e})


CUBE = Shape("cube", (ParamSpec("edge_nm", "nm", 5.0, (0.0, INF), "edge"),), _cube,
             volume=lambda p: p["edge_nm"] ** 3, height=lambda p: p["edge_nm"],
             radial=lambda p: 0.5 * p["edge_nm"], description="toy: a cube",
             bornagain=lambda ba, v: ba.Box(v["edge_nm"], v["edge_nm"], v["edge_nm"]))


@pytest.fixture
def registered() -> Iterator[None]:
    STRUCTURES["pairs"] = PAIRS
    SHAPES["cube"] = CUBE
    try:
        yield
    finally:
        del STRUCTURES["pairs"], SHAPES["cube"]


def _pairs_of_cubes(density: Any = 0.001) -> dict:
    return base({"cube": {"edge_nm": 6.0}}, {"pairs": {"pair_density_per_nm2": density}}, 24)


def test_a_registered_type_and_shape_simulate_like_their_equivalents(registered: None) -> None:
    ours = simulate(parse_experiment(_pairs_of_cubes()))
    same = simulate(parse_experiment(base({"box": {"length_nm": 6.0, "width_nm": 6.0,
                                                   "height_nm": 6.0}},
                                          {"dilute": {"area_density_per_nm2": 0.002}}, 24)))
    np.testing.assert_allclose(ours, same, rtol=1e-12)


def test_a_registered_type_is_fitted_documented_and_built_for_bornagain(
        registered: None) -> None:
    d = _pairs_of_cubes({"uniform": [0.0005, 0.002]})
    d["options"] = {"use_average_materials": False}  # else the layer's mean index moves too
    template = parse_template(d)
    free = free_tensors(template)
    assert [q.key for q in free.params] == [key("pair_density_per_nm2")]
    lo, hi = (free(torch.tensor([[t]], dtype=torch.float64)) for t in (0.0, 1.0))
    np.testing.assert_allclose(hi.numpy(), 4.0 * lo.numpy(), rtol=1e-9)  # 0.002 / 0.0005
    doc = format_reference()
    assert "`pairs`" in doc and "`pair_density_per_nm2`" in doc and "`edge_nm`" in doc
    pytest.importorskip("bornagain")
    assert bornagain_sample(parse_experiment(_pairs_of_cubes())) is not None


def test_an_unregistered_type_or_shape_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown key 'cube'"):
        parse_experiment(_pairs_of_cubes())
    d = _pairs_of_cubes()
    d["sample"]["particles"]["shape"] = {"sphere": {"radius_nm": 3.0}}
    with pytest.raises(UserError, match="unknown key 'pairs'"):
        parse_experiment(d)
