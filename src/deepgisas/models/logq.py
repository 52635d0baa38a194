"""``logq``: a network that reads the Bragg rods on a logarithmic q_y axis.

The rods of a lattice lie at q_y proportional to 1/a; on the detector (phi_f ~ q_y lambda / 2 pi)
their columns scale with lambda / a, and the form factor's envelope with lambda / R. On the
linear column axis a change of a, R or the wavelength is a dilation, which a convolution has to
learn at every scale separately. Resampled onto u = log |phi_f|, it is a translation, which a
convolution handles by construction (and pooling over u forgets it).

:class:`LogQBackbone`:

- ``resample`` maps the columns, on each side of the specular plane (the middle of the
  input), onto ``samples`` points equally spaced in log |phi_f| by linear interpolation
  between neighbouring columns; the two sides become separate channels, so the left-right
  asymmetry that the Ewald sphere's curvature gives (xi against 60 - xi) stays visible;
- a stem sums each band of rows (alpha_f: along a rod, the exit angle sets q_x and q_z) in each
  column, the bands are resampled as above, a 3 x 3 convolution mixes neighbouring bands and
  samples and a full-height convolution folds the bands into channels;
- residual 1 x 5 convolutions along u, dilated 1, 2, 4, ..., see the whole axis from every
  point.

The net averages the features over u (``pool="global"``), so its answer does not depend on
where the pattern lies along u, only on the pattern's shape there. ``to_image`` maps a map over u
back onto the input's columns (Grad-CAM).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from deepgisas.models.nets import Net, conv_bn


def log_points(cols: int, samples: int, inner: float) -> tuple[Tensor, Tensor]:
    """Where ``samples`` points |q| = q0 exp(k du), from ``q0 = inner * cols / 2`` to the
    outermost column's centre (column units, the specular plane at ``cols / 2``), fall among
    ``cols`` columns, on the right (row 0) and left (row 1) side: the lower neighbouring column
    [2, samples] and the linear interpolation's weight of the upper one [2, samples]."""
    half = cols / 2
    q = torch.exp(torch.linspace(math.log(inner * half), math.log(half - 0.5), samples,
                                 dtype=torch.float64))
    pos = torch.stack((half + q - 0.5, half - q - 0.5))  # column index (centre at c + 0.5)
    lo = pos.floor().clamp(0, cols - 2)
    return lo.long(), (pos - lo).float()


def log_columns(cols: int, samples: int, inner: float) -> Tensor:
    """``[cols, 2, samples]``: the interpolation of :func:`log_points` as a matrix."""
    lo, t = log_points(cols, samples, inner)
    m = torch.zeros(cols, 2, samples)
    k = torch.arange(samples)
    for side in range(2):
        m[lo[side], side, k] += 1 - t[side]
        m[lo[side] + 1, side, k] += t[side]
    return m


class LogQBackbone(nn.Module):
    """Input [B, C, H, W] -> features [B, width, 1, samples] along u = log |phi_f|."""

    def __init__(self, in_chans: int, input_size: tuple[int, int], width: int = 64,
                 stem: int = 32, bands: int = 8, samples: int = 144, inner: float = 3 / 56,
                 dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)) -> None:
        super().__init__()
        rows, cols = input_size
        if rows % bands:
            raise ValueError(f"{rows} input rows do not split into {bands} bands")
        self.bands, self.samples, self.inner, self.cols = bands, samples, inner, cols
        lo, t = log_points(cols, samples, inner)
        self.register_buffer("lo", lo, persistent=False)
        self.register_buffer("t", t, persistent=False)
        step = rows // bands
        self.stem = conv_bn(in_chans, stem, (step, 1), (step, 1))
        self.mix = conv_bn(2 * stem, stem, (3, 3))
        self.fold = nn.Sequential(nn.Conv2d(stem, width, (bands, 1), bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, (1, 5), padding=(0, 2 * d), dilation=(1, d),
                                    bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
            for d in dilations)

    def _points(self, cols: int, like: Tensor) -> tuple[Tensor, Tensor]:
        lo, t = self.get_buffer("lo"), self.get_buffer("t")
        if cols != self.cols:  # another detector's width: the same log grid, rebuilt
            lo, t = log_points(cols, self.samples, self.inner)
        return lo.to(like.device), t.to(like.device, like.dtype)

    def resample(self, x: Tensor) -> Tensor:
        """[B, C, H, W] -> [B, 2C, H, samples]: each side of the specular plane on log |phi_f|
        (channels: each input channel's right side, then its left side)."""
        lo, t = self._points(x.shape[-1], x)
        lo, t = lo.reshape(-1), t.reshape(-1)
        out = x[..., lo] * (1 - t) + x[..., lo + 1] * t  # [B, C, H, 2 samples]
        b, c, h = x.shape[:3]
        return out.reshape(b, c, h, 2, -1).transpose(2, 3).reshape(b, 2 * c, h, -1)

    def to_image(self, values: Tensor, cols: int) -> Tensor:
        """A map over u [B, K, 1, samples] -> the same map on the input's columns
        [B, K, 1, cols] (each column takes the value at its |phi_f| by the transposed
        interpolation; inside the innermost sample, 0)."""
        m = log_columns(cols, self.samples, self.inner).sum(1).to(values.device, values.dtype)
        return torch.einsum("bkhu,wu->bkhw", values, m)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        h = F.adaptive_avg_pool2d(h, (self.bands, h.shape[-1]))  # another detector's rows
        h = self.fold(self.mix(self.resample(h)))
        for block in self.blocks:
            h = h + block(h)
        return h


def logq_net(in_chans: int, num_outputs: int, input_size: tuple[int, int] = (56, 112),
             hidden: int = 256) -> Net:
    bb = LogQBackbone(in_chans, input_size)
    stem = bb.stem[0]
    assert isinstance(stem, nn.Conv2d)
    width = bb.fold[0].out_channels
    assert isinstance(width, int)
    return Net(bb, width, num_outputs, stem, input_size, drop=0.1, pool="global",
               hidden=hidden)
