"""Readers: every format, gzip, orientation, masks, metadata; the four real files."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import fabio
import h5py
import numpy as np
import pytest

from deepgisas.errors import UserError
from deepgisas.io.description import read_instrument
from deepgisas.io.features import find_specular
from deepgisas.io.geometry import specular_px
from deepgisas.io.readers import read_detector_image
from tests.io.helpers import FILES, INSTRUMENTS, real

logging.getLogger("fabio").setLevel(logging.CRITICAL)


def _pattern(rows: int = 6, cols: int = 5, dtype: str = "int32") -> np.ndarray:
    """Counts with row r (as stored, 0 = top) worth 10 r: the stored top row is lowest."""
    return (np.arange(rows)[:, None] * 10 + np.arange(cols)[None, :]).astype(dtype)


def _gz(p: Path) -> Path:
    out = p.with_name(p.name + ".gz")
    out.write_bytes(gzip.compress(p.read_bytes()))
    return out


@pytest.mark.parametrize("fmt", ["tif", "cbf", "edf", "h5", "nxs", "txt", "npy"])
@pytest.mark.parametrize("gz", [False, True])
def test_formats_orientation_and_float(tmp_path: Path, fmt: str, gz: bool) -> None:
    a = _pattern()
    p = tmp_path / f"img.{fmt}"
    if fmt in ("tif", "edf"):
        (fabio.tifimage.TifImage if fmt == "tif" else fabio.edfimage.EdfImage)(data=a).write(
            str(p))
    elif fmt == "cbf":
        fabio.cbfimage.CbfImage(data=a).write(str(p))
    elif fmt == "h5":
        with h5py.File(p, "w") as f:
            f["entry/junk"] = np.zeros(3)
            f["entry/image"] = a
    elif fmt == "nxs":
        with h5py.File(p, "w") as f:
            det = f.create_group("entry/instrument/detector")
            det.attrs["NX_class"] = "NXdetector"
            det["data"] = a[None]
            f["entry/bigger_but_not_the_detector"] = np.zeros((20, 20))
    elif fmt == "txt":
        np.savetxt(p, a, fmt="%d")
    else:
        np.save(p, a)
    img = read_detector_image(_gz(p) if gz else p)
    assert img.data.dtype == np.float64 and img.shape == a.shape
    expected = a if fmt == "npy" else a[::-1]  # detector files: row 0 on top -> flipped
    np.testing.assert_array_equal(img.data, expected)
    assert img.metadata["format"] == f".{fmt}" and img.metadata["gzip"] is gz
    assert not img.mask.any()


def test_negative_saturated_and_nan_are_masked(tmp_path: Path) -> None:
    a = _pattern(dtype="uint16")
    a[0, 0] = np.iinfo(np.uint16).max
    fabio.tifimage.TifImage(data=a).write(str(tmp_path / "s.tif"))
    img = read_detector_image(tmp_path / "s.tif")
    assert img.mask[-1, 0] and img.mask.sum() == 1 and np.isnan(img.data[-1, 0])
    b = _pattern(dtype="float64")
    b[1, 2], b[2, 3] = -1, np.nan
    np.save(tmp_path / "b.npy", b)
    img = read_detector_image(tmp_path / "b.npy")
    assert img.mask[1, 2] and img.mask[2, 3] and img.mask.sum() == 2


def test_multiframe_edf_picks_a_frame(tmp_path: Path) -> None:
    p = tmp_path / "m.edf"
    im = fabio.edfimage.EdfImage(data=_pattern())
    im.append_frame(data=_pattern() + 1000)
    im.write(str(p))
    assert read_detector_image(p, frame=1).data[-1, 0] == 1000
    assert read_detector_image(p, frame=0).data[-1, 0] == 0
    with pytest.raises(UserError, match="frame 2 does not exist"):
        read_detector_image(p, frame=2)


def test_hdf5_dataset_path_and_frames(tmp_path: Path) -> None:
    p = tmp_path / "d.h5"
    with h5py.File(p, "w") as f:
        f["a/stack"] = np.stack([_pattern(), _pattern() + 7])
        f["a/other"] = _pattern(4, 4)
    assert read_detector_image(p, dataset="a/stack", frame=1).data[-1, 0] == 7
    assert read_detector_image(p, dataset="a/other").shape == (4, 4)
    with pytest.raises(UserError, match="no dataset 'nope'"):
        read_detector_image(p, dataset="nope")


def test_orientation_override(tmp_path: Path) -> None:
    a = _pattern()
    np.savetxt(tmp_path / "m.txt", a, fmt="%d")
    assert np.array_equal(read_detector_image(tmp_path / "m.txt", orientation="vertical").data,
                          a.T)
    assert np.array_equal(read_detector_image(tmp_path / "m.txt", orientation="bottom-up").data,
                          a)


def test_unsupported_and_missing(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(UserError, match="unsupported image format"):
        read_detector_image(tmp_path / "x.png")
    with pytest.raises(UserError, match="no such file"):
        read_detector_image(tmp_path / "missing.tif")


# ------------------------------------------------------------------- the real files


@pytest.mark.parametrize("name", list(FILES))
def test_real_files_read(name: str) -> None:
    _, _, orientation, shape = FILES[name]
    img = read_detector_image(real(name), orientation=orientation)
    assert img.shape == shape and img.data.dtype == np.float64
    assert np.isfinite(img.data).sum() > 0.5 * img.data.size


def test_galaxi_module_gaps_are_masked() -> None:
    img = read_detector_image(real("galaxi"))
    raw = fabio.open(str(real("galaxi"))).data
    assert (raw == -1).sum() == img.mask.sum() > 7000
    # Pilatus 1M: a 7-pixel vertical gap between modules spans every row
    gap_cols = np.flatnonzero(img.mask.all(axis=0))
    assert len(gap_cols) == 7


def test_real_orientation_puts_specular_above_the_beam() -> None:
    """Bottom-up: the bright specular peak lies above the direct beam (higher row)."""
    for name in ("galaxi", "chess"):
        beam, det = read_instrument(INSTRUMENTS / FILES[name][1])
        img = read_detector_image(real(name))
        ai = float(beam.alpha_i_deg) * np.pi / 180
        col, row = find_specular(img.data, det.geometry, ai)
        assert row > det.geometry.beam_center_px[1] + 20


def test_galaxi_specular_where_alpha_i_puts_it() -> None:
    beam, det = read_instrument(INSTRUMENTS / "galaxi.yaml")
    ai = 0.275 * np.pi / 180
    img = read_detector_image(real("galaxi"))
    measured = np.array(find_specular(img.data, det.geometry, ai))
    predicted = np.array(specular_px(det.geometry, ai))
    assert np.hypot(*(measured - predicted)) < 2.0, (measured, predicted)


def test_swing_edf_with_a_wrong_size_header_is_read_as_its_data_type() -> None:
    """The SWING header says Size = 2 MB (16 bit) but DataType SignedInteger fills 4 MB."""
    img = read_detector_image(real("swing"))
    assert img.metadata.get("edf_size_ignored") is True and img.metadata["dtype"] == "int32"
    assert np.nanmax(img.data) > 1e5  # the Bragg peaks of the mesocrystal near the beam
