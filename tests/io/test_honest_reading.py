"""Reading as a beamline user needs it: vertical-sample instruments from the instrument file,
what was masked and why, negative values kept on request, and the API the README names."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

import deepgisas as dg
from deepgisas.cli.main import main
from deepgisas.io.description import read_instrument
from deepgisas.io.geometry import specular_px
from deepgisas.io.images import ModelImages, NegativeWarning, read_measured
from deepgisas.io.readers import describe_mask, mask_reasons
from deepgisas.templates import parse_template
from tests.io.helpers import INSTRUMENTS, real


def test_the_readme_import_works() -> None:
    from deepgisas.io import read_detector_image

    img = read_detector_image(real("chess"))
    assert img.shape == (1024, 1024) and "masked" in img.metadata


def _maria_window() -> dg.Template:
    """A spherical model grid around MARIA's specular spot, at MARIA's wavelength."""
    d = dg.load("film").to_dict()
    d["beam"] = {"wavelength_nm": 0.6, "alpha_i_deg": 1.61, "intensity": 1.0}
    d["detector"] = {"spherical": {"phi_deg": [-2.0, 2.0], "alpha_deg": [0.0, 4.0],
                                   "shape": [80, 80]}}
    return parse_template(d)


def _centroid(img: np.ndarray, r0: int, c0: int, half: int) -> tuple[float, float]:
    """(row, column) pixel coordinates of the centroid of the pixels within ``half`` of
    (r0, c0) that reach half the box's maximum (a spot, not a hot pixel elsewhere)."""
    rows = slice(max(r0 - half, 0), r0 + half)
    cols = slice(max(c0 - half, 0), c0 + half)
    rr, cc = np.mgrid[rows, cols]
    box = img[rows, cols]
    top = box >= 0.5 * np.nanmax(box)
    return float((rr[top] + 0.5).mean()), float((cc[top] + 0.5).mean())


def test_maria_through_predicts_reader_puts_the_specular_where_show_marks_it() -> None:
    """maria.yaml says `orientation: vertical`: in the image that `show` draws, the specular
    spot is within 4 pixels of the marker (io.geometry), and in the image that predict
    resamples onto a grid around it, within 0.1 deg of alpha_f = alpha_i, phi_f = 0. Read the
    other way (as before, without the key) the spot is tens of pixels away."""
    inst = read_instrument(INSTRUMENTS / "maria.yaml")
    assert inst[1].orientation == "vertical"
    measured, data = read_measured(real("maria"), inst[1], "maria.yaml")
    assert measured.metadata["orientation"] == "vertical"
    c, r = specular_px(inst[1].geometry, math.radians(1.61))
    spot = _centroid(data, int(r), int(c), 60)
    assert abs(spot[0] - r) < 4 and abs(spot[1] - c) < 4, (spot, (r, c))
    template = _maria_window()  # 0.05 deg pixels, alpha_f from 0, phi_f from -2 deg
    img = ModelImages(template, inst, "maria")(real("maria"))
    row, col = _centroid(img, int(1.61 / 0.05), 40, 10)
    assert abs(row * 0.05 - 1.61) < 0.1 and abs(col * 0.05 - 2.0) < 0.1, (row, col)
    # the file's default orientation misplaces it
    wrong, data = read_measured(real("maria"), inst[1], "maria.yaml", orientation="top-down")
    spot = _centroid(data, int(r), int(c), 60)
    assert max(abs(spot[0] - r), abs(spot[1] - c)) > 20, spot


