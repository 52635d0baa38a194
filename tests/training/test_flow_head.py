"""The flow head: a parameter model whose posterior is a normalising flow over all labels.
It trains, round-trips through safetensors and its card, predicts a mean, std, quantiles and
modes in physical units, gives the fit its modes as starts, and learns a posterior that is
correlated where the Gaussian head cannot be."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.fit.problem import network_starts
from deepgisas.models.heads import FlowHead, head_of
from deepgisas.models.store import load_model
from deepgisas.predict import Predictor
from deepgisas.training.config import TrainConfig
from deepgisas.training.loop import train
from deepgisas.training.objective import head_kind
from tests.data.helpers import small_film, small_template
from tests.training.test_train import _cfg


def test_a_flow_model_trains_round_trips_and_predicts(tmp_path: Path) -> None:
    template = small_film(32)
    card = train(template, tmp_path / "m", _cfg(max_steps=8, head="flow"), progress=False)
    assert card.head == "flow" and card.flow["features"] == len(
        LabelSpace.of(template).numeric)
    net, loaded = load_model(tmp_path / "m")
    head = head_of(net, loaded.head)
    assert isinstance(head, FlowHead)
    net2, _ = load_model(tmp_path / "m")
    x = torch.randn(3, 2, 28, 28)
    with torch.no_grad():
        theta = torch.rand(3, head.features)
        assert torch.equal(head.log_prob(net(x), theta),
                           head_of(net2, loaded.head).log_prob(net2(x), theta))
        torch.manual_seed(1)
        draws = head.sample(net(x), 16)
        torch.manual_seed(1)
        same, logp = head.sample_and_log_prob(net(x), 16)  # one pass: the same draws
        assert torch.equal(draws, same)
        assert torch.allclose(logp, head.log_prob(net(x), draws), atol=1e-3)
    images = np.random.default_rng(0).poisson(5.0, (2, 32, 32)).astype(float)
    results = Predictor(tmp_path / "m", engine="torch")(images)
    names = list(LabelSpace.of(template).names)
    for r in results:
        assert list(r["parameters"]) == names and all(r["std"][k] > 0 for k in names)
        for k in names:
            q = r["quantiles"][k]
            assert q["5"] <= q["16"] <= q["50"] <= q["84"] <= q["95"]
        assert 1 <= len(r["modes"]) <= 3
    again = Predictor(tmp_path / "m", engine="torch")(images)
    assert again == results  # seeded draws: the same answer every time
    alone = Predictor(tmp_path / "m", engine="torch")(images[1:])
    for k in names:  # the same base draws for every image: its batch does not matter
        assert alone[0]["parameters"][k] == pytest.approx(results[1]["parameters"][k], rel=1e-5)
        assert alone[0]["std"][k] == pytest.approx(results[1]["std"][k], rel=1e-4)
    with torch.no_grad():
        base = torch.randn(16, head.features, generator=torch.Generator().manual_seed(3))
        ctx = net(x)
        draws, logp = head.sample_and_log_prob(ctx, 16, base)  # [16, B, P]
        assert torch.allclose(logp, head.log_prob(ctx, draws), atol=1e-3)  # its own density
        assert not torch.allclose(draws[:, 0], draws[:, 1])  # images map the draws their way
        with pytest.raises(ValueError, match="base draws"):
            head.sample_and_log_prob(ctx, 8, base)
    starts = network_starts(results[0], template, n=4)
    assert len(starts) == 4 and starts[1] == pytest.approx(results[0]["modes"][0])


def test_a_flow_head_is_refused_for_orientations() -> None:
    with pytest.raises(UserError, match="flow head"):
        head_kind(LabelSpace.of(small_template(32)), "flow")
    with pytest.raises(UserError, match="head must be"):
        TrainConfig(head="mixture")
    with pytest.raises(UserError, match="unknown architecture 'vgg'.*rodnet"):
        TrainConfig(arch="vgg")  # the config checks its fields, not only the CLI


def test_the_flow_learns_a_correlated_posterior() -> None:
    """theta_2 = theta_1 + noise given a context that says nothing: the flow's NLL reaches
    the true conditional's (a correlated Gaussian), well below the best independent one's."""
    torch.manual_seed(0)
    head = FlowHead(2, 4, transforms=2, hidden=(32, 32))
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    for _ in range(600):
        t1 = 0.5 + 0.15 * torch.randn(256)
        theta = torch.stack([t1, t1 + 0.03 * torch.randn(256)], 1)
        loss = head.nll(torch.zeros(256, 4), theta).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    t1 = 0.5 + 0.15 * torch.randn(4096)
    theta = torch.stack([t1, t1 + 0.03 * torch.randn(4096)], 1)
    with torch.no_grad():
        nll = float(head.nll(torch.zeros(4096, 4), theta).mean())
    true = 2 * 0.5 * math.log(2 * math.pi * math.e) + math.log(0.15) + math.log(0.03)
    independent = 2 * 0.5 * math.log(2 * math.pi * math.e) + math.log(0.15) + 0.5 * math.log(
        0.15**2 + 0.03**2)
    assert nll < true + 0.1 and nll < independent - 1.0, (nll, true, independent)
