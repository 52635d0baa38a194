"""``deepgisas simulate`` as the contract writes it, including every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from deepgisas.cli.main import main
from tests.cases import base


def _write(tmp: Path, d: object, name: str = "exp.yaml") -> Path:
    p = tmp / name
    p.write_text(json.dumps(d) if name.endswith(".json") else yaml.safe_dump(d))
    return p


def test_simulate_writes_npy_and_png(tmp_path: Path) -> None:
    src = _write(tmp_path, base(n=32))
    out, png = tmp_path / "out.npy", tmp_path / "out.png"
    assert main(["simulate", str(src), "-o", str(out), "--png", str(png)]) == 0
    img = np.load(out)
    assert img.dtype == np.float64 and img.shape == (32, 32) and np.all(img > 0)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_console_script_runs(tmp_path: Path) -> None:
    src = _write(tmp_path, base(n=16), "exp.json")
    out = tmp_path / "o.npy"
    r = subprocess.run([sys.executable, "-m", "deepgisas.cli.main", "simulate", str(src),
                        "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.exists()


def _bad(d: dict, path: str, value: object) -> dict:
    node = d
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is KeyError:
        del node[parts[-1]]
    elif isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return d


BAD = {
    "unknown-key": ("beam.colour", "red"),
    "missing-key": ("beam.wavelength_nm", KeyError),
    "negative-radius": ("sample.particles.shape.sphere.radius_nm", -1.0),
    "not-a-number": ("beam.alpha_i_deg", "steep"),
    "bad-detector-shape": ("detector.spherical.shape", [0, 10]),
    "two-detectors": ("detector.rectangular", {"shape": [4, 4], "pixel_size_mm": 0.1,
                                               "distance_mm": 1000.0,
                                               "beam_center_px": [1.0, 1.0]}),
    "free-parameter": ("sample.particles.shape.sphere.radius_nm", {"uniform": [1.0, 2.0]}),
    "unknown-shape": ("sample.particles.shape", {"torus": {"radius_nm": 3.0}}),
    "prior-backwards": ("beam.wavelength_nm", {"uniform": [0.2, 0.1]}),
    "roi-outside": ("detector.roi_px", [0, 0, 999, 10]),
    "weights-too-big": ("sample.interference", {"hexagonal_lattice": {
        "a_nm": 30.0, "decay_nm": 100.0, "orientation": {"xi_deg": [0, 10],
                                                          "weights": [0.9, 0.9]}}}),
    "core-shell-crosses": ("sample.particles", {
        "layer": 1, "placement": "deposit", "material": {"delta": 1e-5},
        "shape": {"sphere": {"radius_nm": 50.0}},
        "core": {"material": {"delta": 2e-5}, "shape": {"sphere": {"radius_nm": 20.0}}}}),
    "overfilled-slice": ("sample.interference", {"dilute": {"area_density_per_nm2": 0.05}}),
    "impossible-constraint": ("constraints", ["sample.layers.1.thickness_nm < 1"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_description_is_one_line_exit_2(case: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path, value = BAD[case]
    src = _write(tmp_path, _bad(base(n=8), path, value))
    out = tmp_path / "out.npy"
    assert main(["simulate", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(src) in err, err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["exp.yaml"]


@pytest.mark.parametrize("content,name", [("beam: [unclosed", "broken.yaml"),
                                          ("{not json", "broken.json"),
                                          ("", "empty.yaml"), ("\x00\x01", "binary.yaml")])
def test_corrupt_files(content: str, name: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / name
    src.write_text(content)
    out = tmp_path / "out.npy"
    assert main(["simulate", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err
    assert not out.exists()


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.npy"
    assert main(["simulate", str(tmp_path / "nope.yaml"), "-o", str(out)]) == 2
    assert "nope.yaml" in capsys.readouterr().err and not out.exists()


def test_missing_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path, base(n=8))
    assert main(["simulate", str(src), "-o", str(tmp_path / "no" / "o.npy")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_overfilled_slice_says_why_and_average_materials_off_simulates(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _bad(base(n=8), "sample.interference", {"dilute": {"area_density_per_nm2": 0.05}})
    src = _write(tmp_path, d)
    out = tmp_path / "out.npy"
    assert main(["simulate", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"deepgisas simulate: {src}: sample.particles: the particles overfill")
    assert "2.618 times" in err and not out.exists()
    d["options"] = {"use_average_materials": False}  # BornAgain accepts it then: so do we
    src = _write(tmp_path, d)
    assert main(["simulate", str(src), "-o", str(out)]) == 0 and out.exists()
