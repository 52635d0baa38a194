"""``deepgisas stream``: frames arriving while it runs, half-written and corrupt files, resume
after kill -9, ``--once``, the live PNG, user errors, and the fit hook."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import fabio
import numpy as np
import pytest

from deepgisas.cli.main import main
from deepgisas.io.bundled import INSTRUMENTS
from deepgisas.predict import predict_files
from deepgisas.stream import (
    FolderScanner,
    Frame,
    ResultsTable,
    StreamConfig,
    errors_path,
    orientation_summary,
    plot_path,
    run_stream,
)

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(poll_s=0.05, settle_s=0.2, retries=3, plot_every_s=0.5, progress=False)
SHAPE = (128, 128)  # the bundled film model's detector


def frame(i: int) -> np.ndarray:
    """A film-like pattern: a decaying background with a ring whose radius depends on i."""
    rng = np.random.default_rng(i)
    r, c = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    ring = np.exp(-((np.abs(c - 64) - 10 - i % 20) ** 2) / 8.0)
    lam = 1e4 * np.exp(-r / 30.0) * (0.2 + ring) + 5.0
    return rng.poisson(lam).astype(np.float64)


def write_frame(path: Path, i: int) -> None:
    """A frame as .npy, .edf or .tif (by suffix); fabio files hold int32 counts."""
    img = frame(i)
    if path.suffix == ".npy":
        np.save(path, img)
    else:
        data = img[::-1].astype(np.int32)  # files store row 0 at the top
        cls = fabio.edfimage.EdfImage if path.suffix == ".edf" else fabio.tifimage.TifImage
        cls(data=data).write(str(path))


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def check_against_predict(folder: Path, rows: list[dict[str, str]]) -> None:
    """The stream's answers are predict's. The network runs in float32, whose rounding
    depends on the batch a frame is in: the bundled film model's answer for one of these
    frames (D = 0.74 nm, far beyond its prior) moves by 1.5e-5 relative between a batch of
    one and one of 24 in predict itself, hence 1e-4."""
    names = [r["frame"] for r in rows]
    ref = predict_files("film", [folder / n for n in names])["results"]
    for row, res in zip(rows, ref, strict=True):
        for k, v in res["parameters"].items():
            assert float(row[k]) == pytest.approx(v, rel=1e-4, abs=1e-6)
            assert float(row[f"std:{k}"]) == pytest.approx(res["std"][k], rel=1e-4, abs=1e-6)


def test_frames_arriving_half_written_and_corrupt(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder, out = tmp_path / "frames", tmp_path / "results.csv"
    folder.mkdir()
    good: list[str] = []

    def writer() -> None:
        for i in range(24):
            name = f"f_{i:03d}." + ("npy", "edf", "tif")[i % 3]
            write_frame(folder / name, i)
            good.append(name)
            time.sleep(0.01)
        (folder / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 100)  # stays corrupt
        (folder / "notes.txt~").write_text("not a frame")
        # half-written: the first half, a pause until the stream has failed to read it, then
        # the rest
        data = (folder / "f_000.npy").read_bytes()
        np.save(tmp_path / "full.npy", frame(99))
        full = (tmp_path / "full.npy").read_bytes()
        with open(folder / "f_099.npy", "wb") as f:
            f.write(full[: len(full) // 2])
            f.flush()
            assert tried.wait(30)
            f.write(full[len(full) // 2:])
        good.append("f_099.npy")
        # a short pause within the settle time
        with open(folder / "f_100.npy", "wb") as f:
            f.write(data[:100])
            f.flush()
            time.sleep(0.05)
            f.write(data[100:])
        good.append("f_100.npy")

    tried = threading.Event()
    failed = FolderScanner.failed

    def spy(self: FolderScanner, f: Frame) -> bool:
        if f.name == "f_099.npy":
            tried.set()
        return failed(self, f)

    monkeypatch.setattr(FolderScanner, "failed", spy)
    messages: list[str] = []
    t = threading.Thread(target=writer)
    t.start()
    summary = run_stream("film", folder, out, config=StreamConfig(**FAST, idle_exit_s=2.0,
                                                                  batch=8),
                         warn=messages.append)
    t.join()
    assert tried.is_set()  # the half-written frame was read, failed, and was retried
    header, rows = read_csv(out)
    assert header[:3] == ["frame", "index", "mtime"] and "std:radius_nm" in header
    assert sorted(r["frame"] for r in rows) == sorted(good)
    assert [int(r["index"]) for r in rows] == list(range(len(rows)))
    assert summary.frames == len(good) and summary.errors == 1
    check_against_predict(folder, rows)
    _, errors = read_csv(errors_path(out))
    assert [e["frame"] for e in errors] == ["broken.tif"]
    assert len(messages) == 1 and "broken.tif" in messages[0]
    assert plot_path(out).read_bytes()[:4] == b"\x89PNG"


def test_once_on_a_stored_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    for i in range(10):
        write_frame(folder / f"frame_{i}.npy", i)
    old = time.time() - 60
    for p in folder.iterdir():
        os.utime(p, (old, old))  # stored frames: no waiting for them to settle
    args = ["stream", "film", str(folder), "-o", str(out), "--once", "--poll", "0.05"]
    assert main(args) == 0
    assert "10 frames" in capsys.readouterr().out
    _, rows = read_csv(out)
    assert [r["frame"] for r in rows] == [f"frame_{i}.npy" for i in range(10)]  # natural order
    check_against_predict(folder, rows)
    assert plot_path(out).read_bytes()[:4] == b"\x89PNG"
    assert errors_path(out).read_text() == "frame,mtime,error\n"
    before = out.read_bytes()
    assert main(args) == 0  # nothing new: nothing redone
    assert out.read_bytes() == before and "0 frames" in capsys.readouterr().out


def test_resume_after_kill(tmp_path: Path) -> None:
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    n = 400
    base = np.stack([frame(i) for i in range(8)])
    for i in range(n):
        np.save(folder / f"f{i:04d}.npy", base[i % 8])
    cmd = [sys.executable, "-m", "deepgisas.cli.main", "stream", "film", str(folder), "-o",
           str(out), "--settle", "0", "--poll", "0.05", "--batch", "4", "--workers", "1"]
    env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*cmd, "--idle-exit", "30"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") > 20:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lines = out.read_bytes().count(b"\n") - 1
    assert 20 <= lines < n, "the stream should have been killed mid-way"
    with open(out, "ab") as f:  # what a crash in the middle of a write would leave
        f.write(b"f0399.npy,123,17000")
    done = subprocess.run([*cmd, "--once"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    header, rows = read_csv(out)
    names = [r["frame"] for r in rows]
    assert len(names) == len(set(names)) == n
    assert set(names) == {f"f{i:04d}.npy" for i in range(n)}
    assert [int(r["index"]) for r in rows] == list(range(n))
    assert all(len(r) == len(header) and r["radius_nm"] != "" for r in rows)


def test_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    write_frame(folder / "a.npy", 0)
    bad_inst = tmp_path / "inst.yaml"
    bad_inst.write_text("beam: {wavelength_nm: 0.1}\n")
    other = tmp_path / "other.csv"
    other.write_text("frame,index,something\n")
    out = tmp_path / "r.csv"
    cases = [
        (["stream", str(tmp_path / "no-model"), str(folder), "-o", str(out)], out),
        (["stream", "film", str(tmp_path / "missing"), "-o", str(out)], out),
        (["stream", "film", str(folder), "-o", str(tmp_path / "no" / "r.csv")],
         tmp_path / "no" / "r.csv"),
        (["stream", "film", str(folder), "-o", str(out), "--instrument", str(bad_inst)], out),
        (["stream", "film", str(folder), "-o", str(out), "--instrument",
          str(tmp_path / "none.yaml")], out),
        (["stream", "film", str(folder), "-o", str(out), "--fit", str(tmp_path / "no.yaml")],
         out),
        (["stream", "film", str(folder), "-o", str(out), "--batch", "0"], out),
        (["stream", "film", str(folder), "-o", str(out), "--fit", "hex-orientation"], out),
        (["stream", "film", str(folder), "-o", str(other), "--once"], other),
    ]
    errs = []
    for args, target in cases:
        assert main(args) == 2, args
        errs.append(capsys.readouterr().err)
        err = errs[-1]
        assert err.count("\n") == 1 and err.startswith("deepgisas stream:"), err
        if target is other:
            assert other.read_text() == "frame,index,something\n"
            target = tmp_path / "other.png"
        assert not target.exists(), args
        assert not errors_path(target).exists() and not plot_path(target).exists()
    assert "no.yaml" in errs[5] and "not the model's" in errs[7] and "other columns" in errs[8]


def test_fit_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``deepgisas.fit.fit_image`` present, every k-th frame gets fit:NAME columns."""
    calls: list[dict] = []

    from deepgisas.fit.problem import FitResult

    def fit_image(template, image, start=None, mask=None):  # noqa: ANN001, ANN202
        calls.append({"shape": image.shape, "start": start, "mask": mask,
                      "beam": template.base.beam, "free": template.priors})
        return FitResult({"radius_nm": 5.0, "distance_nm": 40.0}, {"radius_nm": 0.5}, 0.1,
                         1.0, image)

    import deepgisas.stream.run as stream_run

    monkeypatch.setattr(stream_run, "fit_function", lambda: fit_image)
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    for i in range(7):
        write_frame(folder / f"f{i}.npy", i)
    run_stream("film", folder, out, fit="film",
               config=StreamConfig(**{**FAST, "settle_s": 0.0}, once=True, fit_every=3,
                                   x="time"))
    header, rows = read_csv(out)
    assert {"fit:radius_nm", "fit:std:radius_nm", "fit:distance_nm", "fit:misfit"} <= set(header)
    fitted = [r["frame"] for r in rows if r["fit:radius_nm"] != ""]
    assert fitted == ["f0.npy", "f3.npy", "f6.npy"] and len(calls) == 3
    start = calls[0]["start"]  # the network's whole result: its mean and its std
    assert calls[0]["shape"] == SHAPE and set(start["parameters"]) >= {"radius_nm"}
    assert set(start["std"]) == set(start["parameters"])
    assert rows[0]["fit:std:radius_nm"] == "0.5" and rows[0]["fit:std:distance_nm"] == ""
    assert "beam.alpha_i_deg" in calls[0]["free"] and calls[0]["mask"] is None
    # through an instrument: the fit holds its beam and leaves out the specular spot, as
    # `deepgisas fit --instrument` does
    import yaml

    from deepgisas.api import load

    film = load("film").to_dict()
    inst = tmp_path / "inst.yaml"
    inst.write_text(yaml.safe_dump({"beam": {**film["beam"], "alpha_i_deg": 0.3},
                                    "detector": film["detector"]}))
    calls.clear()
    out2 = tmp_path / "r2.csv"
    run_stream("film", folder, out2, instrument=inst, fit="film",
               config=StreamConfig(**{**FAST, "settle_s": 0.0}, once=True, fit_every=3))
    header, _ = read_csv(out2)
    assert calls[0]["beam"].alpha_i_deg == 0.3 and "fit:alpha_i_deg" not in header
    assert "beam.alpha_i_deg" not in calls[0]["free"]
    mask = calls[0]["mask"]
    row = int(round(0.3 / 2.5 * SHAPE[0] - 0.5))  # the specular spot: alpha_f = alpha_i
    assert mask.shape == SHAPE and not mask[row, SHAPE[1] // 2] and mask.mean() > 0.95


def test_instrument_resampling_matches_predict(tmp_path: Path) -> None:
    """Pilatus-sized TIFFs through an instrument: the stream's gather from raw counts gives
    exactly what resampling the float image gives, and what predict gives."""
    from deepgisas.io.description import read_instrument
    from deepgisas.io.images import ModelImages, detector_masks, read_image
    from deepgisas.io.resample import resample
    from deepgisas.models.store import load_model
    from deepgisas.templates import parse_template

    inst = INSTRUMENTS / "galaxi.yaml"
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        img = rng.poisson(30.0, (1043, 981)).astype(np.int32)
        img[:, 487:494] = -1
        img[195:212, :] = -1
        img[5, 5] = np.iinfo(np.int32).max
        fabio.tifimage.TifImage(data=img).write(str(folder / f"p{i}.tif"))
    beam, det = read_instrument(inst)
    template = parse_template(load_model("film")[1].template)
    direct = ModelImages(template, (beam, det))(folder / "p0.tif")
    ref = resample(detector_masks(read_image(folder / "p0.tif"), det), det.geometry,
                   template.base.detector.geometry, np.radians(0.275)).data
    np.testing.assert_array_equal(np.isnan(direct), np.isnan(ref))
    np.testing.assert_array_equal(direct[np.isfinite(ref)], ref[np.isfinite(ref)])
    run_stream("film", folder, out, instrument=inst,
               config=StreamConfig(**{**FAST, "settle_s": 0.0}, once=True))
    _, rows = read_csv(out)
    pred = predict_files("film", [folder / r["frame"] for r in rows], inst)["results"]
    for row, res in zip(rows, pred, strict=True):
        for k, v in res["parameters"].items():
            assert float(row[k]) == pytest.approx(v, rel=1e-5, abs=1e-6)


def test_orientation_model_columns(tmp_path: Path) -> None:
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        np.save(folder / f"h{i}.npy", rng.poisson(100.0, (256, 256)).astype(np.float64))
    run_stream("hex-orientation", folder, out,
               config=StreamConfig(**{**FAST, "settle_s": 0.0}, once=True, bins=True))
    header, rows = read_csv(out)
    assert header[3:8] == ["xi_mode_deg", "p_mode", "folded_mode_deg", "folded_mean_deg",
                           "folded_std_deg"] and header[8] == "p:0" and len(header) == 129
    assert header[-1] == "flags"
    p = np.array([float(rows[0][h]) for h in header[8:-1]])
    assert p.sum() == pytest.approx(1.0)
    s = orientation_summary(np.arange(120) * 0.5, p)
    assert float(rows[0]["folded_mean_deg"]) == pytest.approx(s["folded_mean_deg"])
    # a distribution at 10 deg and its mirror 50 deg folds onto 10 deg
    q = np.zeros(120)
    q[20], q[100] = 0.7, 0.3
    s = orientation_summary(np.arange(120) * 0.5, q)
    assert s["xi_mode_deg"] == 10.0 and s["folded_mean_deg"] == pytest.approx(10.0)
    assert s["folded_std_deg"] == pytest.approx(0.0, abs=1e-12)


def test_table_repairs_a_partial_line_and_refuses_other_columns(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    t = ResultsTable(p, ["frame", "x"])
    assert t.open() == set()
    t.append([["a,b.npy", 1.5], ["c.npy", float("nan")]])
    t.close()
    with open(p, "ab") as f:
        f.write(b"d.npy,2.")
    t = ResultsTable(p, ["frame", "x"])
    assert t.open() == {"a,b.npy", "c.npy"}
    t.close()
    assert p.read_text() == 'frame,x\n"a,b.npy",1.5\nc.npy,\n'
    with pytest.raises(Exception, match="other columns"):
        ResultsTable(p, ["frame", "y"]).open()


def test_scanner_waits_until_files_settle(tmp_path: Path) -> None:
    clock = [100.0]
    s = FolderScanner(tmp_path, settle=1.0, retries=2, clock=lambda: clock[0])
    (tmp_path / "a.npy").write_bytes(b"x")
    (tmp_path / "ignored.csv").write_bytes(b"x")
    (tmp_path / ".a.npy.tmp").write_bytes(b"x")
    assert s.poll() == [] and s.pending == 1
    clock[0] += 1.0
    (ready,) = s.poll()
    assert ready.name == "a.npy"
    assert s.failed(ready) is False  # retried after another settle time
    assert s.poll() == []
    clock[0] += 1.0
    assert s.poll() and s.failed(ready) is True and s.pending == 0
    assert s.poll() == []


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    for i in range(8):
        write_frame(folder / f"f{i}.npy", i)
    cmd = [sys.executable, "-m", "deepgisas.cli.main", "stream", "film", str(folder), "-o",
           str(out), "--settle", "0", "--poll", "0.05"]
    env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") == 9:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "8 frames" in stdout
    _, rows = read_csv(out)
    assert len(rows) == 8 and out.read_bytes().endswith(b"\n")
    assert plot_path(out).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("orientation", ["bottom-up", "top-down", "vertical"])
def test_resampling_from_raw_counts_equals_resampling_the_image(orientation: str) -> None:
    from deepgisas.io.readers import masked_pixels
    from deepgisas.io.resample import ResampleMap
    from deepgisas.sample import Spherical

    source = Spherical((-2.5, 2.5), (-0.5, 3.0), (70, 50))
    target = Spherical((-2.0, 2.0), (0.0, 2.5), (32, 24))
    m = ResampleMap(source, target, np.radians(0.2))
    rng = np.random.default_rng(0)
    image = rng.poisson(50.0, source.shape).astype(np.int32)  # rows from the bottom
    image[:, 20:22] = -1
    image[3, 4] = np.iinfo(np.int32).max
    stored = {"bottom-up": image, "top-down": image[::-1], "vertical": image.T}[orientation]
    static = np.zeros(source.shape, bool)
    static[40:45, :] = True
    ref_img = image.astype(np.float64)
    ref_img[masked_pixels(image) | static] = np.nan
    ref = m.apply(ref_img)
    got = m.apply_raw(np.ascontiguousarray(stored), orientation, masked_pixels, static)
    np.testing.assert_array_equal(got.mask, ref.mask)
    np.testing.assert_array_equal(got.data[~ref.mask], ref.data[~ref.mask])
    assert ref.mask.any() and not ref.mask.all()


def test_reading_in_threads_leaves_stdout_and_warnings_alone(tmp_path: Path) -> None:
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from deepgisas.io.readers import read_detector_image

    paths = []
    for i in range(12):
        paths.append(tmp_path / f"f{i}.{('tif', 'edf', 'cbf')[i % 3]}")
        data = frame(i).astype(np.int32)
        {"tif": fabio.tifimage.TifImage, "edf": fabio.edfimage.EdfImage,
         "cbf": fabio.cbfimage.CbfImage}[paths[-1].suffix[1:]](data=data).write(str(paths[-1]))
    stdout, filters = sys.stdout, list(warnings.filters)
    with ThreadPoolExecutor(4) as pool:
        images = list(pool.map(read_detector_image, paths * 4))
    assert sys.stdout is stdout and warnings.filters == filters
    np.testing.assert_array_equal(images[0].data, frame(0)[::-1])  # files: row 0 = top


def shown(text: str) -> list[str]:
    """The lines a terminal shows of ``text``: each carriage return (a progress bar redrawn)
    overwrites the line; blank lines dropped."""
    return [line.split("\r")[-1] for line in text.split("\n")
            if line.split("\r")[-1].strip()]


def test_a_setup_mistake_stops_the_stream_at_once(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    """Frames of another shape than the model's (here: no --instrument) are no corrupt
    frames: the stream stops at the first batch with one line and exit 2, and writes no
    results CSV (before: a warning per frame, then '0 frames' and exit 0)."""
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    for i in range(20):
        np.save(folder / f"f{i:02d}.npy", np.ones((64, 80)))
    t0 = time.monotonic()
    assert main(["stream", "film", str(folder), "-o", str(out), "--once", "--settle", "0",
                 "--batch", "4"]) == 2
    err = shown(capsys.readouterr().err)
    assert len(err) == 1 and "64 x 80" in err[0] and "--instrument" in err[0], err
    assert "stopping" in err[0] and time.monotonic() - t0 < 30
    assert not out.exists() and not plot_path(out).exists() and not errors_path(out).exists()


def test_a_run_without_a_good_frame_fails(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Only corrupt frames: each is logged (today's behaviour), and the run exits 2 with no
    results CSV; the errors CSV stays. A resumed run with earlier results is fine."""
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    for i in range(3):
        (folder / f"bad{i}.npy").write_bytes(b"not an array")
    assert main(["stream", "film", str(folder), "-o", str(out), "--once", "--settle", "0",
                 "--retries", "1"]) == 2
    err = shown(capsys.readouterr().err)
    assert err[-1].startswith("deepgisas stream:") and "no frame could be read" in err[-1]
    assert sum("skipped" in e for e in err) == 3
    assert not out.exists() and len(read_csv(errors_path(out))[1]) == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["stream", "film", str(empty), "-o", str(tmp_path / "e.csv"), "--once"]) == 2
    assert "no frames" in capsys.readouterr().err
    for bad in folder.iterdir():
        bad.unlink()
    write_frame(folder / "good.npy", 0)
    assert main(["stream", "film", str(folder), "-o", str(out), "--once", "--settle", "0"]) == 0
    assert main(["stream", "film", str(folder), "-o", str(out), "--once", "--settle", "0"]) == 0


def test_flags_column() -> None:
    from deepgisas.stream.columns import flags

    result = {"outside_prior": {"omega_nm": {"bound": "upper"}}}
    fitted = {"at_bound": {"sigma": {"bound": "upper"}}, "disagreement": {"distance_nm": -3.4,
                                                                          "radius_nm": 0.2},
              "disagree": ["distance_nm"]}
    assert flags(result, fitted) == "omega_nm>prior;fit:sigma@upper;disagree:distance_nm(-3.4)"
    assert flags({}) == ""

