"""Likelihoods by name: the objective chosen by the data type, the Poisson deviance's Fisher
errors and their coverage on simulations the fit has not seen, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import deepgisas as dg
from deepgisas.cli.main import main
from deepgisas.errors import UserError
from deepgisas.fit import FitConfig, fit_image
from deepgisas.fit.problem import choose_objective, is_counts
from deepgisas.templates import parse_template
from tests.data.helpers import small_film


def _template(n: int = 32) -> dg.Template:
    """The film template on n x n, two free numbers: radius and distance."""
    d = small_film(n).to_dict()
    d.pop("labels")
    d["beam"]["alpha_i_deg"] = 0.25
    d["sample"]["particles"]["shape"]["spheroid"]["height_nm"] = 8.0
    d["sample"]["interference"]["radial_paracrystal"]["omega_nm"] = 8.0
    d["sample"]["particles"]["shape"]["spheroid"]["radius_nm"] = {"uniform": [3.0, 9.0]}
    d["sample"]["interference"]["radial_paracrystal"]["distance_nm"] = {"uniform": [25.0,
                                                                                    60.0]}
    return parse_template(d)


def test_the_objective_follows_the_data() -> None:
    counts = np.array([[0.0, 3.0], [np.nan, 12.0]])
    assert is_counts(counts) and choose_objective(counts, "auto")[0] == "poisson"
    assert choose_objective(counts * 0.5, "auto")[0] == "log"
    assert choose_objective(counts - 1, "gaussian")[0] == "gaussian"
    with pytest.raises(UserError, match="negative values"):
        choose_objective(counts - 1, "poisson")
    with pytest.raises(UserError, match="not integers"):
        choose_objective(counts * 0.5, "poisson")
    with pytest.raises(UserError, match="unknown objective"):
        FitConfig(objective="chi3")


def test_poisson_errors_cover_the_truth() -> None:
    """24 draws from the priors with Poisson counts (about 30 per pixel), fitted with the
    Poisson deviance: the truth lies within 2 reported std in at least 85 % of the 48
    parameter values and within 1 std in 55 to 85 % (expected 95 % and 68 %), and the
    deviance per degree of freedom is near 1. (The log misfit's errors are not checked
    here: they have no likelihood behind them.)"""
    template = _template()
    rng = np.random.default_rng(11)
    z, per_dof = [], []
    for e in dg.sample_experiments(template, 24, seed=7):
        clean = dg.simulate(e)
        data = rng.poisson(clean / np.nanmean(clean) * 30.0).astype(np.float64)
        r = fit_image(template, data, config=FitConfig(n_starts=32, n_polish=2))
        assert r.extra["objective"] == "poisson"
        d = e.to_dict()
        truth = {"radius_nm": d["sample"]["particles"]["shape"]["spheroid"]["radius_nm"],
                 "distance_nm": d["sample"]["interference"]["radial_paracrystal"]
                 ["distance_nm"]}
        z += [abs(r.parameters[k] - v) / r.std[k] for k, v in truth.items()]
        per_dof.append(r.extra["goodness_of_fit"]["per_dof"])
    z_ = np.asarray(z)
    assert np.mean(z_ < 2) >= 0.85 and 0.55 <= np.mean(z_ < 1) <= 0.85, np.sort(z_)
    assert 0.97 < np.median(per_dof) < 1.03


def test_a_misfit_the_counts_cannot_explain_is_said_and_widens_the_errors() -> None:
    """Counts of a pattern with a structure the template cannot make (a stripe): the deviance
    is far above what the counts allow, 'described' is false, and the errors are widened by
    the overdispersion."""
    template = _template()
    e = dg.sample_experiments(template, 1, seed=3)[0]
    clean = dg.simulate(e)
    lam = clean / np.nanmean(clean) * 30.0
    lam[:, 10] *= 5.0
    data = np.random.default_rng(0).poisson(lam).astype(np.float64)
    r = fit_image(template, data, config=FitConfig(n_starts=32, n_polish=2))
    g = r.extra["goodness_of_fit"]
    assert not g["described"] and g["per_dof"] > 1.5 and g["widen"] == g["per_dof"]
    assert "retried" in r.extra


def test_fit_cli_objective_errors_are_one_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    template = tmp_path / "t.yaml"
    dg.save(_template(), template)
    e = dg.sample_experiments(_template(), 1, seed=1)[0]
    img = tmp_path / "img.npy"
    np.save(img, dg.simulate(e) * 0.37)  # not counts
    out = tmp_path / "fit.json"
    for args in (["--objective", "chi3"], ["--objective", "poisson"],
                 ["--objective", "gaussian", "--variance", "-1"]):
        assert main(["fit", str(template), str(img), "-o", str(out), *args]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith("deepgisas fit:") and not out.exists(), err
    counts = tmp_path / "counts.npy"
    np.save(counts, np.random.default_rng(0).poisson(dg.simulate(e) / 1e-3).astype(float))
    assert main(["fit", str(template), str(counts), "-o", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["objective"] == "poisson" and r["goodness_of_fit"]["described"]
    assert "objective poisson" in capsys.readouterr().out
