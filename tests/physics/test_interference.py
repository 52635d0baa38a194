"""The fast lattice sums (tabulated far points) against the exact window sums, and the 2D
paracrystal factor against BornAgain's formula."""

from __future__ import annotations

import math

import pytest
import torch

from deepgisas.physics.structures import hexagonal_lattice as itf
from deepgisas.physics.structures import paracrystal2d as pc
from deepgisas.physics.structures.lattice2d import HEXAGONAL, SQUARE, lattice, lattice_exact
from deepgisas.physics.structures.paracrystal2d import paracrystal_1d


@pytest.mark.parametrize("basis,a,xi1", [("hexagonal", (30.0, 34.0, 40.0), 0.9),
                                          ("square", (20.0, 30.0, 40.0), 1.2)])
def test_fast_lattice_sum_matches_exact(basis: str, a: tuple, xi1: float) -> None:
    """The tabulated far part against the exact window sum (measured 2.5e-6 hexagonal, 1e-6
    square); valleys too (1e-3)."""
    b = 3
    qy = torch.linspace(-0.9, 0.9, 300, dtype=torch.float64)[None, None, :].expand(b, 20, 300)
    qx = torch.linspace(-0.01, 0.002, 20, dtype=torch.float64)[None, :, None].expand(b, 20, 300)
    lat = SQUARE if basis == "square" else HEXAGONAL
    w = torch.tensor([100.0, 150.0, 250.0], dtype=torch.float64)
    s = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    xi = torch.tensor([[0.0, 0.3], [0.1, 0.7], [0.5, xi1]], dtype=torch.float64)
    at = torch.tensor(a, dtype=torch.float64)
    fast = lattice(lat, qx, qy, at, w, s, xi)
    exact = lattice_exact(lat, qx, qy, at, w, s, xi)
    assert float((fast - exact).norm() / exact.norm()) < 1e-5
    assert float(((fast - exact).abs() / exact).max()) < 3e-3
    if basis == "hexagonal":  # the hexagonal module's names are the same sums
        assert torch.equal(fast, itf.hexagonal_lattice(qx, qy, at, w, s, xi))


def test_square_exact_sum_is_a_direct_sum_over_the_square_window() -> None:
    """The window sum of the square basis: peaks at g = 2 pi / a (i + fu, j + fv), cell area
    a^2, |i|, |j| <= n + 1 with n = max(floor(20 a / (2 pi w) + 1), 4) (here 8 and 4)."""
    qx = torch.tensor([[[0.013, -0.2]]], dtype=torch.float64).expand(2, 1, 2)
    qy = torch.tensor([[[0.31, 0.05]]], dtype=torch.float64).expand(2, 1, 2)
    a = torch.tensor([25.0, 30.0], dtype=torch.float64)
    w = torch.tensor([10.0, 150.0], dtype=torch.float64)
    xi = torch.tensor([[0.4], [0.0]], dtype=torch.float64)
    got = lattice_exact(SQUARE, qx, qy, a, w, torch.zeros(2, dtype=torch.float64), xi)[:, 0]
    for b, n in enumerate((8, 4)):
        ab, wb, x = float(a[b]), float(w[b]), float(xi[b, 0])
        for k in range(2):
            q1 = float(qx[b, 0, k]) * math.cos(x) + float(qy[b, 0, k]) * math.sin(x)
            q2 = -float(qx[b, 0, k]) * math.sin(x) + float(qy[b, 0, k]) * math.cos(x)
            u, v = q1 * ab / (2 * math.pi), q2 * ab / (2 * math.pi)
            fu, fv = u - round(u), v - round(v)
            total = sum((1 + (2 * math.pi * wb / ab) ** 2 * ((fu + i) ** 2 + (fv + j) ** 2))
                        ** -1.5 for i in range(-n - 1, n + 2) for j in range(-n - 1, n + 2))
            ref = 2 * math.pi * wb * wb * total / ab**2
            assert abs(float(got[b, 0, k]) / ref - 1) < 1e-12


def _p1d_reference(f: complex, n: int) -> float:
    """BornAgain's 1D factor of one pixel, in plain complex arithmetic."""
    if n < 1:
        return ((1 + f) / (1 - f)).real
    if abs(1 - f) ** 2 < 2.220446049250313e-16:
        return float(n)
    if abs(1 - f) * n < 2e-4:
        t = (n - 1) / 2 + (n * n - 1) * (f - 1) / 6 + (n**3 - 2 * n * n - n + 2) * (f - 1) ** 2 / 24
        return 1 + 2 * t.real
    return 1 + 2 * (f / (1 - f) - f * (1 - f**n) / n / (1 - f) ** 2).real


@pytest.mark.parametrize("n", [0, 1, 7, 40, 1000])
def test_paracrystal_factor_is_bornagains_formula(n: int) -> None:
    g = torch.tensor([0.3, 0.9, 0.999, 0.99999995, 1.0 - 1e-9, 0.5], dtype=torch.float64)
    fu = torch.tensor([0.2, -0.01, 1e-4, 1e-9, 0.0, 0.5], dtype=torch.float64)
    h = 1.0 - g
    got = paracrystal_1d(g[None, None], h[None, None], fu[None, None],
                         torch.tensor([[[float(n)]]], dtype=torch.float64))[0, 0]
    for k in range(g.shape[0]):
        if n < 1 and float(fu[k]) == 0.0:
            continue  # (1 + f) / (1 - f) at f -> 1: not a case BornAgain handles either
        f = float(g[k]) * complex(math.cos(2 * math.pi * fu[k]), math.sin(2 * math.pi * fu[k]))
        ref = _p1d_reference(f, n)
        assert abs(float(got[k]) - ref) <= 1e-6 * abs(ref) + 1e-9, (k, float(got[k]), ref)


def test_paracrystal_float32_stays_accurate_near_the_peaks() -> None:
    """1 - f is formed from 1 - |f| and sin^2(pi fu) (no cancellation against 1): in float32
    the narrow peaks of a weakly disordered paracrystal keep 1e-5 (forming 1 - g cos from g
    lost 1e-3 and more of the image)."""
    qy = torch.linspace(-0.6, 0.6, 401, dtype=torch.float64)[None, None, :]
    qx = torch.full_like(qy, -2e-3)
    p = {k: torch.tensor([v], dtype=torch.float64) for k, v in (
        (pc.A, 20.0), (pc.DAMPING, 0.0), (pc.SIZE_1, 0.0), (pc.SIZE_2, 0.0),
        (pc.OMEGA_X, 0.5), (pc.OMEGA_Y, 0.5), (pc.ETA, 0.0))}
    p["xi"] = torch.tensor([[0.1]], dtype=torch.float64)
    ref = pc.paracrystal_2d(SQUARE, qx, qy, p)
    got = pc.paracrystal_2d(SQUARE, qx.float(), qy.float(),
                            {k: v.float() for k, v in p.items()}).double()
    assert float(((got - ref).abs() / ref).max()) < 1e-4
