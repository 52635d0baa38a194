"""``deepgisas predict`` and ``deepgisas export`` as the contract writes them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import deepgisas as dg
from deepgisas.cli.main import main
from deepgisas.data.preprocess import InputSpec
from deepgisas.report_text import value_text
from deepgisas.templates import parse_template
from deepgisas.training.config import TrainConfig
from deepgisas.training.loop import train
from tests.data.helpers import small_film, small_hex, small_template

CFG = TrainConfig(minutes=5, max_steps=4, batch_size=8, steps_per_epoch=2, val_size=8,
                  workers=0, input=InputSpec(crop=(28, 28)))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    train(small_film(32), root / "film", CFG, progress=False)
    train(small_template(32), root / "hex", CFG, progress=False)
    images = []
    for i, e in enumerate(dg.sample_experiments(small_film(32), 2, seed=3)):
        images.append(root / f"film{i}.npy")
        np.save(images[-1], dg.simulate(e))
    return {"film": root / "film", "hex": root / "hex", "img0": images[0], "img1": images[1],
            "root": root}


def test_parameter_model_gives_values_and_stds(models: dict, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert main(["predict", str(models["film"]), str(models["img0"]), str(models["img1"]),
                 "-o", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["model"] == "film" and len(res["results"]) == 2
    r = res["results"][0]
    assert r["image"] == str(models["img0"]) and set(r["parameters"]) == {"distance_nm",
                                                                         "radius_nm"}
    assert all(v > 0 for v in r["std"].values())


def test_orientation_model_gives_a_distribution(models: dict, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    d = small_hex(32)
    d.pop("labels")
    img = tmp_path / "hex.npy"
    np.save(img, dg.simulate(dg.sample_experiments(parse_template(d), 1)[0]))
    assert main(["predict", str(models["hex"]), str(img)]) == 0
    res = json.loads(capsys.readouterr().out)
    r = res["results"][0]
    assert len(r["xi_deg"]) == len(r["probability"]) == 120 and r["xi_deg"][1] == 0.5
    assert sum(r["probability"]) == pytest.approx(1.0) and min(r["probability"]) >= 0


def test_onnx_export_gives_the_same_predictions(models: dict, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    folder = tmp_path / "film"
    shutil.copytree(models["film"], folder)
    img = str(models["img0"])
    torch_out = tmp_path / "t.json"
    assert main(["predict", str(folder), img, "-o", str(torch_out)]) == 0
    assert main(["export", str(folder), "--onnx"]) == 0
    assert (folder / "model.onnx").exists()
    timing = json.loads((folder / "model.onnx.json").read_text())
    assert timing["onnx_ms_per_image"] > 0 and timing["torch_ms_per_image"] > 0
    assert timing["max_abs_difference"] < 1e-4
    assert f"predict uses {timing['faster']}" in capsys.readouterr().out
    onnx_out = tmp_path / "o.json"
    assert main(["predict", str(folder), img, "-o", str(onnx_out), "--engine", "onnx"]) == 0
    a = json.loads(torch_out.read_text())["results"][0]
    b = json.loads(onnx_out.read_text())["results"][0]
    for k in a["parameters"]:
        assert b["parameters"][k] == pytest.approx(a["parameters"][k], rel=1e-5)
        assert b["std"][k] == pytest.approx(a["std"][k], rel=1e-5)
    # auto follows the export's measurement: a broken model.onnx only matters when it is used
    (folder / "model.onnx").write_bytes(b"junk")
    for faster, code in (("torch", 0), ("onnx", 2)):
        (folder / "model.onnx.json").write_text(json.dumps(timing | {"faster": faster}))
        assert main(["predict", str(folder), img]) == code
    assert main(["predict", str(folder), img, "--engine", "torch"]) == 0
    (folder / "model.onnx").unlink()
    assert main(["predict", str(folder), img, "--engine", "onnx"]) == 2
    assert "model.onnx" in capsys.readouterr().err


def test_predict_errors(models: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.ones((10, 12)))
    text = tmp_path / "img.tif"
    text.write_bytes(b"II*\x00")
    inst = tmp_path / "inst.yaml"
    d = small_hex(64)
    inst.write_text(yaml.safe_dump({"beam": d["beam"] | {"wavelength_nm": 0.1,
                                                         "alpha_i_deg": 0.2},
                                    "detector": d["detector"]}))
    out = tmp_path / "out.json"
    cases = [
        [str(models["film"]), str(wrong)],
        [str(models["film"]), str(tmp_path / "missing.npy")],
        [str(models["film"]), str(text)],
        [str(tmp_path / "no-model"), str(models["img0"])],
        [str(models["film"]), str(models["img0"]), "--instrument", str(inst)],
    ]
    for args in cases:
        assert main(["predict", *args, "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("deepgisas predict:"), err
        assert not out.exists()


def test_predict_real_file_through_instrument(models: dict, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """A measured Pilatus TIFF, resampled from the GALAXI geometry onto the model's grid."""
    from tests.io.helpers import INSTRUMENTS, real

    galaxi = real("galaxi")
    out = tmp_path / "p.json"
    assert main(["predict", str(models["film"]), str(galaxi), "--instrument",
                 str(INSTRUMENTS / "galaxi.yaml"), "-o", str(out)]) == 0
    capsys.readouterr()  # (its warnings: this small model puts values beyond its priors)
    r = json.loads(out.read_text())["results"][0]
    assert r["image"] == str(galaxi) and set(r["parameters"]) == {"distance_nm", "radius_nm"}
    # without --instrument the shape must be the model's
    out2 = tmp_path / "q.json"
    assert main(["predict", str(models["film"]), str(galaxi), "-o", str(out2)]) == 2
    err = capsys.readouterr().err.strip()
    assert "1043 x 981" in err and "\n" not in err and not out2.exists()


