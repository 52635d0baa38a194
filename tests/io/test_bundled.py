"""The bundled instrument files: listed, read by name (a file of the user's wins), and the
error that says what an instrument file is when an image needs one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import deepgisas as dg
from deepgisas.cli.main import main
from deepgisas.errors import UserError
from deepgisas.io.bundled import INSTRUMENTS, instrument_file
from deepgisas.io.description import read_instrument

NAMES = ["chess_pspb", "galaxi", "maria", "swing_mesocrystal"]


def test_the_four_instruments_ship_and_read_by_name() -> None:
    assert dg.bundled_instruments() == NAMES
    for name in NAMES:
        assert read_instrument(name) == read_instrument(INSTRUMENTS / f"{name}.yaml")
    beam, detector = read_instrument("galaxi", alpha_i_deg=0.3)
    assert beam.alpha_i_deg == 0.3 and detector.shape == (1043, 981)


def test_an_existing_file_wins_over_a_bundled_name(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert instrument_file("galaxi") == INSTRUMENTS / "galaxi.yaml"
    Path("galaxi").write_text((INSTRUMENTS / "maria.yaml").read_text())
    assert instrument_file("galaxi") == Path("galaxi")
    assert read_instrument("galaxi") == read_instrument("maria")


def test_neither_a_file_nor_a_bundled_name_lists_the_names() -> None:
    with pytest.raises(UserError) as info:
        read_instrument("galaxy")
    assert str(info.value).startswith(
        "galaxy: no such file, and not the name of a bundled instrument")
    assert all(name in str(info.value) for name in NAMES)


def _one_error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_an_image_that_needs_an_instrument_says_what_one_is(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = tmp_path / "detector.npy"
    np.save(img, np.ones((40, 30)))
    out = tmp_path / "p.json"
    assert main(["predict", "film", str(img), "-o", str(out)]) == 2
    err = _one_error_line(capsys)
    assert f"{img}: image is 40 x 30, the model's detector is" in err
    for words in ("give --instrument", "beam and detector geometry of the measurement",
                  "pyFAI .poni file", "galaxi", str(INSTRUMENTS)):
        assert words in err, (words, err)
    assert not out.exists()
    assert main(["show", str(img), "--axes", "q", "-o", str(tmp_path / "v.png")]) == 2
    err = _one_error_line(capsys)
    assert "--axes q needs an instrument" in err and "give --instrument" in err, err


def test_show_takes_a_bundled_instrument_by_name(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    img = tmp_path / "frame.npy"
    np.save(img, np.random.default_rng(0).poisson(5.0, (1043, 981)).astype(np.int32))
    out = tmp_path / "v.png"
    assert main(["show", str(img), "--instrument", "galaxi", "-o", str(out)]) == 0, \
        capsys.readouterr().err
    assert out.read_bytes()[:4] == b"\x89PNG"
