"""The fast lattice sum (tabulated far points) against the exact window sum."""

from __future__ import annotations

import torch

from deepgisas.physics.structures import hexagonal_lattice as itf


def test_fast_lattice_sum_matches_exact() -> None:
    b = 3
    qy = torch.linspace(-0.9, 0.9, 300, dtype=torch.float64)[None, None, :].expand(b, 20, 300)
    qx = torch.linspace(-0.01, 0.002, 20, dtype=torch.float64)[None, :, None].expand(b, 20, 300)
    a = torch.tensor([30.0, 34.0, 40.0], dtype=torch.float64)
    w = torch.tensor([100.0, 150.0, 250.0], dtype=torch.float64)
    s = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    xi = torch.tensor([[0.0, 0.3], [0.1, 0.7], [0.5, 0.9]], dtype=torch.float64)
    fast = itf.hexagonal_lattice(qx, qy, a, w, s, xi)
    exact = itf.hexagonal_lattice_exact(qx, qy, a, w, s, xi)
    assert float((fast - exact).norm() / exact.norm()) < 1e-5  # measured 2.5e-6
    assert float(((fast - exact).abs() / exact).max()) < 3e-3  # valleys too (1e-3)
