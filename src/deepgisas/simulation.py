"""Experiments (numbers only) into images: grouped by structure, compiled to tensors once per
group, simulated in chunks that bound memory, masked as BornAgain 25 masks them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from deepgisas.compile import compile_batch, group_by_structure
from deepgisas.errors import UserError
from deepgisas.physics.simulate import simulate_tensors
from deepgisas.sample import Experiment

CHUNK_PIXELS = 2_000_000  # pixels x size (or beam) members per tensor pass, to bound memory


def simulate(experiment: Experiment, device: str | torch.device = "cpu",
             mixed: bool | None = None) -> np.ndarray:
    """Simulated intensity, float64 [rows, cols], rows = alpha_f from low to high
    (``mixed``: as for :func:`simulate_batch`).

    Pixels masked or outside the region of interest are NaN, as in BornAgain 25.
    """
    return simulate_batch([experiment], device=device, mixed=mixed)[0]


def simulate_batch(experiments: Sequence[Experiment], device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float64, mixed: bool | None = None) -> np.ndarray:
    """Simulate many experiments: one tensor pass per group of equal structure (chunked).

    ``mixed``: mixed precision, the sphere-like particles' DWBA terms (the bulk of the work:
    every size member at every pixel) in float32 and everything else in float64; nearly as
    fast as float32, within 1e-5 of BornAgain 25 (at most 3.7e-6 on the 60 test cases;
    :func:`deepgisas.physics.dwba.lowered`, docs/benchmarks.md). None (the default): mixed
    precision for float64; False: every kernel in ``dtype`` (float64 then equals BornAgain to
    rounding, as the fits' finite differences need).

    Returns float64 [n, rows, cols]; masked pixels are NaN.
    """
    if not experiments:
        raise UserError("no experiments to simulate")
    mixed = dtype == torch.float64 if mixed is None else mixed
    if mixed and dtype != torch.float64:
        raise UserError(f"mixed precision is a float64 simulation; got dtype {dtype}")
    shapes = {e.detector.shape for e in experiments}
    if len(shapes) != 1:
        raise UserError(f"all experiments need one detector shape, got {sorted(shapes)}")
    rows, cols = shapes.pop()
    out = np.empty((len(experiments), rows, cols), dtype=np.float64)
    with torch.no_grad():
        for st, idx in group_by_structure(experiments).items():
            members = max(st.n_sizes, st.n_domains) * st.n_beam
            per = max(1, CHUNK_PIXELS // (rows * cols * members))
            for start in range(0, len(idx), per):
                part = idx[start:start + per]
                st_, params = compile_batch([experiments[i] for i in part], dtype, device)
                st_ = replace(st_, mixed=True) if mixed else st_
                out[part] = simulate_tensors(st_, params).cpu().double().numpy()
    for i, e in enumerate(experiments):
        out[i][~detector_mask(e)] = np.nan
    return out


def detector_mask(e: Experiment) -> np.ndarray:
    """[rows, cols] bool, True where a pixel is measured (inside the ROI, outside every mask)."""
    rows, cols = e.detector.shape
    keep = np.ones((rows, cols), dtype=bool)
    if e.detector.roi_px is not None:
        c0, r0, c1, r1 = e.detector.roi_px
        keep[:] = False
        keep[r0:r1, c0:c1] = True
    for c0, r0, c1, r1 in e.detector.mask_px:
        keep[r0:r1, c0:c1] = False
    return keep
