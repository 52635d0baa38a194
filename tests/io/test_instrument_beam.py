"""The instrument is the truth about the beam: its wavelength and incidence angle replace a
template's in fits, measured images reach a network in q at the network's own wavelength, and
what a model never saw is flagged as extrapolation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

import deepgisas as dg
from deepgisas.cli.main import main
from deepgisas.fit import FitConfig
from deepgisas.fit.files import MaterialsWarning, fit_file
from deepgisas.io.instrument import match_beam
from deepgisas.parse import parse_experiment
from deepgisas.sample import Beam
from deepgisas.templates import parse_template
from tests.io.helpers import INSTRUMENTS, real

QUICK = FitConfig(n_starts=8, n_polish=2, n_fill=2)
LAMBDA = 0.1341  # the bundled film model's wavelength
SHORT = 0.07


def _film(n: int, wavelength_nm: float, values: dict[str, float], scale: float = 1.0,
          alpha_i_deg: float = 0.25, window: float = 1.0) -> dict:
    """The bundled film template on an n x n detector (window scaled by ``window``), its
    materials' delta and beta scaled by ``scale``, with ``values`` set (the rest free)."""
    d = dg.load("film").to_dict()
    sph = d["detector"]["spherical"]
    sph["shape"] = [n, n]
    sph["phi_deg"] = [v * window for v in sph["phi_deg"]]
    sph["alpha_deg"] = [v * window for v in sph["alpha_deg"]]
    d["beam"]["wavelength_nm"] = wavelength_nm
    d["beam"]["alpha_i_deg"] = alpha_i_deg
    d["sample"]["particles"]["size_distribution"]["samples"] = 5
    for mat in [d["sample"]["layers"][1]["material"], d["sample"]["particles"]["material"]]:
        mat["delta"] *= scale
        mat["beta"] *= scale
    p = d["sample"]["particles"]
    p["shape"]["spheroid"]["radius_nm"] = values["radius_nm"]
    p["shape"]["spheroid"]["height_nm"] = values["height_nm"]
    p["size_distribution"]["lognormal"]["sigma"] = values["sigma"]
    d["sample"]["interference"]["radial_paracrystal"]["distance_nm"] = values["distance_nm"]
    d["sample"]["interference"]["radial_paracrystal"]["omega_nm"] = values["omega_nm"]
    return d


TRUTH = {"radius_nm": 6.0, "height_nm": 8.0, "sigma": 0.2, "distance_nm": 40.0,
         "omega_nm": 8.0}


def _instrument(tmp: Path, d: dict, name: str) -> Path:
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump({"beam": d["beam"], "detector": d["detector"]}))
    return p


def test_fit_takes_the_instruments_wavelength(tmp_path: Path) -> None:
    """The same description simulated at 0.07 nm and at 0.1341 nm: fitted with the film
    template (which fixes 0.1341 nm) through each instrument, both give the true sizes; the
    JSON records the wavelength used and where it came from. (Before, the template's fixed
    0.1341 nm won, and the 0.07 nm fit came out a factor ~2 off.)"""
    template_d = dg.load("film").to_dict()
    template_d["detector"]["spherical"]["shape"] = [48, 48]
    template_d["sample"]["particles"]["size_distribution"]["samples"] = 5
    for key in ("height_nm",):  # fewer free numbers: a quick fit
        template_d["sample"]["particles"]["shape"]["spheroid"][key] = TRUTH[key]
    template_d["sample"]["interference"]["radial_paracrystal"]["omega_nm"] = TRUTH["omega_nm"]
    template_d["sample"]["particles"]["size_distribution"]["lognormal"]["sigma"] = 0.2
    template = parse_template(template_d)
    fits = {}
    for lam in (LAMBDA, SHORT):
        d = _film(48, lam, TRUTH)
        image = tmp_path / f"film{lam}.npy"
        np.save(image, dg.simulate(parse_experiment(d)) * 1e4)
        inst = _instrument(tmp_path, d, f"inst{lam}")
        if lam == SHORT:
            with pytest.warns(MaterialsWarning, match="0.1341 nm"):
                fits[lam] = fit_file(template, image, instrument=inst, config=QUICK)[0]
        else:
            fits[lam] = fit_file(template, image, instrument=inst, config=QUICK)[0]
        r = fits[lam]
        assert r.extra["fixed"]["beam.wavelength_nm"] == lam
        assert r.extra["beam"]["wavelength_nm"]["source"] == "instrument"
        for k in ("radius_nm", "distance_nm"):
            assert r.parameters[k] == pytest.approx(TRUTH[k], rel=0.02), (lam, r.parameters)
    assert fits[SHORT].extra["beam"]["wavelength_nm"]["template"] == LAMBDA


def test_refine_beam_frees_a_free_wavelength_only_within_its_prior() -> None:
    from deepgisas.fit.files import instrument_template

    t = parse_template(_film(16, LAMBDA, TRUTH) | {
        "beam": {"wavelength_nm": {"uniform": [0.12, 0.15]}, "alpha_i_deg": 0.2}})
    beam = Beam(0.13, 0.3)
    held, rec = instrument_template(t, beam)
    assert held.base.beam.wavelength_nm == 0.13 and held.base.beam.alpha_i_deg == 0.3
    assert not held.priors.get("beam.wavelength_nm")
    assert rec["alpha_i_deg"] == {"value": 0.3, "source": "instrument", "template": 0.2}
    free, rec = instrument_template(t, beam, refine_beam=True)
    assert "beam.wavelength_nm" in free.priors and free.base.beam.alpha_i_deg == 0.3
    assert rec["wavelength_nm"]["source"] == "fitted"
    assert "no prior" in rec["alpha_i_deg"]["note"]


