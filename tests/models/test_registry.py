"""Every registered model: one interface, forward and backward at a small input."""

from __future__ import annotations

import pytest
import torch

from deepgisas.errors import UserError
from deepgisas.models import Net, create_model, list_models


def test_registry_lists_the_issue_architectures() -> None:
    assert {"densenet169", "densenet121", "resnet18", "compact"} <= set(list_models())
    with pytest.raises(UserError, match="unknown architecture"):
        create_model("vgg16")


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("in_chans", [1, 2])
def test_forward_backward_and_interface(name: str, in_chans: int) -> None:
    net = create_model(name, in_chans=in_chans, num_outputs=7)
    assert isinstance(net, Net) and net.first_conv.in_channels == in_chans
    x = torch.randn(2, in_chans, 64, 64, requires_grad=True)
    feats = net.forward_features(x)
    assert feats.dim() == 4 and feats.shape[:2] == (2, net.num_features)
    out = net.forward_head(feats)
    assert out.shape == (2, 7)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    net.reset_head(3)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net.forward_head(net.forward_features(x)))
    assert net(x).shape == (2, 3)


def test_compact_is_small_and_keeps_columns() -> None:
    net = create_model("compact", 2, 120)
    assert sum(p.numel() for p in net.parameters()) < 400_000
    assert net.input_size == (56, 112)
    stem = net.first_conv
    assert stem.kernel_size == (5, 3) and stem.stride == (2, 1)  # tall kernel, rows pooled only


def test_rodnet_head_knows_the_column_of_a_feature() -> None:
    """The rods head keeps the feature columns, so a streak moved sideways changes its output
    far more than it changes the output of the compact network's global average."""
    net = create_model("rodnet", 1, 5).eval()
    assert net.columns == 14 and net.head.in_features == 128 * 14
    x = torch.zeros(1, 1, 56, 112)
    left, right = x.clone(), x.clone()
    left[..., 20] = 5.0
    right[..., 90] = 5.0
    with torch.no_grad():
        assert not torch.allclose(net(left), net(right), atol=1e-4)
        compact = create_model("compact", 1, 5).eval()
        # the compact head only sees the global mean, so a sideways shift barely changes it
        shift = (compact(left) - compact(right)).abs().max()
        assert shift < (net(left) - net(right)).abs().max()


@pytest.mark.parametrize("name", list_models())
def test_for_inference_folds_batch_norms_and_keeps_the_outputs(name: str) -> None:
    from deepgisas.models.nets import for_inference

    torch.manual_seed(0)
    net = create_model(name, 2, 5)
    with torch.no_grad():  # running statistics far from the initial (0, 1)
        for _ in range(3):
            net(torch.randn(4, 2, 64, 64) * 3 + 2)
    net.eval()
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    fast = for_inference(net)
    x = torch.randn(3, 2, 64, 64) * 3 + 2
    with torch.no_grad():
        ref, got = net(x), fast(x)
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    left = sum(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    if name in ("compact", "rodnet"):
        assert left == 0  # every batch norm folded
    assert left <= n_bn and fast.first_conv is next(
        m for m in fast.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == n_bn  # untouched
    assert fast.first_conv is not net.first_conv


def test_rodprofile_grows_from_a_rodnet_with_equal_outputs() -> None:
    """A rodprofile started from a rodnet (``train --init-from``) gives the rodnet's outputs,
    and its profile branch tells apart streaks one input column apart."""
    from deepgisas.models.nets import grow_rodprofile

    torch.manual_seed(1)
    rod = create_model("rodnet", 2, 6)
    with torch.no_grad():
        for _ in range(2):
            rod(torch.randn(4, 2, 56, 112) * 2 + 1)
    rod.eval()
    net = create_model("rodprofile", 2, 6)
    assert net.columns == 112
    grow_rodprofile(rod, net, head=True)
    net.eval()
    x = torch.randn(3, 2, 56, 112)
    with torch.no_grad():
        assert torch.allclose(net(x), rod(x), atol=1e-5)
    fresh = create_model("rodprofile", 2, 6)
    grow_rodprofile(rod, fresh, head=False)  # the backbone only
    assert torch.equal(fresh.backbone.rod[0][0].weight, rod.first_conv.weight)
    assert not torch.allclose(fresh.head.linear.weight, net.head.linear.weight)
    # once the profile branch has learnt (here: random output weights), a one-column shift shows
    torch.nn.init.normal_(net.backbone.profile[-1].weight)
    a, b = torch.zeros(1, 2, 56, 112), torch.zeros(1, 2, 56, 112)
    a[..., 40], b[..., 41] = 5.0, 5.0
    with torch.no_grad():
        prof = (net.backbone.profile(a) - net.backbone.profile(b)).abs().max()
        assert prof > 1e-2
