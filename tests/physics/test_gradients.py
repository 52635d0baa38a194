"""Autograd through the simulator against central finite differences."""

from __future__ import annotations

import pytest
import torch

from deepgisas.compile import compile_batch
from deepgisas.parse import parse_experiment
from deepgisas.physics.simulate import simulate_tensors
from tests.cases import base, talk


def _check(d: dict, name: str, index: tuple = (0,), eps: float = 1e-6) -> None:
    st, p = compile_batch([parse_experiment(d)])
    p = {k: v.clone() for k, v in p.items()}
    x = p[name]
    x.requires_grad_(True)
    weights = torch.rand(st.shape, dtype=torch.float64)

    def loss(params: dict) -> torch.Tensor:
        return (torch.log1p(simulate_tensors(st, params)) * weights).sum()

    (grad,) = torch.autograd.grad(loss(p), x)
    with torch.no_grad():
        plus = {k: v.detach().clone() for k, v in p.items()}
        minus = {k: v.detach().clone() for k, v in p.items()}
        h = eps * max(1.0, abs(float(x[index])))
        plus[name][index] += h
        minus[name][index] -= h
        fd = (loss(plus) - loss(minus)) / (2 * h)
    assert float(grad[index]) == pytest.approx(float(fd), rel=2e-4, abs=1e-9)


SMALL = {"detector": {"spherical": {"phi_deg": [-1.0, 1.0], "alpha_deg": [0.0, 2.0],
                                    "shape": [24, 24]}}}


def _small(d: dict) -> dict:
    return {**d, **SMALL}


@pytest.mark.parametrize("name,index", [
    ("shape.radius_nm", (0,)), ("interference.a_nm", (0,)), ("interference.decay_nm", (0,)),
    ("wavelength", (0,)), ("alpha_i", (0,)), ("thickness", (0, 1)), ("coverage", (0, 1)),
    ("xi", (0, 1)), ("interference.position_variance_nm2", (0,)), ("alpha_edges", (0, 1)),
    ("phi_edges", (0, 1)),
])
def test_hexagonal_gradients(name: str, index: tuple) -> None:
    _check(_small(talk([0.0, 20.0], [0.6, 0.4])), name, index)


@pytest.mark.parametrize("name", ["shape.radius_nm", "shape.height_nm",
                                  "interference.distance_nm", "interference.omega_nm",
                                  "size_sigma"])
def test_paracrystal_gradients(name: str) -> None:
    d = base({"spheroid": {"radius_nm": 5.0, "height_nm": 6.0}},
             {"radial_paracrystal": {"distance_nm": 25.0, "damping_length_nm": 1.0e4,
                                     "omega_nm": 4.0, "kappa": 0.0}})
    d["sample"]["particles"]["size_distribution"] = {"lognormal": {"sigma": 0.2}, "samples": 5}
    _check(_small(d), name)