def test_maria_predict_cli(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert main(["predict", "film", str(real("maria")), "--instrument",
                 str(INSTRUMENTS / "maria.yaml"), "-o", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["instrument"]["wavelength_nm"] == 0.6
    assert r["instrument"]["model_wavelength_nm"] == 0.1341


def test_instrument_orientation_is_validated(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    d = yaml.safe_load((INSTRUMENTS / "maria.yaml").read_text())
    d["detector"]["orientation"] = "sideways"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(d))
    assert main(["show", str(real("maria")), "--instrument", str(bad), "-o",
                 str(tmp_path / "v.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.yaml" in err and "sideways" in err and "\n" not in err
    assert not (tmp_path / "v.png").exists()


def test_a_vertical_poni_is_the_maria_geometry(tmp_path: Path) -> None:
    """pyFAI counts Poni1 along the stored rows (phi_f on a vertical-sample detector) and
    Poni2 along the stored columns (alpha_f): with --orientation vertical the PONI file gives
    maria.yaml's detector."""
    _, det = read_instrument(INSTRUMENTS / "maria.yaml")
    g = det.geometry
    p = 0.64e-3
    poni = tmp_path / "maria.poni"
    poni.write_text("poni_version: 2\nDetector: Detector\nDetector_config: "
                    f'{{"pixel1": {p}, "pixel2": {p}, "max_shape": [1024, 1024]}}\n'
                    f"Distance: 1.965\nPoni1: {g.beam_center_px[0] * p!r}\n"
                    f"Poni2: {g.beam_center_px[1] * p!r}\nRot1: 0\nRot2: 0\nRot3: 0\n"
                    "Wavelength: 6e-10\n")
    _, from_poni = read_instrument(poni, 1.61, "vertical")
    assert from_poni.orientation == "vertical"
    assert from_poni.geometry.beam_center_px == pytest.approx(g.beam_center_px)
    assert from_poni.geometry.shape == g.shape


def test_mask_reasons() -> None:
    gaps = np.array([[-1, 5, 7], [-2, 2**31 - 1, 3]], dtype=np.int32)
    r = mask_reasons(gaps)
    assert r == {"pixels": 6, "gaps": 2, "saturated": 1}
    assert "gaps and bad pixels" in describe_mask(r) and "saturated" in describe_mask(r)
    sub = np.array([[-44.0, -257.0, 3.0], [np.nan, -1.0, 9.0]])
    r = mask_reasons(sub)
    assert r["negative"] == 3 and r["negative_range"] == [-257.0, -44.0, -1.0]
    assert r["not_finite"] == 1 and "--keep-negative" in describe_mask(r)
    kept = mask_reasons(sub, keep_negative=True)
    assert kept["kept_negative"] == 3 and "negative" not in kept


def test_show_says_why_swing_is_masked_and_keeps_negatives_on_request(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The SWING file is background-subtracted: its 31 % negative pixels are named as such,
    not as gaps, and --keep-negative keeps them."""
    png = tmp_path / "v.png"
    inst = str(INSTRUMENTS / "swing_mesocrystal.yaml")
    assert main(["show", str(real("swing")), "--instrument", inst, "-o", str(png)]) == 0
    out = capsys.readouterr().out
    assert "negative values" in out and "background-subtracted" in out and "31." in out
    assert main(["show", str(real("swing")), "--instrument", inst, "-o", str(png),
                 "--keep-negative"]) == 0
    out = capsys.readouterr().out
    assert "0.0% masked" in out and "negative values kept" in out
    assert "33.6% zero or negative, unmasked (black in the picture" in out


def test_predict_warns_about_negative_values_and_fit_keeps_them_on_request(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = np.random.default_rng(0).normal(0.0, 50.0, (128, 128))  # "subtracted" film grid
    path = tmp_path / "sub.npy"
    np.save(path, img)
    with pytest.warns(NegativeWarning, match="negative values"):
        ModelImages(dg.load("film"))(path)
    kept = ModelImages(dg.load("film"), keep_negative=True)(path)
    assert np.isfinite(kept).all()
    # background-subtracted film: the fit keeps the negative pixels, by the Gaussian objective
    d = dg.load_template("film").to_dict()
    d["detector"]["spherical"]["shape"] = [24, 24]
    small = tmp_path / "film24.yaml"
    small.write_text(yaml.safe_dump(d))
    clean = dg.simulate(dg.load_template(small).base)
    sub = clean + np.random.default_rng(1).normal(0.0, 0.05 * clean.max(), clean.shape)
    sub -= np.median(sub)
    np.save(path, sub)
    assert (sub < 0).mean() > 0.3
    out = tmp_path / "fit.json"
    assert main(["fit", str(small), str(path), "--keep-negative", "-o", str(out)]) == 0, \
        capsys.readouterr().err
    record = json.loads(out.read_text())
    assert record["objective"] == "gaussian", record.get("objective_reason")
    assert "negative values" in record["objective_reason"]
