"""Features users check first on a measured image: where the specular peak really is, and the
position of the side (interference) peak in a horizontal cut near the Yoneda band.

Images are float64 [rows, cols], row 0 = bottom, NaN = masked; angles in rad, q in 1/nm.
"""

from __future__ import annotations

import numpy as np

from deepgisas.errors import UserError
from deepgisas.io.geometry import Geometry, direct_beam_px, pixel_angles


def find_specular(data: np.ndarray, geometry: Geometry, alpha_i: float,
                  half_width_px: int = 10, skip_px: int = 5) -> tuple[float, float]:
    """(column, row) pixel coordinates (centre of pixel j is j + 0.5) of the brightest local
    maximum above the direct beam, within ``half_width_px`` columns of phi_f = 0: the measured
    specular peak. The first ``skip_px`` rows above the direct beam (the beam stop) are
    skipped; the position is the intensity centroid of the 5 x 5 pixels around the maximum."""
    bc, br = direct_beam_px(geometry, alpha_i)
    rows, cols = data.shape
    c0, c1 = max(int(bc) - half_width_px, 0), min(int(bc) + half_width_px + 1, cols)
    r0 = max(int(br) + skip_px, 0)
    win = np.nan_to_num(data[r0:, c0:c1], nan=0.0)
    if win.size == 0 or not win.any():
        raise UserError("no intensity above the direct beam near phi_f = 0")
    i, j = np.unravel_index(int(np.argmax(win)), win.shape)
    i, j = i + r0, j + c0
    rr, cc = np.mgrid[max(i - 2, 0):i + 3, max(j - 2, 0):j + 3]
    w = np.nan_to_num(data[rr, cc], nan=0.0)
    return float((cc * w).sum() / w.sum() + 0.5), float((rr * w).sum() / w.sum() + 0.5)


def horizontal_cut(data: np.ndarray, geometry: Geometry, alpha_i: float, wavelength_nm: float,
                   alpha_f: float, half_rows: int = 3, q_bin: float = 0.04,
                   q_range: tuple[float, float] = (0.1, 2.5)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(|q_y| bin centres [n], mean intensity [n]): the rows within ``half_rows`` of alpha_f
    (at phi_f = 0), both sides of phi_f = 0 folded together, masked pixels left out."""
    pa = pixel_angles(geometry, alpha_i, wavelength_nm)
    j0 = int(np.argmin(np.abs(pa.phi_f[0])))
    row = int(np.argmin(np.abs(pa.alpha_f[:, j0] - alpha_f)))
    band = slice(max(row - half_rows, 0), row + half_rows + 1)
    q, values = np.abs(pa.q_y[band]).ravel(), data[band].ravel()
    keep = np.isfinite(values)
    q, values = q[keep], values[keep]
    edges = np.arange(q_range[0], q_range[1] + q_bin / 2, q_bin)
    idx = np.digitize(q, edges) - 1
    centres, means = [], []
    for b in range(len(edges) - 1):
        sel = idx == b
        if sel.any():
            centres.append((edges[b] + edges[b + 1]) / 2)
            means.append(float(values[sel].mean()))
    return np.array(centres), np.array(means)


def side_peak_qy(data: np.ndarray, geometry: Geometry, alpha_i: float, wavelength_nm: float,
                 alpha_f: float, **cut: object) -> float:
    """q_y (1/nm) of the side peak: the maximum of I(q_y) q_y^2 in the horizontal cut at
    ``alpha_f`` (see :func:`horizontal_cut`); the correlation distance is about 2 pi / q_y."""
    q, intensity = horizontal_cut(data, geometry, alpha_i, wavelength_nm, alpha_f, **cut)  # type: ignore[arg-type]
    if q.size < 3:
        raise UserError("too few unmasked pixels in the horizontal cut")
    return float(q[int(np.argmax(intensity * q * q))])
