"""Mixed precision (``simulate_batch(..., mixed=True)``): the sphere-like DWBA terms in float32
inside a float64 simulation. Within 1e-5 of float64 where all float32 is not, on the film's
size distributions and on hex-orientation's lattices; other shapes and paths stay float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepgisas as dg
from deepgisas.errors import UserError
from deepgisas.physics.dwba import lowered
from deepgisas.templates import draw_parameters, instantiate, parse_template


def _worst(a: np.ndarray, b: np.ndarray) -> float:
    return max(float(np.linalg.norm(x - y) / np.linalg.norm(y)) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("name,n,mixed_tol,float32_above", [
    ("film", 16, 1e-5, 2e-5),  # measured: mixed 5.8e-6, float32 3.5e-5
    ("hex-orientation", 4, 1e-5, 0.0),  # mixed 1.4e-6, float32 3.2e-6 (16 draws)
])
def test_mixed_precision_stays_within_1e_5_of_float64(name: str, n: int, mixed_tol: float,
                                                      float32_above: float) -> None:
    t = dg.load(name)
    exps = instantiate(t, draw_parameters(t, n, seed=0))
    wide = dg.simulate_batch(exps, mixed=False)
    mixed = dg.simulate_batch(exps)  # the default for float64
    worst = _worst(mixed, wide)
    assert 0 < worst <= mixed_tol  # not float64 (the float32 path ran), and close to it
    assert _worst(dg.simulate_batch(exps, dtype=torch.float32), wide) > max(float32_above,
                                                                            worst)


def test_mixed_precision_leaves_other_shapes_in_float64() -> None:
    """A cylinder has no paired sphere-like terms: mixed gives the float64 image exactly."""
    t = dg.load("film").to_dict()
    t["sample"]["particles"]["shape"] = {"cylinder": {"radius_nm": 5.0, "height_nm": 4.0}}
    del t["constraints"]
    tpl = parse_template(t)
    exps = instantiate(tpl, draw_parameters(tpl, 2, seed=1))
    np.testing.assert_array_equal(dg.simulate_batch(exps), dg.simulate_batch(exps, mixed=False))


def test_lowered_casts_only_double_tensors() -> None:
    x = (torch.ones(2, dtype=torch.float64), [torch.ones(1, dtype=torch.complex128)],
         {"a": torch.ones(1, dtype=torch.float32), "n": torch.ones(1, dtype=torch.int64)}, "s")
    y = lowered(x)
    assert y[0].dtype == torch.float32 and y[1][0].dtype == torch.complex64
    assert y[2]["a"].dtype == torch.float32 and y[2]["n"].dtype == torch.int64 and y[3] == "s"
    assert isinstance(y[1], list)


def test_mixed_precision_is_a_float64_simulation() -> None:
    e = dg.sample_experiments(dg.load("film"), 1, seed=0)
    with pytest.raises(UserError, match="mixed precision"):
        dg.simulate_batch(e, dtype=torch.float32, mixed=True)
