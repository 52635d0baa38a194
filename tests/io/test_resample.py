"""Resampling onto a model's grid: features land where the angles say, masks are carried,
outside parts warn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from deepgisas.io.geometry import angles_to_pixel, pixel_angles
from deepgisas.io.resample import OutsideWarning, resample
from deepgisas.sample import Rectangular, Spherical

FLAT = Rectangular((400, 300), 0.172, 1730.0, (150.0, 40.0))
AI = math.radians(0.3)
SPH = Spherical((-0.6, 0.6), (0.0, 1.5), (60, 48))


def _spot(alpha_deg: float, phi_deg: float) -> np.ndarray:
    """A Gaussian spot on FLAT, centred on the given direction, width 2 px."""
    c, r = angles_to_pixel(np.radians(alpha_deg), np.radians(phi_deg), FLAT, AI)
    cc, rr = np.meshgrid(np.arange(300) + 0.5, np.arange(400) + 0.5)
    return 1.0 + 1e4 * np.exp(-((cc - c) ** 2 + (rr - r) ** 2) / (2 * 2.0**2))


def test_a_spot_lands_at_its_angles_on_a_spherical_grid() -> None:
    out = resample(_spot(0.8, 0.25), FLAT, SPH, AI)
    assert out.outside == 0 and not out.mask.any()
    i, j = np.unravel_index(np.argmax(out.data), out.data.shape)
    pa = pixel_angles(SPH, AI, 0.1341)
    assert math.degrees(pa.alpha_f[i, j]) == pytest.approx(0.8, abs=0.025)  # bin 0.025 deg
    assert math.degrees(pa.phi_f[i, j]) == pytest.approx(0.25, abs=0.025)


def test_identity_on_the_same_grid() -> None:
    img = _spot(0.5, -0.2)
    out = resample(img, FLAT, FLAT, AI)
    np.testing.assert_allclose(out.data, img, rtol=1e-9)


def test_flat_to_flat_shifted_beam_centre() -> None:
    """Another flat detector whose beam centre is 10 columns further right: the image moves."""
    img = _spot(0.5, 0.0)
    target = Rectangular((400, 300), 0.172, 1730.0, (160.0, 40.0))
    with pytest.warns(OutsideWarning):  # the 10 rightmost target columns see nothing
        out = resample(img, FLAT, target, AI)
    ii, jj = np.unravel_index(np.nanargmax(out.data), out.data.shape)
    i0, j0 = np.unravel_index(np.argmax(img), img.shape)
    assert (ii, jj - j0) == (i0, 10)


def test_masks_are_carried() -> None:
    img = _spot(0.8, 0.25)
    mask = np.zeros(img.shape, bool)
    mask[:, 140:147] = True  # a module gap
    out = resample(img, FLAT, SPH, AI, mask=mask)
    pa = pixel_angles(SPH, AI, 0.1341)
    c, _ = angles_to_pixel(pa.alpha_f, pa.phi_f, FLAT, AI)
    needs_gap = (c - 0.5 > 139) & (c - 0.5 < 147)
    assert out.mask[needs_gap].all() and np.isnan(out.data[needs_gap]).all()
    assert not out.mask[(c < 130) | (c > 160)].any()


def test_outside_area_warns_with_the_fraction() -> None:
    wide = Spherical((-3.0, 3.0), (0.0, 1.5), (30, 60))
    with pytest.warns(OutsideWarning, match=r"img\.tif: \d+\.\d% of the model's"):
        out = resample(_spot(0.8, 0.0), FLAT, wide, AI, where="img.tif")
    pa = pixel_angles(wide, AI, 0.1341)
    c, _ = angles_to_pixel(pa.alpha_f, pa.phi_f, FLAT, AI)
    expected = ((c < 0) | (c > 300)).mean()
    assert out.outside == pytest.approx(expected) and 0.3 < out.outside < 0.8
    assert out.mask[(c < 0) | (c > 300)].all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resample(_spot(0.8, 0.0), FLAT, SPH, AI)  # inside: no warning
