"""`deepgisas stream --nexus`: the NeXus file holds every row of the CSV (resumed ones too),
with units, the model card and provenance, and validates; and appending a batch is cheap."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from deepgisas.cli.main import main
from deepgisas.io.nexus import NXDL, ResultsFile
from tests.test_stream import write_frame

FAST = ["--poll", "0.05", "--settle", "0.2", "--plot-every", "0.5", "--once"]


def test_stream_nexus_holds_every_csv_row(tmp_path: Path) -> None:
    from nexusformat.nexus.validate import validate_application

    folder, out, nxs = tmp_path / "frames", tmp_path / "r.csv", tmp_path / "r.nxs"
    folder.mkdir()
    for i in range(3):
        write_frame(folder / f"f_{i}.npy", i)
    args = ["stream", "film", str(folder), "-o", str(out), "--nexus", str(nxs), *FAST]
    assert main(args) in (0, None)
    for i in range(3, 5):  # a second run resumes the CSV: the file must hold all rows
        write_frame(folder / f"f_{i}.npy", i)
    assert main(args) in (0, None)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    with h5py.File(nxs, "r") as f:
        res = f["entry/process/results"]
        assert list(res["frame"].asstr()[()]) == [r["frame"] for r in rows]
        np.testing.assert_allclose(res["radius_nm"][()], [float(r["radius_nm"]) for r in rows])
        assert res["radius_nm"].attrs["units"] == "nm"
        card = json.loads(f["entry/process/note/data"].asstr()[()])
        from deepgisas.models.store import model_dir, read_card

        assert card == json.loads(json.dumps(read_card(model_dir("film")).to_dict()))
        assert f["entry/process/input_files"].asstr()[0] == str(folder)
    result = validate_application(str(nxs), application=str(NXDL))
    assert result is not None and result[1] == 0


def test_appending_a_batch_of_64_rows_is_cheap(tmp_path: Path) -> None:
    columns = ["frame", "index", "mtime", *[f"p{i}_nm" for i in range(8)], "flags"]
    results = ResultsFile(tmp_path / "r.nxs", columns, "9.9")
    batch = [[f"f_{i}", i, 1.0, *range(8), ""] for i in range(64)]
    start = time.perf_counter()
    for _ in range(50):
        results.append(batch)
    per_batch = (time.perf_counter() - start) / 50
    results.close()
    assert per_batch < 0.05, per_batch  # measured: about 2 ms


def test_a_missing_folder_is_one_line_and_no_run(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    bad = tmp_path / "no" / "r.nxs"
    assert main(["stream", "film", str(folder), "-o", str(tmp_path / "r.csv"),
                 "--nexus", str(bad), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad.parent) in err
    assert not (tmp_path / "r.csv").exists()
