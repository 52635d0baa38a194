"""Augmentation: turn a clean simulated pattern into what a detector records.

Every step is a frozen, validated dataclass called as ``step(x, mask, gen) -> (x, mask)``:

- ``x``: float tensor ``[B, H, W]`` (any float dtype, any device) of intensities in counts-like
  units; rows are alpha_f from low to high (row 0 = bottom, next to the sample horizon), columns
  phi_f from low to high, and the specular / direct-beam column is the centre column.
- ``mask``: bool tensor ``[B, H, W]``, True where a pixel is measured. It travels with the image
  and becomes the network's second input channel (:func:`to_network_input`).
- ``gen``: a :class:`torch.Generator`. Every random number is drawn from it, per image (batched),
  on the generator's device, so a seed reproduces a batch exactly. A generator on ``x``'s device
  avoids copies.

Missing pixels: a beam stop and a dead strip read 0, detector module gaps read -1 (as Pilatus
files do); all three are masked, as are pixels that a beam-centre shift or the simulation's region
of interest leaves without data. :class:`Standardize` finally sets every masked pixel to 0, so
the mask channel alone says which pixels are missing.

Steps in the talk's order (Van Herck et al. 2019): :class:`Scale`, :class:`Poisson`,
:class:`BeamStop`, :class:`DeadStrip`, :class:`Log`, :class:`RandomCrop`, :class:`Standardize`.
Beyond the talk: :class:`FlatBackground`, :class:`SmoothBackground`, :class:`ModuleGaps`,
:class:`CenterShift` and :class:`Blur`. Chain them with :class:`Compose`, or take a ready
pipeline from :func:`talk_pipeline` or :func:`detector_pipeline`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from deepgisas.data._augment_spatial import (
    Blur,
    CenterShift,
    Downsample,
    RandomCrop,
    Size,
    as_range,
    center_window,
    rand,
    randint,
)
from deepgisas.errors import UserError

__all__ = [
    "BeamStop", "Blur", "CenterShift", "Compose", "DeadStrip", "Downsample", "FlatBackground",
    "Log", "ModuleGaps", "Poisson", "RandomCrop", "Scale", "SmoothBackground", "Standardize",
    "Step", "center_window", "detector_pipeline", "talk_pipeline", "to_network_input",
]

Pair = tuple[Tensor, Tensor]


class Step(Protocol):
    """One augmentation: ``(x [B, H, W], mask [B, H, W] bool, gen) -> (x, mask)``."""

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair: ...


def _mean_measured(x: Tensor, mask: Tensor) -> Tensor:
    """Per-image mean over measured pixels, ``[B]`` (0 for an image with none)."""
    m = mask.to(x.dtype)
    return (x * m).sum((1, 2)) / m.sum((1, 2)).clamp_min(1)


@dataclass(frozen=True)
class Scale:
    """Multiply each image by ``10**u``, ``u ~ U(log10_range)``: exposure time and flux."""

    log10_range: tuple[float, float] = (-2.0, 2.0)

    def __post_init__(self) -> None:
        as_range(self, "log10_range")

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair:
        lo, hi = self.log10_range
        u = rand(gen, x.shape[0], x.device, x.dtype) * (hi - lo) + lo
        return torch.where(mask, x * 10.0 ** u[:, None, None], x), mask


@dataclass(frozen=True)
class Poisson:
    """Counting noise: each measured pixel becomes ``Poisson(max(x, 0))`` counts."""

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair:
        rate = x.clamp_min(0).to(gen.device, torch.promote_types(x.dtype, torch.float32))
        counts = torch.poisson(rate, generator=gen).to(x.device, x.dtype)
        return torch.where(mask, counts, x), mask


@dataclass(frozen=True)
class BeamStop:
    """A beam stop over the direct beam and the specular spot.

    A block ``width`` columns wide, centred on the centre column (``W // 2``), covers the lowest
    ``height`` rows; both are integers drawn per image from the inclusive ranges (pixels). As in
    the talk the pixels read 0; here they are also masked, since a stopped pixel holds no
    information about the sample.
    """

    width_px: tuple[int, int] = (4, 10)
    height_px: tuple[int, int] = (10, 30)

    def __post_init__(self) -> None:
        as_range(self, "width_px", integer=True, minimum=1)
        as_range(self, "height_px", integer=True, minimum=1)

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair:
        b, h, w = x.shape
        width = randint(gen, b, *self.width_px, x.device)
        height = randint(gen, b, *self.height_px, x.device)
        left = w // 2 - width // 2
        cols = torch.arange(w, device=x.device)
        in_cols = (cols >= left[:, None]) & (cols < (left + width)[:, None])
        in_rows = torch.arange(h, device=x.device) < height[:, None]
        block = in_rows[:, :, None] & in_cols[:, None, :]
        return x.masked_fill(block, 0.0), mask & ~block


@dataclass(frozen=True)
class DeadStrip:
    """A dead vertical strip: ``width_px`` columns (inclusive range) at a random position, over
    the full height, read 0 and are masked."""

    width_px: tuple[int, int] = (3, 5)

    def __post_init__(self) -> None:
        as_range(self, "width_px", integer=True, minimum=1)

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair:
        b, _, w = x.shape
        width = randint(gen, b, *self.width_px, x.device).clamp_max(w)
        left = randint(gen, b, 0, w - width, x.device)
        cols = torch.arange(w, device=x.device)
        strip = ((cols >= left[:, None]) & (cols < (left + width)[:, None]))[:, None, :]
        return x.masked_fill(strip, 0.0), mask & ~strip


@dataclass(frozen=True)
class ModuleGaps:
    """The insensitive gaps between detector modules: gap pixels read -1 and are masked.

    The defaults are a Pilatus (1M and larger): modules of 195 rows x 487 columns, with gaps of
    17 rows between module rows and 7 columns between module columns. ``scale`` resizes modules
    and gaps together (e.g. 0.5 for a 2 x 2 binned detector). With ``random_offset`` the image is
    a window at a random position on the module grid (drawn per image); otherwise pixel (0, 0)
    is the corner of a module.
    """

    module_px: tuple[int, int] = (195, 487)
    gap_px: tuple[int, int] = (17, 7)
    scale: float = 1.0
    random_offset: bool = True

    def __post_init__(self) -> None:
        as_range(self, "module_px", integer=True, minimum=1, ordered=False)
        as_range(self, "gap_px", integer=True, minimum=0, ordered=False)
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise UserError(f"scale must be a positive number, got {self.scale}", "ModuleGaps")

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair:
        b = x.shape[0]
        gap = torch.ones(b, *x.shape[1:], dtype=torch.bool, device=x.device)
        in_module = []
        for axis, (m, g) in enumerate(zip(self.module_px, self.gap_px, strict=True)):
            m, g = max(1, round(m * self.scale)), round(g * self.scale)
            n = x.shape[1 + axis]
            offset = (randint(gen, b, 0, m + g - 1, x.device) if self.random_offset
                      else torch.zeros(b, dtype=torch.long, device=x.device))
            in_module.append((torch.arange(n, device=x.device) + offset[:, None]) % (m + g) < m)
        gap &= ~(in_module[0][:, :, None] & in_module[1][:, None, :])
        return x.masked_fill(gap, -1.0), mask & ~gap


@dataclass(frozen=True)
class FlatBackground:
    """Add a constant per image: ``level ~ U(level)``, times the image's mean over measured
    pixels if ``relative`` (else in counts). Masked pixels are left alone."""

    level: tuple[float, float] = (0.0, 0.01)
    relative: bool = True

    def __post_init__(self) -> None:
        as_range(self, "level", minimum=0.0)

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair:
        lo, hi = self.level
        add = rand(gen, x.shape[0], x.device, x.dtype) * (hi - lo) + lo
        if self.relative:
            add = add * _mean_measured(x, mask)
        return torch.where(mask, x + add[:, None, None], x), mask


@dataclass(frozen=True)
class SmoothBackground:
    """Add a smooth, positive, random field (diffuse and air scattering).

    The field is a ``grid x grid`` array of U(0, 1) values, bilinearly interpolated to the image
    and normalised to mean 1, times ``level ~ U(level)`` (times the image's mean over measured
    pixels if ``relative``, else in counts). Masked pixels are left alone.
    """

    level: tuple[float, float] = (0.0, 0.02)
    grid: int = 4
    relative: bool = True

    def __post_init__(self) -> None:
        as_range(self, "level", minimum=0.0)
        if isinstance(self.grid, bool) or not isinstance(self.grid, int) or self.grid < 2:
            raise UserError(f"grid must be an integer >= 2, got {self.grid!r}", "SmoothBackground")

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair:
        b, h, w = x.shape
        lo, hi = self.level
        level = rand(gen, b, x.device, x.dtype) * (hi - lo) + lo
        coarse = rand(gen, b * self.grid ** 2, x.device, x.dtype).view(b, 1, self.grid, self.grid)
        field = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)[:, 0]
        field = field / field.mean((1, 2), keepdim=True).clamp_min(1e-12)
        if self.relative:
            level = level * _mean_measured(x, mask)
        return torch.where(mask, x + level[:, None, None] * field, x), mask


@dataclass(frozen=True)
class Log:
    """``log(max(x, 0) + offset)``: clamping first keeps the -1 of gaps from giving NaN."""

    offset: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.offset) and self.offset > 0):
            raise UserError(f"offset must be a positive number, got {self.offset}", "Log")

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair:
        return torch.log(x.clamp_min(0) + self.offset), mask


@dataclass(frozen=True)
class Standardize:
    """Per image: zero mean and unit (population) standard deviation over the measured pixels;
    masked pixels become 0. ``eps`` bounds the divisor of a flat image."""

    eps: float = 1e-6

    def __call__(self, x: Tensor, mask: Tensor, gen: torch.Generator) -> Pair:
        m = mask.to(x.dtype)
        mean = _mean_measured(x, mask)[:, None, None]
        var = (((x - mean) * m) ** 2).sum((1, 2)) / m.sum((1, 2)).clamp_min(1)
        std = var.sqrt().clamp_min(self.eps)[:, None, None]
        return torch.where(mask, (x - mean) / std, torch.zeros_like(x)), mask


@dataclass(frozen=True)
class Compose:
    """Apply ``steps`` in order. ``x`` is ``[B, H, W]``; NaN pixels count as masked."""

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        for s in self.steps:
            if not callable(s):
                raise UserError(f"not an augmentation step: {s!r}", "Compose")

    def __call__(self, x: Tensor, mask: Tensor | None = None, gen: torch.Generator | None = None,
                 seed: int | None = None) -> Pair:
        """Returns ``(x, mask)``. Randomness comes from ``gen``, else from a new generator on
        ``x``'s device seeded with ``seed``, else seeded from torch's global generator."""
        if x.ndim != 3 or not x.is_floating_point():
            raise ValueError(f"expected a float tensor [B, H, W], got {x.dtype} {tuple(x.shape)}")
        if gen is not None and seed is not None:
            raise ValueError("give gen or seed, not both")
        if mask is not None and mask.shape != x.shape:
            raise ValueError(f"mask {tuple(mask.shape)} does not match x {tuple(x.shape)}")
        finite = x.abs() < math.inf  # as torch.isfinite, in two passes instead of four
        mask = finite if mask is None else mask.to(torch.bool) & finite
        x = torch.where(mask, x, 0.0)
        if gen is None:
            gen = torch.Generator(device=x.device)
            gen.manual_seed(int(torch.randint(2**62, ())) if seed is None else seed)
        for step in self.steps:
            x, mask = step(x, mask, gen)
        return x, mask


def to_network_input(x: Tensor, mask: Tensor, mask_channel: bool = True) -> Tensor:
    """``[B, 2, H, W]``: the image, then the mask as 0/1 in ``x``'s dtype; ``[B, 1, H, W]``
    (the image only) if not ``mask_channel``."""
    if not mask_channel:
        return x[:, None]
    return torch.stack([x, mask.to(x.dtype)], dim=1)


def talk_pipeline(crop: Size | None = 224, center_crop: bool = False,
                  scale: tuple[float, float] = (-2.0, 2.0)) -> Compose:
    """The talk's augmentation, in its order: Scale 10^U(-2,2) -> Poisson -> BeamStop ->
    DeadStrip -> Log(x + 0.1) -> RandomCrop(crop) -> Standardize. ``crop=None`` skips the crop;
    ``center_crop`` takes the centre window (validation); ``scale`` is the log10 range."""
    crop_steps = [] if crop is None else [RandomCrop(crop, center=center_crop)]
    return Compose((Scale(scale), Poisson(), BeamStop(), DeadStrip(), Log(), *crop_steps,
                    Standardize()))


def detector_pipeline(crop: Size | None = 224, center_crop: bool = False,
                      scale: tuple[float, float] = (-2.0, 2.0)) -> Compose:
    """Every step, in the order a measurement applies them.

    Scale (flux x time) -> Blur (resolution: beam divergence, pixel size) -> CenterShift (where
    the pattern lands) -> SmoothBackground -> FlatBackground (their photons are counted too) ->
    Poisson (counting) -> BeamStop -> ModuleGaps -> DeadStrip (what the detector cannot see) ->
    Log -> RandomCrop(crop) -> Standardize. ``crop=None`` skips the crop.
    """
    crop_steps = [] if crop is None else [RandomCrop(crop, center=center_crop)]
    return Compose((Scale(scale), Blur(), CenterShift(), SmoothBackground(), FlatBackground(),
                    Poisson(), BeamStop(), ModuleGaps(), DeadStrip(), Log(), *crop_steps,
                    Standardize()))
