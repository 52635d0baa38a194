"""deepgisas against BornAgain 25 itself, run in the test: relative L2 <= 1e-3 per case."""

from __future__ import annotations

import numpy as np
import pytest

from deepgisas import simulate, simulate_batch
from deepgisas.physics.detector import rectangular_grid
from deepgisas.sample import parse_experiment
from tests.cases import CASES, base

ba = pytest.importorskip("bornagain")
from deepgisas.reference import bornagain_pixels, bornagain_simulate  # noqa: E402

TOL = 1e-3


def rel_l2(ours: np.ndarray, ref: np.ndarray) -> float:
    both = np.isfinite(ref)
    assert np.array_equal(both, np.isfinite(ours)), "masked pixels differ"
    return float(np.linalg.norm(ours[both] - ref[both]) / np.linalg.norm(ref[both]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_bornagain(name: str) -> None:
    """float64 and float32 both: materials enter as n^2 - 1, so float32 keeps delta's digits."""
    import torch

    e = parse_experiment(CASES[name])
    ref = bornagain_simulate(e, threads=2)
    assert rel_l2(simulate(e), ref) <= TOL
    assert rel_l2(simulate_batch([e], dtype=torch.float32)[0], ref) <= TOL


def test_rectangular_detector_matches_bornagain_pixels() -> None:
    d = base()
    d["detector"] = {"rectangular": {"shape": [12, 10], "pixel_size_mm": 1.0,
                                     "distance_mm": 1500.0, "beam_center_px": [5.0, -9.0]}}
    e = parse_experiment(d)
    ours = simulate(e)
    import torch

    g = rectangular_grid(12, 10, torch.tensor([1.0], dtype=torch.float64),
                         torch.tensor([1500.0], dtype=torch.float64),
                         torch.tensor([[5.0, -9.0]], dtype=torch.float64),
                         torch.tensor([0.2 * np.pi / 180], dtype=torch.float64))
    ux, uy, uz = (t[0].numpy() for t in (g.ux, g.uy, g.uz))
    # the spherical pixel centred on the same direction, with the flat pixel's solid angle
    r = np.sqrt(1500.0**2 + ((np.arange(10) + 0.5 - 5.0) ** 2)[None, :]
                + ((np.arange(12) + 0.5 + 9.0) ** 2)[:, None])
    omega = 1.0 * 1500.0 / r**3
    ref = bornagain_pixels(e, uy / ux, uz / ux, omega)
    assert rel_l2(ours, ref) <= TOL


def test_masked_pixels_are_nan_like_bornagain() -> None:
    e = parse_experiment(CASES["roi-and-mask"])
    ours = simulate(e)
    assert np.isnan(ours[0, 0]) and np.isnan(ours[5, 30]) and np.isfinite(ours[20, 20])


@pytest.mark.parametrize("median,sigma,n,width", [(10.0, 0.4, 25, 2.0), (5.0, 0.1, 7, 3.0),
                                                  (10.0, 0.4, 1, 2.0)])
def test_lognormal_samples_are_bornagains(median: float, sigma: float, n: int,
                                          width: float) -> None:
    import torch

    from deepgisas.physics.simulate import size_samples

    ref = np.array([(s.value, s.weight) for s in
                    ba.DistributionLogNormal(median, sigma, n, width).distributionSamples()])
    xs, ws = size_samples(torch.tensor([median], dtype=torch.float64),
                          torch.tensor([sigma], dtype=torch.float64), n, width)
    assert np.allclose(np.stack([xs[0].numpy(), ws[0].numpy()], -1), ref, rtol=1e-9)
