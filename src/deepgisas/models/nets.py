"""Networks: torchvision backbones and a compact CPU network behind one interface.

Every :class:`Net` has ``forward_features(x) -> [B, F, h, w]`` (the last feature map, used by
attention maps), ``forward_head(features) -> [B, num_outputs]``, ``first_conv`` (the conv0
filters) and ``reset_head(num_outputs)`` (transfer learning).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class Net(nn.Module):
    """A backbone (image -> feature map), pooling and a linear head.

    ``pool="global"`` averages the feature map over rows and columns (translation invariant);
    ``pool="rows"`` averages over rows (alpha_f, along the Bragg rods) only and keeps the
    ``columns`` feature columns, so the head knows *where* in q_y each feature lies: lattice
    spacing and orientation are read from rod positions relative to the specular plane.
    """

    def __init__(self, backbone: nn.Module, num_features: int, num_outputs: int,
                 first_conv: nn.Conv2d, input_size: tuple[int, int], drop: float = 0.0,
                 pool: str = "global", columns: int = 1, hidden: int = 0) -> None:
        super().__init__()
        if pool not in ("global", "rows"):
            raise ValueError(f"unknown pooling {pool!r}")
        self.backbone = backbone
        self.pool, self.columns = pool, (columns if pool == "rows" else 1)
        self.num_features = num_features  # channels of the feature map
        self.input_size = input_size  # the image size the architecture is designed for
        self.drop = nn.Dropout(drop)
        self.hidden = hidden
        self.head: nn.Linear | ResidualHead = _head(num_features * self.columns, num_outputs,
                                                    hidden)
        self._first_conv = [first_conv]  # a list: not registered twice as a submodule

    @property
    def first_conv(self) -> nn.Conv2d:
        return self._first_conv[0]

    def forward_features(self, x: Tensor) -> Tensor:
        """[B, C, H, W] -> feature map [B, F, h, w]."""
        return self.backbone(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """Feature map [B, F, h, w] -> outputs [B, num_outputs] (logits or raw values)."""
        pooled = (features.mean(dim=(2, 3)) if self.pool == "global"  # identity at the
                  else F.adaptive_avg_pool2d(features, (1, self.columns)).flatten(1))  # design
        return self.head(self.drop(pooled))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_head(self, num_outputs: int) -> None:
        """A new, freshly initialised head with ``num_outputs`` outputs."""
        device = next(self.head.parameters()).device
        self.head = _head(self.head.in_features, num_outputs, self.hidden).to(device)


class ResidualHead(nn.Module):
    """A linear head plus a one-hidden-layer MLP whose output layer starts at zero: it starts
    as the linear head and learns the nonlinear rest (which rod pattern at which lattice
    spacing), without spoiling a linear head copied from a trained model."""

    def __init__(self, in_features: int, out_features: int, hidden: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.linear = nn.Linear(in_features, out_features)
        last = nn.Linear(hidden, out_features)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), last)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x) + self.mlp(x)


def _head(in_features: int, out_features: int, hidden: int) -> nn.Linear | ResidualHead:
    return (ResidualHead(in_features, out_features, hidden) if hidden
            else nn.Linear(in_features, out_features))


def conv_bn(cin: int, cout: int, k: tuple[int, int], stride: tuple[int, int] = (1, 1)
             ) -> nn.Sequential:
    pad = (k[0] // 2, k[1] // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class CompactBackbone(nn.Sequential):
    """A small CNN for GISAS on CPU (0.3M parameters).

    Bragg rods are vertical streaks: narrow in phi_f (columns), long in alpha_f (rows). The
    designed input is anisotropic, 56 x 112 (rows x columns: a 224 x 224 crop averaged over
    4 x 2 blocks), so rods one column wide at 256 px stay about one column wide. The stem is
    a tall 5 x 3 kernel with stride (2, 1): it sums along the rods and halves the rows only;
    then three stages of (3 x 3 stride 2, 3 x 3) convolutions. Measured against wider, deeper
    and square-input variants in benchmarks/inference_throughput.py.
    """

    def __init__(self, in_chans: int, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        layers: list[nn.Module] = [conv_bn(in_chans, widths[0], (5, 3), (2, 1))]
        for cin, w in zip(widths[:-1], widths[1:], strict=True):
            layers += [conv_bn(cin, w, (3, 3), (2, 2)), conv_bn(w, w, (3, 3))]
        super().__init__(*layers)


def compact_net(in_chans: int, num_outputs: int, widths: tuple[int, ...] = (16, 32, 64, 128),
                input_size: tuple[int, int] = (56, 112), pool: str = "global") -> Net:
    bb = CompactBackbone(in_chans, widths)
    stem = bb[0][0]  # type: ignore[index]
    assert isinstance(stem, nn.Conv2d)
    columns = input_size[1]
    for _ in widths[1:]:
        columns = (columns - 1) // 2 + 1  # each stage: 3 x 3, stride 2, padding 1
    return Net(bb, widths[-1], num_outputs, stem, input_size, drop=0.1, pool=pool,
               columns=columns)


class RodProfileBackbone(nn.Module):
    """The compact backbone plus a q_y-profile branch at the input's full column resolution.

    The counts that decide the orientation lie in the Bragg rods' profile along q_y: the exact
    posterior computed from 8 bands of rows at every binned column is as sharp as from every
    pixel (docs/notes/training-log.md). The compact backbone reduces the columns 8-fold. The profile
    branch keeps them:
    a stem sums each band of rows (kernel rows x 3, stride rows) into 8 bands, a 3 x 3
    convolution mixes neighbouring bands and columns, a full-height convolution folds the
    bands into channels, and four 1 x 5 convolutions, dilated 1, 2, 4 and 8, see 61 columns
    around each one. Its output layer starts at zero.

    Output: the compact features averaged over rows, each of its columns repeated over the
    input columns it covers, plus the profile features: [B, F, 1, W] with W the input columns.
    """

    def __init__(self, in_chans: int, input_size: tuple[int, int],
                 widths: tuple[int, ...] = (16, 32, 64, 128), profile: int = 96,
                 bands: int = 8) -> None:
        super().__init__()
        rows, cols = input_size
        if rows % bands:
            raise ValueError(f"{rows} input rows do not split into {bands} bands")
        self.rod = CompactBackbone(in_chans, widths)
        self.repeat = 2 ** (len(widths) - 1)
        if cols % self.repeat:
            raise ValueError(f"{cols} input columns are not a multiple of {self.repeat}")
        step = rows // bands
        layers: list[nn.Module] = [
            conv_bn(in_chans, 32, (step, 3), (step, 1)), conv_bn(32, 32, (3, 3)),
            nn.Sequential(nn.Conv2d(32, profile, (bands, 1), bias=False),
                          nn.BatchNorm2d(profile), nn.ReLU(inplace=True))]
        for d in (1, 2, 4, 8):
            layers.append(nn.Sequential(
                nn.Conv2d(profile, profile, (1, 5), padding=(0, 2 * d), dilation=(1, d),
                          bias=False), nn.BatchNorm2d(profile), nn.ReLU(inplace=True)))
        out = nn.Conv2d(profile, widths[-1], 1)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)  # type: ignore[arg-type]
        self.profile = nn.Sequential(*layers, out)

    def forward(self, x: Tensor) -> Tensor:
        rod = self.rod(x).mean(2, keepdim=True).repeat_interleave(self.repeat, dim=3)
        return rod[..., :x.shape[-1]] + self.profile(x)


def rodprofile_net(in_chans: int, num_outputs: int, input_size: tuple[int, int] = (56, 112),
                   hidden: int = 256) -> Net:
    bb = RodProfileBackbone(in_chans, input_size)
    stem = bb.rod[0][0]  # type: ignore[index]
    assert isinstance(stem, nn.Conv2d)
    return Net(bb, bb.rod[-1][0].out_channels, num_outputs, stem, input_size,  # type: ignore[index]
               drop=0.1, pool="rows", columns=input_size[1], hidden=hidden)


def grow_rodprofile(source: Net, target: Net, head: bool) -> None:
    """Start a rodprofile network from a trained rodnet: the same compact backbone, and (with
    ``head``) its head spread over the repeated columns, so that the new network gives the
    rodnet's outputs exactly until the profile branch and the MLP learn."""
    bb = target.backbone
    assert isinstance(bb, RodProfileBackbone) and source.pool == "rows"
    bb.rod.load_state_dict(source.backbone.state_dict())
    if not head:
        return
    assert isinstance(target.head, ResidualHead) and isinstance(source.head, nn.Linear)
    f, c = target.num_features, source.columns
    w = source.head.weight.detach().reshape(-1, f, c, 1) / bb.repeat
    w = w.expand(-1, f, c, bb.repeat).reshape(-1, f, c * bb.repeat)[..., :target.columns]
    with torch.no_grad():
        target.head.linear.weight.copy_(w.reshape(len(w), -1))
        target.head.linear.bias.copy_(source.head.bias)


