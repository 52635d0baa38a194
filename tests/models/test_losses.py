"""The heads' losses and metrics on known cases."""

from __future__ import annotations

import math

import pytest
import torch

from deepgisas.models.heads import gaussian_nll, split_gaussian
from deepgisas.models.losses import circular_emd, coverage, fold, kl_divergence


def onehot(k: int, n: int = 120) -> torch.Tensor:
    p = torch.zeros(1, n, dtype=torch.float64)
    p[0, k % n] = 1.0
    return p


def test_kl_is_zero_for_equal_and_known_for_uniform() -> None:
    p = torch.softmax(torch.randn(4, 120, dtype=torch.float64), -1)
    zero = torch.zeros(4, dtype=torch.float64)
    assert torch.allclose(kl_divergence(p, p.log()), zero, atol=1e-12)
    u = torch.full((1, 120), 1 / 120, dtype=torch.float64)
    assert kl_divergence(onehot(7), u.log()).item() == pytest.approx(math.log(120))
    assert kl_divergence(u, u.log()).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("a", "b", "deg"), [(0, 1, 0.5), (0, 10, 5.0), (0, 60, 30.0),
                                             (0, 119, 0.5), (5, 100, 12.5)])
def test_circular_emd_of_point_masses_is_the_circular_distance(a: int, b: int, deg: float
                                                                ) -> None:
    assert circular_emd(onehot(a), onehot(b)).item() == pytest.approx(deg)


def test_circular_emd_of_spread_mass() -> None:
    p = (onehot(0) + onehot(60)) / 2
    q = (onehot(30) + onehot(90)) / 2
    assert circular_emd(p, q).item() == pytest.approx(15.0)  # each half moves 15 deg
    u = torch.full((1, 120), 1 / 120, dtype=torch.float64)
    assert circular_emd(onehot(0), u).item() == pytest.approx(15.0, rel=1e-2)  # mean distance


def test_fold_adds_mirror_bins() -> None:
    p = (onehot(10) * 0.25 + onehot(110) * 0.75)  # 5 deg and 55 deg = 60 - 5
    f = fold(p)
    assert f.shape == (1, 61) and f[0, 10].item() == pytest.approx(1.0)
    assert f.sum().item() == pytest.approx(1.0)
    assert fold(onehot(0))[0, 0].item() == 1.0 and fold(onehot(60))[0, 60].item() == 1.0


def test_gaussian_nll_known_values_and_minimum_at_the_truth() -> None:
    target = torch.tensor([[0.3, 0.7]])
    out = torch.tensor([[0.3, 0.7, 0.0, 0.0]])  # mean = truth, std = 1
    assert gaussian_nll(out, target).item() == pytest.approx(math.log(2 * math.pi))
    out2 = torch.tensor([[0.5, 0.7, 0.0, 0.0]])  # one mean off by 0.2
    assert (gaussian_nll(out2, target) - gaussian_nll(out, target)).item() == pytest.approx(0.02)
    # for errors of 0.1, the best std is 0.1
    stds = torch.linspace(0.02, 0.5, 200)
    outs = torch.stack([torch.tensor([0.4, 0.8, s.log(), s.log()]) for s in stds])
    best = stds[gaussian_nll(outs, target.expand(200, 2)).argmin()]
    assert best.item() == pytest.approx(0.1, abs=0.003)


def test_split_gaussian_and_coverage() -> None:
    mean, std = split_gaussian(torch.tensor([[0.5, 100.0]]))
    assert mean.item() == 0.5 and std.item() == pytest.approx(math.exp(2.0))
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(20000, 1, generator=g)
    noise = torch.randn(20000, 1, generator=g) * 0.05
    c1 = coverage(truth + noise, torch.full_like(truth, 0.05), truth, 1.0).item()
    c2 = coverage(truth + noise, torch.full_like(truth, 0.05), truth, 2.0).item()
    assert c1 == pytest.approx(0.683, abs=0.01) and c2 == pytest.approx(0.954, abs=0.01)
    assert coverage(truth + noise, torch.full_like(truth, 0.01), truth, 1.0).item() < 0.3