def test_predict_reads_another_wavelength_in_q(tmp_path: Path) -> None:
    """One physical sample seen at 0.1341 nm and at 0.07 nm (refractive decrements scaled by
    the wavelength squared, the incidence angle with the same k_z, the detector window
    scaled): the bundled film network gives the same parameters, within their errors, and no
    extrapolation. At 0.07 nm with the same incidence angle in degrees, k_z is larger than
    anything the network was trained on: flagged, and an error with --strict. (Before, the
    images were resampled in angle and the wavelength ignored.)"""
    ratio = SHORT / LAMBDA
    ai_short = math.degrees(math.asin(ratio * math.sin(math.radians(0.25))))
    cases = {"long": _film(128, LAMBDA, TRUTH),
             "short": _film(128, SHORT, TRUTH, scale=ratio**2, alpha_i_deg=ai_short,
                            window=ratio)}
    out = {}
    for name, d in cases.items():
        image = tmp_path / f"{name}.npy"
        np.save(image, dg.simulate(parse_experiment(d)) * 1e3)
        inst = _instrument(tmp_path, d, name)
        res = tmp_path / f"{name}.json"
        assert main(["predict", "film", str(image), "--instrument", str(inst), "-o",
                     str(res)]) == 0
        out[name] = json.loads(res.read_text())
    long, short = (out[k]["results"][0] for k in ("long", "short"))
    assert long["extrapolation"] == [] and short["extrapolation"] == []
    assert out["short"]["instrument"]["model_alpha_i_deg"] == pytest.approx(0.25)
    assert out["short"]["instrument"]["model_wavelength_nm"] == LAMBDA
    for k in ("radius_nm", "distance_nm", "height_nm"):
        both = math.hypot(long["std"][k], short["std"][k])
        assert abs(long["parameters"][k] - short["parameters"][k]) < both, (k, long, short)
    # the same sample at 0.07 nm and 0.25 deg: k_z as at 0.48 deg at 0.1341 nm
    d = cases["short"] | {"beam": cases["short"]["beam"] | {"alpha_i_deg": 0.25}}
    inst = _instrument(tmp_path, d, "steep")
    res = tmp_path / "steep.json"
    assert main(["predict", "film", str(tmp_path / "short.npy"), "--instrument", str(inst),
                 "-o", str(res)]) == 0
    (entry,) = json.loads(res.read_text())["results"][0]["extrapolation"]
    assert entry["what"] == "beam.alpha_i_deg" and entry["trained"] == [0.2, 0.35]
    assert entry["value"] == pytest.approx(math.degrees(math.asin(
        math.sin(math.radians(0.25)) / ratio)))
    res.unlink()
    assert main(["predict", "film", str(tmp_path / "short.npy"), "--instrument", str(inst),
                 "-o", str(res), "--strict"]) == 2
    assert not res.exists()


def test_match_beam_is_the_identity_at_the_models_own_beam() -> None:
    t = dg.load("film")
    m = match_beam(t, Beam(LAMBDA, 0.3))
    assert m.ratio == 1.0 and m.target_alpha_i == pytest.approx(math.radians(0.3))
    assert m.extrapolation == ()
    hex_t = dg.load("hex-orientation")  # a wavelength prior [0.12, 0.15]: taken as it is
    m = match_beam(hex_t, Beam(0.13, 0.16))
    assert m.ratio == 1.0 and m.extrapolation == ()
    m = match_beam(hex_t, Beam(0.2, 0.16))  # outside: read at 0.15 nm, k_z matched
    assert m.target_wavelength_nm == 0.15
    assert m.target_alpha_i == pytest.approx(math.asin(0.75 * math.sin(math.radians(0.16))))
    assert m.extrapolation[0]["what"] == "beam.alpha_i_deg"


@pytest.mark.parametrize("args, value", [(["--alpha-i", "0.6"], 0.6),
                                         ([], None)])
def test_extrapolation_of_real_files_is_flagged(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                args: list[str], value: float | None) -> None:
    """GALAXI at --alpha-i 0.6 and CHESS at 0.14 deg and 0.1155 nm (k_z as at 0.163 deg at
    0.1341 nm) lie outside the film model's incidence prior [0.2, 0.35]: a warning and an
    'extrapolation' entry; --strict makes it an error (exit 2, one line, nothing written)."""
    name = "galaxi" if value is not None else "chess"
    inst = INSTRUMENTS / ("galaxi.yaml" if name == "galaxi" else "chess_pspb.yaml")
    out = tmp_path / "p.json"
    cmd = ["predict", "film", str(real(name)), "--instrument", str(inst), "-o", str(out), *args]
    assert main(cmd) == 0
    err = capsys.readouterr().err
    assert "extrapolation: beam.alpha_i_deg" in err
    entry = json.loads(out.read_text())["results"][0]["extrapolation"][0]
    expected = value if value is not None else math.degrees(math.asin(
        LAMBDA / 0.1155 * math.sin(math.radians(0.14))))
    assert entry["value"] == pytest.approx(expected)
    assert entry["by"] == pytest.approx(expected - 0.35 if expected > 0.35 else 0.2 - expected)
    out.unlink()
    assert main([*cmd, "--strict"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--strict" in err[0] and not out.exists()
