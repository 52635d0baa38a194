"""Geometry: the simulator's pixel directions, round trips, q at known points, PONI files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from deepgisas.errors import UserError
from deepgisas.io.description import read_instrument
from deepgisas.io.geometry import (
    angles_to_pixel,
    beam_spots,
    critical_angle,
    direct_beam_px,
    pixel_angles,
    pixel_grid,
    pixel_to_angles,
    q_at,
    specular_px,
    yoneda_px,
)
from deepgisas.io.poni import poni_to_rectangular, read_poni, rectangular_to_poni_text
from deepgisas.sample import Rectangular, Spherical
from tests.io.helpers import INSTRUMENTS, galaxi_poni, real

GALAXI = Rectangular((1043, 981), 0.172, 1730.0, (597.1, 323.4))
AI = math.radians(0.275)
WL = 0.1341


def test_angles_are_the_simulators_directions() -> None:
    pa = pixel_angles(GALAXI, AI, WL)
    g = pixel_grid(GALAXI, AI)
    uz = g.uz[0].numpy()
    np.testing.assert_allclose(np.sin(pa.alpha_f), uz, atol=1e-15)
    np.testing.assert_allclose(np.tan(pa.phi_f), (g.uy / g.ux)[0].numpy(), atol=1e-15)
    assert pa.alpha_f.shape == (1043, 981)
    # alpha_f grows with the row (row 0 = bottom), phi_f with the column
    assert (np.diff(pa.alpha_f[:, 597]) > 0).all() and (np.diff(pa.phi_f[400]) > 0).all()


@pytest.mark.parametrize("geometry", [GALAXI, Spherical((-1.0, 2.0), (0.0, 2.5), (64, 80))])
def test_round_trip_pixel_angles_pixel(geometry: Rectangular | Spherical) -> None:
    rows, cols = geometry.shape
    rng = np.random.default_rng(0)
    col, row = rng.uniform(0, cols, 500), rng.uniform(0, rows, 500)
    af, pf = pixel_to_angles(col, row, geometry, AI)
    c2, r2 = angles_to_pixel(af, pf, geometry, AI)
    np.testing.assert_allclose(c2, col, atol=1e-8)
    np.testing.assert_allclose(r2, row, atol=1e-8)
    # at pixel centres, pixel_to_angles is pixel_angles
    pa = pixel_angles(geometry, AI, WL)
    cc, rr = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    af, pf = pixel_to_angles(cc, rr, geometry, AI)
    np.testing.assert_allclose(af, pa.alpha_f, atol=1e-12)
    np.testing.assert_allclose(pf, pa.phi_f, atol=1e-12)


def test_known_points_and_q() -> None:
    bc = direct_beam_px(GALAXI, AI)
    np.testing.assert_allclose(bc, GALAXI.beam_center_px, atol=1e-9)
    sc, sr = specular_px(GALAXI, AI)
    # the specular beam is 2 alpha_i above the direct beam on a detector normal to it
    assert sc == pytest.approx(597.1)
    assert sr == pytest.approx(323.4 + 1730.0 * math.tan(2 * AI) / 0.172, abs=1e-9)
    k = 2 * math.pi / WL
    qx, qy, qz = q_at(np.array(AI), np.array(0.0), AI, WL)
    assert qy == pytest.approx(0.0) and qx == pytest.approx(0.0, abs=1e-12)
    assert qz == pytest.approx(2 * k * math.sin(AI))  # specular: q_z = 4 pi sin(ai) / lambda
    qx, qy, qz = q_at(np.array(0.0), np.radians(1.0), AI, WL)
    assert qy == pytest.approx(k * math.sin(math.radians(1.0)))
    assert qz == pytest.approx(k * math.sin(AI))
    # q of a pixel centre equals q_at its angles
    pa = pixel_angles(GALAXI, AI, WL)
    _, qy2, qz2 = q_at(pa.alpha_f[500, 700], pa.phi_f[500, 700], AI, WL)
    assert (pa.q_y[500, 700], pa.q_z[500, 700]) == pytest.approx((qy2, qz2))


def test_yoneda() -> None:
    assert math.degrees(critical_angle(5.78e-6)) == pytest.approx(0.1948, abs=1e-4)
    _, r = yoneda_px(GALAXI, AI, 5.78e-6)
    af, _ = pixel_to_angles(np.array(597.1), np.array(r), GALAXI, AI)
    assert float(af) == pytest.approx(critical_angle(5.78e-6))
    with pytest.raises(UserError):
        critical_angle(0.0)


def test_poni_round_trip_and_versions(tmp_path: Path) -> None:
    p = tmp_path / "g.poni"
    p.write_text(rectangular_to_poni_text(GALAXI, WL))
    poni = read_poni(p)
    assert poni.wavelength_m == pytest.approx(WL * 1e-9)
    back = poni_to_rectangular(poni)
    assert back.shape == GALAXI.shape and back.distance_mm == pytest.approx(1730.0)
    assert back.pixel_size_mm == pytest.approx(0.172)
    np.testing.assert_allclose(back.beam_center_px, GALAXI.beam_center_px)
    v1 = tmp_path / "v1.poni"
    v1.write_text("# pyFAI v1\nPixelSize1: 0.000172\nPixelSize2: 0.000172\nDistance: 1.73\n"
                  "Poni1: 0.123\nPoni2: 0.1027012\nRot1: 0\nRot2: 0\nRot3: 0\n")
    g = poni_to_rectangular(read_poni(v1), (1043, 981))
    assert g.beam_center_px == pytest.approx((0.1027012 / 0.000172, 1043 - 0.123 / 0.000172))


@pytest.mark.parametrize("text", [
    galaxi_poni(),
    galaxi_poni("{}", "Pilatus1M"),  # a named detector: pixel size and shape from the name
    galaxi_poni('{"orientation": 3}', "Pilatus 1M CdTe"),
    # pyFAI's orientation 2 counts the rows from the other end
    galaxi_poni('{"pixel1": 0.000172, "pixel2": 0.000172, "max_shape": [1043, 981], '
                 '"orientation": 2}', poni1_px=323.4),
])
def test_poni_instrument_gives_the_yaml_angles(text: str, tmp_path: Path) -> None:
    p = tmp_path / "galaxi.poni"
    p.write_text(text)
    beam, det = read_instrument(p, alpha_i_deg=0.275)
    ref_beam, ref_det = read_instrument(INSTRUMENTS / "galaxi.yaml")
    assert beam.wavelength_nm == pytest.approx(ref_beam.wavelength_nm, rel=1e-12)
    assert beam.alpha_i_deg == ref_beam.alpha_i_deg
    assert det.shape == ref_det.shape
    a = pixel_angles(det.geometry, AI, WL)
    b = pixel_angles(ref_det.geometry, AI, WL)
    np.testing.assert_allclose(a.alpha_f, b.alpha_f, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.phi_f, b.phi_f, rtol=0, atol=1e-9)


def test_poni_rows_match_the_real_specular_peak(tmp_path: Path) -> None:
    """The orientation convention on real data: through the PONI geometry, the brightest pixel
    of the GALAXI image (the specular peak) sits where alpha_f = alpha_i, phi_f = 0."""
    from deepgisas.io.readers import read_detector_image

    p = tmp_path / "galaxi.poni"
    p.write_text(galaxi_poni("{}", "Pilatus1M"))
    _, det = read_instrument(p, alpha_i_deg=0.275)
    img = read_detector_image(real("galaxi"))
    row, col = np.unravel_index(np.nanargmax(img.data), img.shape)
    sc, sr = specular_px(det.geometry, AI)
    assert abs(col + 0.5 - sc) < 4 and abs(row + 0.5 - sr) < 4, ((col, row), (sc, sr))


def test_poni_errors(tmp_path: Path) -> None:
    p = tmp_path / "bad.poni"
    p.write_text("PixelSize1: 1e-4\nPixelSize2: 1e-4\nDistance: 1\nPoni1: x\n")
    with pytest.raises(UserError, match="bad.poni: poni1: expected a number"):
        read_poni(p)
    p.write_text("PixelSize1: 1e-4\nPixelSize2: 1e-4\nDistance: 1\nPoni1: 0.01\nPoni2: 0.01\n"
                 "Rot1: 0.01\n")
    with pytest.raises(UserError, match="tilted"):
        poni_to_rectangular(read_poni(p), (100, 100))


@pytest.mark.parametrize(("text", "message"), [
    (galaxi_poni().replace("Distance: 1.73\n", ""), "no 'distance' line"),
    (galaxi_poni().replace("Poni2:", "Poni2: 0.1 m #"), "poni2: expected a number"),
    (galaxi_poni().replace("Rot2: 0", "Rot2: 0.0012"), "tilted detector (rot2 = 0.0012 rad)"),
    (galaxi_poni().replace("Wavelength: 1.341e-10\n", ""), "no 'wavelength' line"),
    (galaxi_poni("{pixel1: 1}"), "Detector_config is not JSON"),
    (galaxi_poni('{"pixel1": "big", "pixel2": 1e-4}'), "pixel1: expected a number"),
    (galaxi_poni("{}", "Mystery9000"), "no pixel size"),
    (galaxi_poni('{"pixel1": 1e-4, "pixel2": 1e-4}'), "max_shape"),
    (galaxi_poni('{"pixel1": 1e-4, "pixel2": 2e-4, "max_shape": [10, 10]}'), "non-square"),
    (galaxi_poni('{"pixel1": 1e-4, "pixel2": 1e-4, "max_shape": [10, 10], "orientation": 7}'),
     "orientation 7"),
    ("", "not a PONI file"),
    ("beam:\n  wavelength_nm: 0.1\n", "no 'distance' line"),
])
def test_poni_instrument_errors_name_the_file(text: str, message: str, tmp_path: Path) -> None:
    p = tmp_path / "bad.poni"
    p.write_text(text)
    with pytest.raises(UserError) as info:
        read_instrument(p, alpha_i_deg=0.275)
    assert str(info.value).startswith(f"{p}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_alpha_i(tmp_path: Path) -> None:
    p = tmp_path / "g.poni"
    p.write_text(galaxi_poni())
    with pytest.raises(UserError, match="g.poni: a PONI file has no incidence angle"):
        read_instrument(p)
    with pytest.raises(UserError, match="alpha_i_deg: the incidence angle must be in"):
        read_instrument(p, alpha_i_deg=-0.1)
    beam, _ = read_instrument(INSTRUMENTS / "galaxi.yaml", alpha_i_deg=0.3)  # replaces 0.275
    assert beam.alpha_i_deg == 0.3


def test_beam_spots() -> None:
    sph = Spherical((-2.0, 2.0), (-0.5, 2.5), (150, 128))  # 0.02 deg rows, 0.03125 deg columns
    spots = beam_spots(sph, AI, math.radians(0.05))
    pa = pixel_angles(sph, AI, WL)
    af, pf = np.degrees(pa.alpha_f), np.degrees(pa.phi_f)
    near = lambda a0: ((af - a0) / 0.05) ** 2 + (pf / 0.05) ** 2 <= 1  # noqa: E731
    np.testing.assert_array_equal(spots, near(0.275) | near(-0.275))
    assert spots[af < 0].any() and 10 < spots.sum() < 60  # both spots are on this grid
    # a coarse grid: at least the pixels within one pitch of the spot
    coarse = Spherical((-2.0, 2.0), (0.0, 2.5), (16, 16))
    c = beam_spots(coarse, AI, math.radians(0.05))
    assert c.sum() >= 2 and c[1, 7] and c[1, 8]
    # a flat detector: the specular pixel and the direct-beam pixel
    g = beam_spots(GALAXI, AI, math.radians(0.05))
    sc, sr = specular_px(GALAXI, AI)
    assert g[int(sr), int(sc)] and g[323, 597] and not g[600, 597]
    assert g.sum() == pytest.approx(2 * math.pi * (0.05 / math.degrees(0.172 / 1730)) ** 2,
                                    rel=0.1)
