"""Posterior targets: exact conditionals, the tower property (same optimum as the labels), and
a stream that is seeded by the batch alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deepgisas.data.posterior_targets import PosteriorStream, gibbs_targets
from deepgisas.data.preprocess import InputSpec
from deepgisas.errors import UserError
from deepgisas.training.config import TrainConfig
from deepgisas.training.loop import train
from tests.data.helpers import small_film, small_template

SPEC = InputSpec(crop=(24, 24), downsample=(4, 2), bin_counts=True, jitter=2)


def _conditional(counts: torch.Tensor, view: torch.Tensor, w: torch.Tensor, k: int,
                 scale: float) -> torch.Tensor:
    """Domain k's bin given everything else, by enumeration in float64."""
    view, counts, w = view.double(), counts.double(), w.double()
    other = scale * (w @ view) - scale * w[k] * view[k]
    mu = other + scale * w[k] * view  # [bins, P]
    ll = (counts * torch.log(mu)).sum(1) - mu.sum(1)
    return torch.softmax(ll, 0)


@pytest.mark.parametrize("scale", [0.3, 30.0, 3000.0])
def test_one_domain_target_is_the_bayes_posterior(scale: float) -> None:
    g = torch.Generator().manual_seed(0)
    view = torch.rand(12, 40, generator=g) + 0.05
    w = torch.zeros(12)
    w[5] = 1.0
    counts = torch.poisson(scale * view[5], generator=g)
    got = gibbs_targets(counts, view, w, scale)
    assert torch.allclose(got, _conditional(counts, view, w, 5, scale), atol=2e-6)
    assert got.sum().item() == pytest.approx(1.0, abs=1e-12)


def test_mixture_target_is_the_weighted_gibbs_conditionals() -> None:
    g = torch.Generator().manual_seed(1)
    view = torch.rand(10, 60, generator=g) + 0.01
    w = torch.zeros(10)
    w[[1, 4, 8]] = torch.tensor([0.5, 0.3, 0.2])
    for scale in (1.0, 100.0):
        counts = torch.poisson(scale * (w @ view), generator=g)
        want = sum(w[k] * _conditional(counts, view, w, k, scale) for k in (1, 4, 8))
        assert torch.allclose(gibbs_targets(counts, view, w, scale), want, atol=2e-6)


def _draws(n: int, rng: np.random.Generator, view: np.ndarray, scale: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n draws of a prior over 3 bins (one domain, or two with weights 0.7 / 0.3) and their
    counts: (weights [n, 3], counts [n, 2], independent counts of the same sample [n, 2])."""
    w = np.zeros((n, 3))
    for i in range(n):
        if rng.random() < 0.4:
            w[i, rng.integers(3)] = 1.0
        else:
            a, b = rng.choice(3, size=2, replace=False)
            w[i, a], w[i, b] = 0.7, 0.3
    mu = scale * w @ view
    return w, rng.poisson(mu), rng.poisson(mu)


def test_targets_have_the_labels_conditional_mean() -> None:
    """E[target | counts] = E[weights | counts]: within every group of equal counts, targets
    and true weights agree on average. Targets computed from other counts of the same samples
    (a biased target with the same marginal mean) fail the same check."""
    rng = np.random.default_rng(2)
    view = np.array([[3.0, 0.5], [0.5, 3.0], [1.8, 1.6]])
    w, counts, other = _draws(6000, rng, view, 1.0)
    v = torch.from_numpy(view)

    def worst_z(cts: np.ndarray) -> float:
        t = np.stack([gibbs_targets(torch.from_numpy(c).double(), v, torch.from_numpy(wi), 1.0)
                      .numpy() for c, wi in zip(cts, w, strict=True)])
        keys = counts[:, 0] * 1000 + counts[:, 1]
        z = []
        for key in np.unique(keys):
            sel = keys == key
            if sel.sum() < 100:
                continue
            d = t[sel] - w[sel]
            z.append(np.abs(d.mean(0)) / (d.std(0, ddof=1) / np.sqrt(sel.sum()) + 1e-12))
        assert len(z) >= 8
        return float(np.max(z))

    assert worst_z(counts) < 4.5
    assert worst_z(other) > 8.0


def test_stream_batches_are_seeded_by_the_batch_alone() -> None:
    t = small_template(32)
    a = PosteriorStream(t, SPEC, batch_size=8, seed=3, pool=4, refresh=2, labels=True)
    for g in range(5):
        a.batch(g)
    b = PosteriorStream(t, SPEC, batch_size=8, seed=3, pool=4, refresh=2, labels=True)
    x, y = a.batch(5), b.batch(5)
    assert x.keys() == {"x", "dist", "label", "counts", "scale"}
    for k in x:
        assert torch.equal(x[k], y[k])
    assert x["x"].shape == (8, 2, 6, 12)
    assert torch.allclose(x["dist"].sum(1), torch.ones(8), atol=1e-5)
    assert a.live(5) == [2, 3, 4, 5] and sorted(a._bases) == [2, 3, 4, 5]
    c = list(PosteriorStream(t, SPEC, batch_size=8, seed=3, pool=4, refresh=2, start=5,
                             n_batches=6))
    assert len(c) == 1 and torch.equal(c[0]["dist"], x["dist"])


def test_targets_come_from_the_counts_and_the_crop_of_each_image() -> None:
    """Each image's counts fit its mixture of the basis at one crop of the jitter window best
    (deviance about one per block), and its target is the conditional computed from them."""
    st = PosteriorStream(small_template(32), SPEC, batch_size=6, seed=4, pool=3, labels=True)
    b = st.batch(0)
    assert b["x"][:, 0].abs().sum() > 0
    for i in range(6):
        full = st.basis(st.live(0)[i % 3])
        counts, w, s = b["counts"][i].flatten().double(), b["label"][i].double(), float(
            b["scale"][i])
        dev, views = [], []
        for t in range(2, 7):  # the centre window of 24 in 32 starts at 4; jitter 2
            for lf in range(2, 7):
                v = full[:, t:t + 24, lf:lf + 24].reshape(120, 6, 4, 12, 2).sum((2, 4))
                views.append(v.reshape(120, -1).double())
                mu = s * (w @ views[-1])
                dev.append(2 * (torch.xlogy(counts, counts / mu) - counts + mu).sum().item())
        k = int(np.argmin(dev))
        assert dev[k] < 3 * counts.numel()
        want = gibbs_targets(counts, views[k], w, s)
        err = (b["dist"][i].double() - want).abs().max().item()
        assert err < 5e-5, err  # float32 patterns and log1p


def test_posterior_targets_train_and_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    cfg = TrainConfig(minutes=5.0, max_steps=2, batch_size=8, steps_per_epoch=2, val_size=8,
                      warmup_steps=1, workers=0, input=SPEC, targets="posterior")
    card = train(small_template(32), tmp_path / "m", cfg, progress=False)
    assert card.training["config"]["targets"] == "posterior"
    assert np.isfinite(card.validation["kl"])
    with pytest.raises(UserError, match="orientation labels only"):
        train(small_film(32), tmp_path / "f", cfg, progress=False)
    with pytest.raises(UserError, match="on the fly"):
        TrainConfig(targets="posterior", buffer=64)
    with pytest.raises(UserError, match="labels or posterior"):
        TrainConfig(targets="truth")
    with pytest.raises(UserError, match="binned counts"):
        PosteriorStream(small_template(32), InputSpec(crop=(24, 24)))
