"""Beam spreads and detector resolution (deepgisas.physics.instrument): BornAgain's sample
points, the convolution against a direct sum, gradients, the flat detector, and that nothing
changes where they are not used."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepgisas import simulate
from deepgisas.compile import compile_batch, structure_of
from deepgisas.parse import parse_experiment
from deepgisas.physics.instrument import detector_resolution, gaussian_samples, spread_members
from tests.cases import CASES, _with, base


def _direct(image: np.ndarray, sigma: tuple[float, float], step: tuple[float, float]
            ) -> np.ndarray:
    """BornAgain's resolution written as a plain sum: each pixel spreads into every pixel
    within the kernel's half-width, with the integrated Gaussian of the offset."""
    rows, cols = image.shape

    def k(d: int, n: int, s: float, h: float) -> float:
        if not -(n // 2) <= d <= n - 1 - n // 2:
            return 0.0
        c = 1.0 / (s * math.sqrt(2.0))
        return 0.5 * (math.erf((d + 0.5) * h * c) - math.erf((d - 0.5) * h * c))

    out = np.zeros_like(image)
    for i in range(rows):
        for j in range(cols):
            for a in range(rows):
                for b in range(cols):
                    out[i, j] += image[a, b] * k(i - a, rows, sigma[1], step[1]) * k(
                        j - b, cols, sigma[0], step[0])
    return np.maximum(out, 0.0)


@pytest.mark.parametrize("rows,cols,sigma,step", [(7, 6, (0.3, 0.5), (0.2, 0.25)),
                                                  (6, 9, (1.5, 0.1), (0.172, 0.172))])
def test_resolution_is_the_direct_sum(rows: int, cols: int, sigma: tuple[float, float],
                                      step: tuple[float, float]) -> None:
    rng = np.random.default_rng(1)
    img = rng.uniform(0.0, 1.0, (rows, cols))
    img[2, 3] = 40.0  # a peak near an edge spreads out of the detector
    f64 = torch.float64
    ours = detector_resolution(torch.tensor(img)[None], torch.tensor([sigma], dtype=f64),
                               torch.tensor([step], dtype=f64))[0].numpy()
    assert np.allclose(ours, _direct(img, sigma, step), rtol=1e-12, atol=1e-12)
    swapped = _direct(img, sigma[::-1], step)
    assert not np.allclose(ours, swapped, rtol=1e-3)  # sigma[0] is along the columns


def test_resolution_is_differentiable_in_its_widths() -> None:
    img = torch.rand(2, 5, 4, dtype=torch.float64) + 0.1
    step = torch.tensor([[0.1, 0.2], [0.1, 0.2]], dtype=torch.float64)
    sigma = torch.tensor([[0.15, 0.3], [0.2, 0.1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: detector_resolution(img, s, step), (sigma,))


@pytest.mark.parametrize("n,width", [(5, 2.0), (4, 3.0), (1, 2.0), (9, 1.5)])
def test_gaussian_samples_are_bornagains(n: int, width: float) -> None:
    ba = pytest.importorskip("bornagain")
    ref = np.array([(s.value, s.weight) for s in
                    ba.DistributionGaussian(0.3, 0.02, n, width).distributionSamples()])
    x, w = gaussian_samples(torch.tensor([0.3], dtype=torch.float64),
                            torch.tensor([0.02], dtype=torch.float64), n, width)
    assert np.allclose(np.stack([x[0].numpy(), w[0].numpy()], -1), ref, rtol=1e-12)


def test_spread_members_are_every_combination() -> None:
    e = parse_experiment(CASES["divergence-all-resolution-wavelength"])
    st, p = compile_batch([e, e])
    q, w = spread_members(st.beam_spread, p)
    assert w.shape == (2, 27) and torch.allclose(w.sum(1), torch.ones(2, dtype=w.dtype))
    combos = torch.stack([q["alpha_i"], q["phi_i"], q["wavelength"]], -1)[:27]
    assert len({tuple(c.tolist()) for c in combos}) == 27
    assert torch.allclose(q["alpha_i_nominal"], p["alpha_i"].repeat_interleave(27))
    assert torch.allclose(q["phi_i_nominal"], p["phi_i"].repeat_interleave(27))


def test_unused_instrument_parts_leave_the_structure_and_tensors_alone() -> None:
    plain = parse_experiment(base())
    one = parse_experiment(_with(base(), "beam.divergence",
                                 {"alpha_i_deg": {"gaussian_std_deg": 0.02, "samples": 1}}))
    assert structure_of(one) == structure_of(plain)  # a single sample is the mean alone
    st, p = compile_batch([plain])
    assert (st.phi_i, st.beam_spread, st.resolution) == (False, (), False)
    assert not {"phi_i", "alpha_i_std", "phi_i_std", "wavelength_std",
                "resolution_sigma"} & set(p)


def _rectangular(extra: dict) -> dict:
    d = base()
    d["detector"] = {"rectangular": {"shape": [6, 5], "pixel_size_mm": 1.0,
                                     "distance_mm": 1500.0, "beam_center_px": [2.5, -9.0]}}
    d["beam"].update(extra)
    return d


@pytest.mark.parametrize("extra", [
    {"phi_i_deg": 1.0},
    {"divergence": {"alpha_i_deg": {"gaussian_std_deg": 0.03, "samples": 3}}},
], ids=["phi_i", "alpha_i-divergence"])
def test_flat_detector_turns_with_the_nominal_beam(extra: dict) -> None:
    """A flat detector sits perpendicular to the nominal direct beam (turned by phi_i, not
    moved by the divergence's samples): against BornAgain's spherical pixels centred on the
    flat pixels' directions at the nominal beam."""
    pytest.importorskip("bornagain")
    from deepgisas.physics.detector import rectangular_grid
    from deepgisas.reference import bornagain_pixels

    e = parse_experiment(_rectangular(extra))
    phi = torch.tensor([math.radians(extra.get("phi_i_deg", 0.0))], dtype=torch.float64)
    g = rectangular_grid(6, 5, torch.tensor([1.0], dtype=torch.float64),
                         torch.tensor([1500.0], dtype=torch.float64),
                         torch.tensor([[2.5, -9.0]], dtype=torch.float64),
                         torch.tensor([math.radians(0.2)], dtype=torch.float64),
                         phi if "phi_i_deg" in extra else None)
    ux, uy, uz = (t[0].numpy() for t in (g.ux, g.uy, g.uz))
    r = np.sqrt(1500.0**2 + ((np.arange(5) + 0.5 - 2.5) ** 2)[None, :]
                + ((np.arange(6) + 0.5 + 9.0) ** 2)[:, None])
    ref = bornagain_pixels(e, ux, uy, uz, 1500.0 / r**3)
    ours = simulate(e)
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) <= 1e-5


def test_flat_detector_resolution_is_in_mm() -> None:
    """On a flat detector the widths are millimetres on the pixel grid."""
    d = _rectangular({})
    d["detector"]["resolution"] = {"gaussian_sigma_mm": [0.8, 1.6]}
    blurred = simulate(parse_experiment(d))
    d["detector"].pop("resolution")
    sharp = simulate(parse_experiment(d))
    assert np.allclose(blurred, _direct(sharp, (0.8, 1.6), (1.0, 1.0)), rtol=1e-10)
