"""Fitting a real detector file: the specular spot and direct beam masked, the fit PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import deepgisas as dg
from deepgisas.fit import FitConfig
from deepgisas.fit.files import SPOT_RADIUS_DEG, fit_file, residual_limit, save_fit_png, spot_mask
from deepgisas.io.description import read_instrument
from deepgisas.io.images import ModelImages
from deepgisas.templates import parse_template
from tests.io.helpers import INSTRUMENTS, real

QUICK = FitConfig(n_starts=2, n_polish=1, n_fill=2, max_iter=3)



def test_the_galaxi_specular_spot_is_inside_the_mask() -> None:
    """On the film model's grid, the GALAXI specular spot (its brightest pixels, 1e7 over a
    1e3 to 1e5 pattern) lies inside the mask, and outside it no pixel at phi_f = 0 is more
    than 5 times its neighbours at the same alpha_f (only the phi_f = 0 streak is left)."""
    template = dg.load("film")
    reader = ModelImages(template, read_instrument(INSTRUMENTS / "galaxi.yaml"), "galaxi")
    img = reader(real("galaxi"))
    assert reader.alpha_i == pytest.approx(math.radians(0.275))
    spots = spot_mask(template, reader)  # what fit_file masks
    assert spots is not None
    assert 10 <= spots.sum() <= 40
    peak = np.unravel_index(np.nanargmax(img), img.shape)
    assert spots[peak] and np.nanmax(img[~spots]) < np.nanmax(img) / 30
    centre = img[:, 63:65].mean(1)  # the two columns at phi_f = 0
    beside = img[:, [61, 66]].mean(1)
    outside = ~spots[:, 63:65].any(1)
    assert np.nanmax((centre / beside)[outside]) < 5


def test_fit_file_masks_the_spots_and_can_be_told_not_to(tmp_path: Path) -> None:
    d = dg.load("film").to_dict()
    d["detector"]["spherical"]["shape"] = [64, 64]  # a coarse grid: the mask is >= 1 pitch
    d["sample"]["particles"]["size_distribution"]["samples"] = 3
    template = parse_template(d)
    inst = INSTRUMENTS / "galaxi.yaml"
    result, image, spots = fit_file(template, real("galaxi"), instrument=inst, config=QUICK)
    assert spots is not None and spots.any() and spots.sum() < 20
    assert np.isfinite(image[spots]).all() and np.isnan(result.fitted[spots]).all()
    assert result.extra["masked_spots"] == {"alpha_f_deg": [0.275, -0.275],
                                            "radius_deg": SPOT_RADIUS_DEG,
                                            "pixels": int(spots.sum())}
    png = tmp_path / "fit.png"
    save_fit_png(image, result, template, png, "galaxi", spots)
    assert png.read_bytes()[:4] == b"\x89PNG"
    off, _, none = fit_file(template, real("galaxi"), instrument=inst, config=QUICK,
                            spot_radius_deg=None)
    assert none is None and "masked_spots" not in off.extra
    assert np.isfinite(off.fitted[spots]).all()
    # an instrument is what knows alpha_i: without one nothing is masked
    npy = tmp_path / "image.npy"
    np.save(npy, np.nan_to_num(image, nan=-1.0))
    _, _, none = fit_file(template, npy, config=QUICK)
    assert none is None


def test_residual_limit_ignores_a_few_outliers() -> None:
    r = np.random.default_rng(0).normal(0, 0.1, (100, 100))
    r[50, 50], r[0, 0] = -3.0, np.nan
    assert 0.2 < residual_limit(r) < 0.3
    assert residual_limit(np.full((3, 3), np.nan)) == 1.0
    assert residual_limit(np.zeros((3, 3))) == 0.01