def test_predict_warns_when_the_grid_leaves_the_detector(models: dict, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    from tests.io.helpers import INSTRUMENTS, real

    d = yaml.safe_load((INSTRUMENTS / "galaxi.yaml").read_text())
    d["detector"]["rectangular"]["beam_center_px"] = [900.0, 323.4]  # model's +phi falls off
    inst = tmp_path / "inst.yaml"
    inst.write_text(yaml.safe_dump(d))
    assert main(["predict", str(models["film"]), str(real("galaxi")), "--instrument",
                 str(inst), "-o", str(tmp_path / "p.json")]) == 0
    err = [e for e in capsys.readouterr().err.strip().splitlines() if "network:" not in e]
    assert len(err) == 1 and "warning" in err[0] and "outside the measured detector" in err[0]
    r = json.loads((tmp_path / "p.json").read_text())["results"][0]
    (entry,) = r["extrapolation"]
    assert entry["what"] == "detector.outside_fraction" and 0.1 < entry["value"] < 0.9


def _galaxi_side_peak_d() -> float:
    """2 pi / q_y of the side peak of the GALAXI image in the Yoneda band (alpha_f 0.2 deg)."""
    import math

    import numpy as np

    from deepgisas.io.description import read_instrument
    from deepgisas.io.features import side_peak_qy
    from deepgisas.io.readers import read_detector_image
    from tests.io.helpers import INSTRUMENTS, real

    _, det = read_instrument(INSTRUMENTS / "galaxi.yaml")
    img = read_detector_image(real("galaxi"))
    data = np.where(img.mask, np.nan, img.data)
    q = side_peak_qy(data, det.geometry, math.radians(0.275), 0.1341, math.radians(0.2),
                     q_bin=0.01, q_range=(0.05, 1.0))
    return 2 * math.pi / q


def _predict_film_on_galaxi(tmp_path: Path) -> dict:
    from tests.io.helpers import INSTRUMENTS, real

    out = tmp_path / "p.json"
    assert main(["predict", "film", str(real("galaxi")), "--instrument",
                 str(INSTRUMENTS / "galaxi.yaml"), "-o", str(out)]) == 0
    return json.loads(out.read_text())["results"][0]


def test_bundled_film_predicts_on_galaxi(tmp_path: Path) -> None:
    """`predict film` on the GALAXI raw file, through its instrument: every label, inside the
    prior or flagged, and no beam extrapolation (GALAXI's beam is the film model's)."""
    from deepgisas.models.store import load_model
    from deepgisas.templates import parse_template

    r = _predict_film_on_galaxi(tmp_path)
    priors = parse_template(load_model("film")[1].template).priors
    for name, value in r["parameters"].items():
        path = next(p for p in priors if p.endswith("." + name))
        lo, hi = priors[path].lo, priors[path].hi
        assert lo <= value <= hi or r["outside_prior"][name]["outside"], name
    assert r["extrapolation"] == []


@pytest.mark.xfail(strict=True, reason="the film model retrained on D >= 2R (issue 18) gives "
                   "D = 57 +- 5 nm on this file, which is unlike its training samples (Ag in "
                   "HMDSO on PTFE, not Au on Si): 41 % above the side peak's 40 nm; the fit "
                   "from it lands within 25 % (test_fit_film_on_galaxi_through_the_instrument)")
def test_bundled_film_distance_on_galaxi_agrees_with_the_side_peak(tmp_path: Path) -> None:
    """Issue 5's end-to-end check, loosely: `predict film` on the GALAXI raw file gives a
    distance D near 2 pi / q_y of the side peak in the Yoneda band (the paracrystal's peak
    is not exactly at 2 pi / D, so within 30 %). The model before issue 18 gave 48.7 nm."""
    d_peak = _galaxi_side_peak_d()
    assert 30 < d_peak < 50
    r = _predict_film_on_galaxi(tmp_path)
    d_net, d_std = r["parameters"]["distance_nm"], r["std"]["distance_nm"]
    assert abs(d_net - d_peak) < 0.3 * d_peak, (d_net, d_std, d_peak)


def test_fit_film_on_galaxi_through_the_instrument(tmp_path: Path) -> None:
    """`deepgisas fit film GALAXI --model film --instrument ...` end to end: the contract's
    JSON and the PNG, the specular spot masked, and a distance within 25 % of 2 pi / q_y of
    the side peak."""
    from tests.io.helpers import INSTRUMENTS, real

    out = tmp_path / "fit.json"
    assert main(["fit", "film", str(real("galaxi")), "--model", "film", "--instrument",
                 str(INSTRUMENTS / "galaxi.yaml"), "-o", str(out)]) == 0
    r = json.loads(out.read_text())
    assert {"image", "parameters", "std", "misfit", "seconds"} <= set(r)
    assert (tmp_path / "fit.png").read_bytes()[:4] == b"\x89PNG"
    assert r["masked_spots"]["alpha_f_deg"][0] == 0.275 and r["masked_spots"]["pixels"] > 10
    # the instrument's beam is held, not fitted: both its numbers, wherever they came from
    assert r["fixed"] == {"beam.alpha_i_deg": 0.275, "beam.wavelength_nm": 0.1341}
    assert r["beam"]["wavelength_nm"] == {"value": 0.1341, "source": "instrument"}
    assert "alpha_i_deg" not in r["parameters"]
    # the omega the GALAXI film fit reaches is its prior's upper end: flagged, no std
    assert r["at_bound"]["omega_nm"]["bound"] == "upper" and r["std"]["omega_nm"] is None
    assert set(r["disagreement"]) == set(r["parameters"])
    assert set(r["disagree"]) == {k for k, v in r["disagreement"].items() if abs(v) > 3}
    d_peak = _galaxi_side_peak_d()
    assert abs(r["parameters"]["distance_nm"] - d_peak) < 0.25 * d_peak, r["parameters"]


def test_predict_prints_a_table_and_draws_the_answer(models: dict, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    out, png = tmp_path / "p.json", tmp_path / "p.png"
    assert main(["predict", str(models["film"]), str(models["img0"]), "-o", str(out),
                 "--png", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"wrote {out} and {png} (1 image)"
    assert lines[1] == "model film, 1 image: film0.npy"
    r = json.loads(out.read_text())["results"][0]
    row = next(x for x in lines if x.strip().startswith("radius_nm")).split()
    assert row[1:3] == list(value_text(r["parameters"]["radius_nm"], r["std"]["radius_nm"]))
    assert row[3] == "nm" and png.read_bytes()[:4] == b"\x89PNG"
    two = [str(models["img0"]), str(models["img1"])]
    assert main(["predict", str(models["film"]), *two, "-o", str(out), "-q", "--png",
                 str(png), "--axes", "q"]) == 0
    assert capsys.readouterr().out == f"wrote {out} and {png} (2 images)\n"
    # the JSON on stdout stays alone there: the table goes to stderr
    assert main(["predict", str(models["film"]), *two]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["results"]) == 2
    assert "model film, 2 images" in captured.err.splitlines()
    assert main(["predict", str(models["film"]), *two, "--png", str(tmp_path / "p.jpg")]) == 2