def _adapt_conv(conv: nn.Conv2d, in_chans: int) -> nn.Conv2d:
    """The same convolution for ``in_chans`` input channels (fresh weights)."""
    return nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size,  # type: ignore[arg-type]
                     conv.stride, conv.padding, bias=conv.bias is not None)  # type: ignore[arg-type]


def densenet(depth: int, in_chans: int, num_outputs: int) -> Net:
    import torchvision

    tv = getattr(torchvision.models, f"densenet{depth}")(weights=None)
    feats = tv.features
    feats.conv0 = _adapt_conv(feats.conv0, in_chans)
    backbone = nn.Sequential(feats, nn.ReLU(inplace=False))
    return Net(backbone, tv.classifier.in_features, num_outputs, feats.conv0, (224, 224))


def resnet(depth: int, in_chans: int, num_outputs: int) -> Net:
    import torchvision

    tv = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    tv.conv1 = _adapt_conv(tv.conv1, in_chans)
    backbone = nn.Sequential(tv.conv1, tv.bn1, tv.relu, tv.maxpool, tv.layer1, tv.layer2,
                             tv.layer3, tv.layer4)
    return Net(backbone, tv.fc.in_features, num_outputs, tv.conv1, (224, 224))


def for_inference(net: Net) -> Net:
    """A copy of ``net`` for fast inference, equal in its outputs to float rounding: in eval
    mode, every convolution directly followed by a batch norm inside an ``nn.Sequential``
    folded into one convolution, and the weights in channels-last memory order.

    benchmarks/inference_throughput.py prints both, preprocessing included ("eager" and
    "predict"): on this 2-core CPU 1.05 to 1.2x faster for the compact networks and 1.4x for
    DenseNet169 and ResNet18 at batch 64. The copy leaves ``net`` untouched, so
    a network still training can be predicted with. Only for inference: the folded
    convolutions no longer train as the original did.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fast = copy.deepcopy(net).eval()
    for seq in [m for m in fast.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
                    and bn.track_running_stats):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    fast._first_conv = [_first_conv_of(fast)]
    return fast.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def _first_conv_of(net: Net) -> nn.Conv2d:
    """The first convolution of a network's backbone (after folding, a new module)."""
    for m in net.backbone.modules():
        if isinstance(m, nn.Conv2d):
            return m
    raise ValueError("the backbone has no convolution")
