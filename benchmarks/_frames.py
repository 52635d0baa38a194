"""Synthetic Pilatus 1M frames for the I/O benchmarks (run as scripts from this folder)."""

from __future__ import annotations

import numpy as np

SHAPE = (1043, 981)  # Pilatus 1M, rows x columns


def pilatus_frame(rng: np.random.Generator) -> np.ndarray:
    """Int32 Poisson counts (mean 20) with one vertical and one horizontal module gap (-1)."""
    img = rng.poisson(20.0, SHAPE).astype(np.int32)
    img[:, 487:494] = -1  # a vertical module gap
    img[195:212, :] = -1  # a horizontal one
    return img
