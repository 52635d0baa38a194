"""Shapes given by their cross-sections (physics/segments.py) and core-shell particles: their
limits against the closed forms, their volumes, their validation and the fit's map of their
parameters. Their agreement with BornAgain 25 is in test_bornagain_equivalence (tests/cases.py)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import deepgisas as dg
from deepgisas.fit import free_tensors
from deepgisas.parse import parse_experiment
from deepgisas.physics.formfactors import SHAPES
from deepgisas.templates import instantiate, parse_template
from tests.cases import CASES, base


def _q(n: int = 7) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.linspace(-1.2, 1.3, n, dtype=torch.float64)
    qx, qy = torch.meshgrid(g, 0.7 * g, indexing="ij")
    qz = torch.complex(0.9 * qx + 0.3, 0.05 * torch.ones_like(qx))
    return qx, qy, qz


def _t(values: dict[str, float]) -> dict[str, torch.Tensor]:
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}


@pytest.mark.parametrize("shape,values,closed,closed_values", [
    ("spherical_segment", {"radius_nm": 4.0, "top_cut_nm": 0.0, "bottom_cut_nm": 0.0},
     "sphere", {"radius_nm": 4.0}),
    ("spheroidal_segment", {"radius_nm": 4.0, "radius_z_nm": 2.5, "top_cut_nm": 0.0,
                            "bottom_cut_nm": 0.0}, "spheroid", {"radius_nm": 4.0,
                                                                "height_nm": 5.0}),
    ("cone", {"radius_nm": 3.0, "height_nm": 5.0, "alpha_deg": 90.0},
     "cylinder", {"radius_nm": 3.0, "height_nm": 5.0}),
    ("pyramid4", {"base_edge_nm": 6.0, "height_nm": 4.0, "alpha_deg": 90.0},
     "box", {"length_nm": 6.0, "width_nm": 6.0, "height_nm": 4.0}),
])
def test_sections_reach_the_closed_forms(shape: str, values: dict, closed: str,
                                         closed_values: dict) -> None:
    """Uncut segments are the sphere and the spheroid; a cone and a pyramid with vertical sides
    are the cylinder and the box (radians inside). The discs' transforms use torch's Bessel J1,
    which is only 5e-7 accurate (absolute) for arguments in [5, 8): 1e-5 relative for them,
    whose closed forms have no J1 (sphere, spheroid)."""
    qx, qy, qz = _q()
    vals = _t(values)
    if "alpha_deg" in vals:
        vals["alpha_deg"] = vals["alpha_deg"] * math.pi / 180.0
    got = SHAPES[shape].kernel(qx, qy, qz, vals)
    want = SHAPES[closed].kernel(qx, qy, qz, _t(closed_values))
    tol = 1e-9 if closed in ("cylinder", "box") else 1e-5
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape,values", [
    ("spherical_segment", {"radius_nm": 4.0, "top_cut_nm": 1.0, "bottom_cut_nm": 2.5}),
    ("spheroidal_segment", {"radius_nm": 4.0, "radius_z_nm": 2.5, "top_cut_nm": 0.5,
                            "bottom_cut_nm": 1.0}),
    ("cone", {"radius_nm": 3.0, "height_nm": 2.0, "alpha_deg": 50.0}),
    ("pyramid4", {"base_edge_nm": 6.0, "height_nm": 2.0, "alpha_deg": 55.0}),
    ("hemisphere", {"radius_nm": 3.0}),
])
def test_forward_amplitude_is_the_volume(shape: str, values: dict) -> None:
    vals = _t(values)
    if "alpha_deg" in vals:
        vals["alpha_deg"] = vals["alpha_deg"] * math.pi / 180.0
    zero = torch.zeros(1, dtype=torch.float64)
    f0 = SHAPES[shape].kernel(zero, zero, zero.to(torch.complex128), vals)
    assert float(f0.real[0]) == pytest.approx(float(SHAPES[shape].volume(vals)), rel=1e-12)


@pytest.mark.parametrize("shape,match", [
    ({"cone": {"radius_nm": 2.0, "height_nm": 5.0, "alpha_deg": 60.0}}, "apex"),
    ({"pyramid4": {"base_edge_nm": 4.0, "height_nm": 5.0, "alpha_deg": 60.0}}, "apex"),
    ({"spherical_segment": {"radius_nm": 2.0, "top_cut_nm": 2.0, "bottom_cut_nm": 2.0}},
     "nothing would be left"),
    ({"cone": {"radius_nm": 2.0, "height_nm": 1.0, "alpha_deg": 95.0}}, "alpha_deg"),
])
def test_impossible_shapes_are_refused(shape: dict, match: str) -> None:
    with pytest.raises(dg.UserError, match=match):
        parse_experiment(base(shape))


def test_a_core_must_fit_in_the_shell_height() -> None:
    d = copy.deepcopy(CASES["core-shell-spheres"])
    d["sample"]["particles"]["core"]["z_nm"] = 7.0
    with pytest.raises(dg.UserError, match="does not fit") as err:
        parse_experiment(d)
    assert err.value.where == "sample.particles.core"


def test_core_shell_round_trips() -> None:
    for name in ("core-shell-spheres", "core-shell-box-cone-avg-off"):
        e = parse_experiment(CASES[name])
        assert parse_experiment(e.to_dict()) == e


def test_fit_map_takes_angles_in_degrees_and_core_parameters() -> None:
    """Free core parameters and a free cone angle: the fit's simulator at theta equals the
    experiment drawn at the same physical values."""
    d = copy.deepcopy(CASES["core-shell-box-cone-avg-off"])
    d["detector"]["spherical"]["shape"] = [12, 10]
    core = d["sample"]["particles"]["core"]
    core["shape"]["cone"]["alpha_deg"] = {"uniform": [65.0, 85.0]}
    core["shape"]["cone"]["radius_nm"] = {"uniform": [3.0, 4.5]}
    core["z_nm"] = {"uniform": [0.5, 3.0]}
    t = parse_template(d)
    free = free_tensors(t)
    theta = torch.tensor([[0.3, 0.8, 0.6]], dtype=torch.float64)
    values = {q.path: [float(q.to_physical(theta[0, i]))] for i, q in enumerate(free.params)}
    assert len(values) == 3
    np.testing.assert_allclose(free(theta)[0].numpy(), dg.simulate(instantiate(t, values)[0]),
                               rtol=1e-10)
