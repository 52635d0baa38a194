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
                 pool: str = "global", columns: int = 1) -> None:
        super().__init__()
        if pool not in ("global", "rows"):
            raise ValueError(f"unknown pooling {pool!r}")
        self.backbone = backbone
        self.pool, self.columns = pool, (columns if pool == "rows" else 1)
        self.num_features = num_features  # channels of the feature map
        self.input_size = input_size  # the image size the architecture is designed for
        self.drop = nn.Dropout(drop)
        self.head = nn.Linear(num_features * self.columns, num_outputs)
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
        self.head = nn.Linear(self.head.in_features, num_outputs).to(self.head.weight.device)


def _conv_bn(cin: int, cout: int, k: tuple[int, int], stride: tuple[int, int] = (1, 1)
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
        layers: list[nn.Module] = [_conv_bn(in_chans, widths[0], (5, 3), (2, 1))]
        for cin, w in zip(widths[:-1], widths[1:], strict=True):
            layers += [_conv_bn(cin, w, (3, 3), (2, 2)), _conv_bn(w, w, (3, 3))]
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
