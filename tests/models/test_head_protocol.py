"""Every head answers the one interface: its label key, loss, figures and decoding."""

from __future__ import annotations

import pytest
import torch

from deepgisas.models import create_model
from deepgisas.models.heads import DistributionHead, Head, attach_head, head_for
from deepgisas.models.losses import circular_emd, kl_divergence


def _net(kind: str, n_out: int) -> torch.nn.Module:
    net = create_model("compact", 2, n_out)
    attach_head(net, kind, {"features": 3} if kind == "flow" else None)
    return net


@pytest.mark.parametrize("kind,n_out,keys", [
    ("distribution", 12, {"kl", "emd_deg", "kl_folded"}),
    ("gaussian", 6, {"nll", "mae_unit", "within_1std", "within_2std"}),
    ("flow", 32, {"nll", "mae_unit", "within_1std", "within_2std"}),
])
def test_each_head_learns_its_labels_and_decodes(kind: str, n_out: int, keys: set) -> None:
    torch.manual_seed(0)
    head: Head = head_for(_net(kind, n_out), kind)
    assert head.kind == kind
    out = torch.randn(5, n_out)
    truth = (torch.softmax(torch.randn(5, 12), -1) if kind == "distribution"
             else torch.rand(5, 3))
    loss = head.loss(out, {head.target: truth})
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(head.figures(out, truth)) == keys
    decoded = head.decode(out)
    assert head.target in decoded and decoded[head.target].shape == truth.shape


def test_the_distribution_heads_losses_are_kl_and_emd() -> None:
    out, truth = torch.randn(4, 12), torch.softmax(torch.randn(4, 12), -1)
    logp = torch.log_softmax(out, -1)
    assert torch.allclose(DistributionHead("kl").loss(out, {"dist": truth}),
                          kl_divergence(truth, logp).mean())
    assert torch.allclose(DistributionHead("emd").loss(out, {"dist": truth}),
                          circular_emd(logp.exp(), truth).mean())
