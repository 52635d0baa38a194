"""The logq network: its columns on a log |phi_f| axis, where a dilation is a translation."""

from __future__ import annotations

import math

import torch

from deepgisas.analysis.saliency import grad_cam
from deepgisas.models import create_model
from deepgisas.models.logq import LogQBackbone, log_columns, log_points

COLS, SAMPLES, INNER = 112, 144, 3 / 56


def _image(f_right, f_left, cols: int = COLS) -> torch.Tensor:
    """[1, 1, 1, cols]: f(|q|) on each side of the plane at cols / 2 (column centres c + 0.5)."""
    q = torch.arange(cols, dtype=torch.float64) + 0.5 - cols / 2
    img = torch.where(q > 0, f_right(q.abs()), f_left(q.abs()))
    return img.float().reshape(1, 1, 1, cols)


def _grid() -> torch.Tensor:
    half = COLS / 2
    return torch.exp(torch.linspace(math.log(INNER * half), math.log(half - 0.5), SAMPLES,
                                    dtype=torch.float64))


def test_resample_reads_each_side_at_log_spaced_points() -> None:
    bb = LogQBackbone(1, (56, COLS), samples=SAMPLES, inner=INNER)
    right, left = (lambda q: torch.sin(2 * q.log())), (lambda q: 0.5 * torch.cos(3 * q.log()))
    got = bb.resample(_image(right, left))  # [1, 2, 1, samples]: right side, then left
    q = _grid()
    assert got.shape == (1, 2, 1, SAMPLES)
    # linear interpolation between columns one unit apart: error <= max |f''| / 8, with
    # |f''| <= 5 / q^2 here
    bound = 5 / q**2 / 8 + 1e-6
    assert ((got[0, 0, 0].double() - right(q)).abs() <= bound).all()
    assert ((got[0, 1, 0].double() - left(q)).abs() <= bound).all()
    # the gathered interpolation is the matrix's
    m = log_columns(COLS, SAMPLES, INNER)
    x = torch.randn(3, 2, 8, COLS)
    ref = torch.einsum("bchw,wsu->bcshu", x, m).reshape(3, 4, 8, SAMPLES)
    assert torch.allclose(bb.resample(x), ref, atol=1e-5)


def test_a_dilation_of_the_columns_is_a_translation_along_u() -> None:
    """A lattice with a larger spacing (rods at q / s) gives the same resampled profile moved
    by log(s) / du samples."""
    bb = LogQBackbone(1, (56, COLS), samples=SAMPLES, inner=INNER)
    q = _grid()
    du = float(q[1].log() - q[0].log())
    k = 9

    def rods(scale: float):
        return lambda x: sum(torch.exp(-0.5 * ((x * scale - p) / (0.12 * p)) ** 2)
                             for p in (15.0, 26.0, 30.0))

    base = bb.resample(_image(rods(1.0), rods(1.0)))[0, 0, 0]
    moved = bb.resample(_image(rods(math.exp(k * du)), rods(math.exp(k * du))))[0, 0, 0]
    peak = float(base.max())  # the interpolation's error: a few % of a rod's height
    assert torch.allclose(moved[:-k], base[k:], atol=0.03 * peak)
    assert not torch.allclose(moved, base, atol=0.3 * peak)


def test_grids_for_other_widths_and_grad_cam_on_the_image() -> None:
    lo, t = log_points(64, 40, 0.1)
    assert lo.shape == t.shape == (2, 40) and ((t >= 0) & (t <= 1)).all()
    assert (lo[0] >= 32 - 1).all() and (lo[1] <= 32).all()  # each side of the plane
    net = create_model("logq", 2, 7).eval()
    for cols in (112, 96):  # the designed width, and another detector's
        x = torch.randn(2, 2, 56, cols)
        assert net(x).shape == (2, 7)
    x = torch.randn(2, 2, 56, COLS)
    cam = grad_cam(net, x, lambda out: out[:, 0])
    assert cam.shape == (2, 56, COLS)
    # the map lies on the columns the resampled axis covers, on both sides of the plane
    inner = int(INNER * COLS / 2)
    assert cam[:, :, COLS // 2 - inner + 1:COLS // 2 + inner - 1].abs().max() == 0
    assert (cam[:, :, :COLS // 2].amax(dim=(1, 2)) > 0).all()
    assert (cam[:, :, COLS // 2:].amax(dim=(1, 2)) > 0).all()
