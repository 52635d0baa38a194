"""Reading detector images into float64 arrays [rows, cols], rows from the bottom.

``.npy`` files are taken as written by ``deepgisas simulate`` (row 0 = lowest alpha_f).
Negative pixels (detector gaps, -1 in Pilatus files) and NaN are masked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepgisas.errors import UserError


def read_image(path: str | Path) -> np.ndarray:
    """float64 [rows, cols], NaN where a pixel is masked (negative or not finite)."""
    p = Path(path)
    if not p.exists():
        raise UserError("no such file", str(p))
    if p.suffix.lower() != ".npy":
        raise UserError(f"unsupported image format {p.suffix!r} (supported: .npy)", str(p))
    try:
        img = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"not a readable .npy array ({exc.__class__.__name__})", str(p)) from None
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2 or not np.issubdtype(img.dtype, np.number):
        raise UserError(f"expected a 2-D numeric image, got {img.dtype} {img.shape}", str(p))
    img = img.astype(np.float64)
    img[~np.isfinite(img) | (img < 0)] = np.nan
    return img
