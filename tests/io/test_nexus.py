"""NeXus files of fit results (deepgisas.io.nexus): values, units, uncertainties, the card,
and validity under the bundled NXdeepgisas application definition (nexusformat, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from deepgisas.io.nexus import NXDL, ResultsFile, write_fit

RECORD = {"image": "x.tif", "parameters": {"radius_nm": 3.0, "tilt_deg": 1.5, "fraction": 0.2},
          "std": {"radius_nm": 0.1, "tilt_deg": None, "fraction": 0.01}, "misfit": 1.25,
          "goodness_of_fit": {"deviance": 10.0, "expected": 9.0, "described": True},
          "xi_deg": [0.0, 30.0, 60.0], "probability": [0.2, 0.3, 0.5],
          "probability_low": [0.1, 0.2, 0.4], "probability_high": [0.3, 0.4, 0.6]}
CARD = {"name": "film", "parameters": ["radius_nm"], "nested": {"a": [1, 2]}}


def errors(path: Path) -> int:
    from nexusformat.nexus.validate import validate_application

    result = validate_application(str(path), application=str(NXDL))
    assert result is not None
    return result[1]


def test_fit_file_holds_the_record_and_validates(tmp_path: Path) -> None:
    out = tmp_path / "fit.nxs"
    write_fit(out, RECORD, "9.9", CARD, input_files=["x.tif", "film"], instrument="i.yaml",
              objective="poisson", command_line="deepgisas fit film x.tif")
    with h5py.File(out, "r") as f:
        entry = f["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry["definition"].asstr()[()] == "NXdeepgisas"
        proc = entry["process"]
        assert proc.attrs["NX_class"] == "NXprocess"
        assert proc["program"].asstr()[()] == "deepgisas"
        assert proc["version"].asstr()[()] == "9.9"
        assert list(proc["input_files"].asstr()[()]) == ["x.tif", "film"]
        assert proc["instrument_file"].asstr()[()] == "i.yaml"
        assert proc["objective"].asstr()[()] == "poisson"
        assert json.loads(proc["note/data"].asstr()[()]) == CARD
        par = proc["parameters"]
        for name, value in RECORD["parameters"].items():
            assert par[name][()] == value
        assert par["radius_nm"].attrs["units"] == "nm"
        assert par["tilt_deg"].attrs["units"] == "deg"
        assert par["fraction"].attrs["units"] == ""
        assert par["radius_nm"].attrs["uncertainties"] == "radius_nm_std"
        assert par["radius_nm_std"][()] == 0.1
        assert np.isnan(par["tilt_deg_std"][()])  # null std: NaN
        assert par["misfit"][()] == 1.25
        assert par["goodness_of_fit/deviance"][()] == 10.0
        dist = proc["distribution"]
        assert dist.attrs["signal"] == "probability"
        np.testing.assert_array_equal(dist["xi_deg"][()], RECORD["xi_deg"])
        for key in ("probability", "probability_low", "probability_high"):
            np.testing.assert_array_equal(dist[key][()], RECORD[key])
    assert errors(out) == 0


def test_a_broken_file_fails_validation(tmp_path: Path) -> None:
    out = tmp_path / "fit.nxs"
    write_fit(out, RECORD, "9.9", CARD)
    with h5py.File(out, "r+") as f:
        del f["entry/process/program"]
    assert errors(out) >= 1


def test_results_file_appends_rows(tmp_path: Path) -> None:
    columns = ["frame", "index", "radius_nm", "radius_nm_std", "fit:radius_nm", "flags"]
    out = tmp_path / "rows.nxs"
    results = ResultsFile(out, columns, "9.9", CARD, rows=[["a", "0", "3.5", "0.1", "", ""]])
    results.append([["b", 1, 3.0, 0.2, 2.9, "at_bound"], ["c", 2, 2.0, 0.3, 2.1, ""]])
    results.close()
    with h5py.File(out, "r") as f:
        res = f["entry/process/results"]
        assert list(res["frame"].asstr()[()]) == ["a", "b", "c"]
        assert list(res["flags"].asstr()[()]) == ["", "at_bound", ""]
        np.testing.assert_array_equal(res["radius_nm"][()], [3.5, 3.0, 2.0])
        np.testing.assert_array_equal(res["fit_radius_nm"][()], [np.nan, 2.9, 2.1])
        assert res["fit_radius_nm"].attrs["column"] == "fit:radius_nm"
        assert res["radius_nm_std"].attrs["units"] == "nm"
        assert res["frame"].maxshape == (None,)
    assert errors(out) == 0


def test_no_file_is_left_half_written(tmp_path: Path) -> None:
    out = tmp_path / "fit.nxs"
    with pytest.raises(TypeError):
        write_fit(out, {"parameters": {"a": object()}}, "9.9")
    assert list(tmp_path.iterdir()) == []


def test_fit_cli_writes_the_json_and_the_nexus_file(tmp_path: Path) -> None:
    from deepgisas.cli.main import main
    from tests.fit.test_fit import _template_file, film, noisy_case

    img, _ = noisy_case(film(16, 3), seed=2)
    np.save(tmp_path / "img.npy", img)
    out, nxs = tmp_path / "fit.json", tmp_path / "fit.nxs"
    assert main(["fit", str(_template_file(tmp_path)), str(tmp_path / "img.npy"),
                 "-o", str(out), "--nexus", str(nxs), "--quiet"]) == 0
    record = json.loads(out.read_text())
    with h5py.File(nxs, "r") as f:
        par = f["entry/process/parameters"]
        for name, value in record["parameters"].items():
            assert par[name][()] == value
            assert par[par[name].attrs["uncertainties"]][()] == record["std"][name]
        assert f["entry/process/input_files"].asstr()[0] == str(tmp_path / "img.npy")
    assert errors(nxs) == 0
