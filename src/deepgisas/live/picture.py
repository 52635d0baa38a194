"""The dashboard's picture of a frame: the image on the model's grid, log scale, as a PNG.

Masked pixels (NaN: the instrument's masks, detector gaps, outside the measured detector) are
grey; pixels the fit leaves out (``fit_mask``, e.g. the specular spot) are drawn in magenta
at half strength over the colours. Row 0 of the model's grid is the bottom of the detector,
so it is drawn at the bottom. The browser scales the PNG (pixelated), so nothing is
resampled here.
"""

from __future__ import annotations

import io

import numpy as np

GREY = np.array([150, 150, 150], dtype=np.uint8)
MAGENTA = np.array([255, 0, 255], dtype=np.float64)


def _lut() -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


_LUT: np.ndarray | None = None


def frame_png(image: np.ndarray, fit_mask: np.ndarray | None = None) -> bytes:
    """PNG bytes of ``image`` [rows, cols] (counts, NaN = masked) on a log scale from its
    smallest positive value to its largest."""
    global _LUT
    from PIL import Image

    if _LUT is None:
        _LUT = _lut()
    data = np.asarray(image, dtype=np.float64)
    ok = np.isfinite(data)
    positive = data[ok & (data > 0)]
    if positive.size:
        lo, hi = np.log10(positive.min()), np.log10(positive.max())
        scaled = (np.log10(np.clip(np.where(ok, data, 1.0), 10 ** lo, None)) - lo) / max(
            hi - lo, 1e-12)
    else:
        scaled = np.zeros_like(data)
    rgb = _LUT[np.clip((scaled * 255).astype(int), 0, 255)]
    rgb[~ok] = GREY
    if fit_mask is not None and fit_mask.shape == data.shape:
        out = fit_mask & ok
        rgb[out] = (0.5 * rgb[out] + 0.5 * MAGENTA).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb[::-1])).save(buf, format="PNG")
    return buf.getvalue()
