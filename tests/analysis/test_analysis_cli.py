"""Every `deepgisas analyze` command and `deepgisas report` on tiny models trained once per
session: outputs exist and their numbers are sane."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deepgisas.cli.main import main


def _run(*args: str) -> dict:
    out = Path(args[args.index("-o") + 1])
    assert main(["analyze", *args]) == 0
    res = json.loads((out / f"{args[0]}.json").read_text())
    for p in res["figures"]:
        assert Path(p).read_bytes()[:4] in (b"\x89PNG", b"comp"), p
    return res["numbers"]


def test_curves(hex_model: Path, tmp_path: Path) -> None:
    n = _run("curves", str(hex_model), "-o", str(tmp_path))
    assert n["epochs"] == 20 and n["final_kl"] < n["final_kl"] + 1
    assert n["best_kl"] <= n["final_kl"] and n["images"] == 200 * 16


def test_validate_orientation_beats_uniform(hex_model: Path, tmp_path: Path) -> None:
    n = _run("validate", str(hex_model), "-o", str(tmp_path), "--n", "64")
    assert n["n"] == 64 and n["kl"] < 0.6 * n["uniform_kl"]
    assert n["emd_deg"] < 0.6 * n["uniform_emd_deg"]
    assert len(n["worst"]) == 4 and set(n["worst"]).isdisjoint(n["best"])
    assert (tmp_path / "validate_worst.png").exists() and (tmp_path / "validate_best.png").exists()


def test_validate_parameters(film_model: Path, tmp_path: Path) -> None:
    n = _run("validate", str(film_model), "-o", str(tmp_path), "--n", "32")
    for name in ("distance_nm", "radius_nm"):
        assert 0 <= n[name]["within_1std"] <= n[name]["within_2std"] <= 1
        assert 0 < n[name]["mae_unit"] < 0.5


def test_validate_on_shards_of_the_template_without_its_constraints(
        film_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Shards whose template differs from the model's by its constraints alone are the model's
    data (a model trained before its template was constrained, evaluated on data drawn after);
    shards of other priors are refused."""
    import dataclasses

    from deepgisas.data.generate import generate
    from deepgisas.models.store import load_model
    from deepgisas.templates import parse_template

    template = parse_template(load_model(film_model)[1].template)
    assert template.constraints  # the film template's D >= 2R
    loose = dataclasses.replace(template, constraints=())
    generate(loose, 16, tmp_path / "loose", shard_size=16, seed=3, progress=False)
    n = _run("validate", str(film_model), "-o", str(tmp_path / "v"), "--n", "16", "--data",
             str(tmp_path / "loose"))
    assert n["n"] == 16
    d = loose.to_dict()
    d["beam"]["intensity"] = 2.0 * d["beam"]["intensity"]
    generate(parse_template(d), 16, tmp_path / "other", shard_size=16, seed=3, progress=False)
    capsys.readouterr()
    assert main(["analyze", "validate", str(film_model), "-o", str(tmp_path / "w"), "--n", "16",
                 "--data", str(tmp_path / "other")]) == 2
    assert "another template" in capsys.readouterr().err


def test_exposure_more_counts_do_better(hex_model: Path, film_model: Path,
                                        tmp_path: Path) -> None:
    n = _run("exposure", str(hex_model), "-o", str(tmp_path), "--n", "48",
             "--scales", "-3", "0", "3")
    rows = n["rows"]
    assert [r["log10_scale"] for r in rows] == [-3, 0, 3]
    assert rows[1]["median_counts"] == pytest.approx(1e3 * rows[0]["median_counts"])
    assert rows[2]["kl"] < rows[0]["kl"] and rows[2]["kl"] < 0.6 * n["uniform"]["kl"]
    assert rows[2]["emd_deg"] < rows[0]["emd_deg"]
    n = _run("exposure", str(film_model), "-o", str(tmp_path / "f"), "--n", "16",
             "--scales", "0")
    assert set(n["rows"][0]) >= {"distance_nm", "radius_nm"}
    assert all(0 <= v < 1 for v in n["prior_midpoint"].values())


def test_resimulate_orientation_fits_better_than_uniform(hex_model: Path, tmp_path: Path) -> None:
    n = _run("resimulate", str(hex_model), "--simulate", "0:1", "--count", "1",
             "-o", str(tmp_path))
    r = n["results"][0]
    assert r["misfit"] < r["reference_misfit"]
    assert sum(r["prediction"]["probability"]) == pytest.approx(1.0)
    assert n["nuisance"] == {"radius_nm": pytest.approx(10.0)}


def test_resimulate_file_and_nuisance_override(film_model: Path, tmp_path: Path) -> None:
    import deepgisas as dg
    from deepgisas.analysis.common import Model, midpoints

    m = Model.load(film_model)
    exact = m.template.at(midpoints(m.template, {"radius_nm": 6.0, "distance_nm": 40.0}))
    np.save(tmp_path / "img.npy", dg.simulate(exact))
    n = _run("resimulate", str(film_model), str(tmp_path / "img.npy"), "--set",
             "alpha_i_deg=0.3", "--reference", "none", "-o", str(tmp_path / "o"))
    assert n["nuisance"]["alpha_i_deg"] == 0.3 and "reference_misfit" not in n["results"][0]
    assert 0 <= n["results"][0]["misfit"] < 3


def test_resimulation_beyond_the_priors_is_at_their_bounds(film_model: Path) -> None:
    """A prediction beyond the priors (here a radius below its bound, which would be
    negative) is re-simulated at the bounds."""
    from deepgisas.analysis.common import Model, midpoints
    from deepgisas.analysis.resimulate import pattern_for

    m = Model.load(film_model)
    nuisance = {p: v for p, v in midpoints(m.template, None).items()
                if p not in m.labels.numeric}
    beyond = pattern_for(m, np.array([1.5, -2.0]), nuisance)
    assert np.array_equal(beyond, pattern_for(m, np.array([1.0, 0.0]), nuisance))


def test_log_misfit_is_zero_for_the_same_pattern_at_any_scale() -> None:
    from deepgisas.analysis import log_misfit

    rng = np.random.default_rng(0)
    a = rng.uniform(1, 100, (8, 8))
    a[0, 0] = np.nan
    assert log_misfit(a, 7.0 * a)[0] == pytest.approx(0.0, abs=1e-12)
    assert log_misfit(a, a[::-1])[0] > 0.1


def test_pls_cli(hex_model: Path, tmp_path: Path) -> None:
    n = _run("pls", str(hex_model), "-o", str(tmp_path), "--n", "96")
    assert -1 < n["mean_r2_truth"] <= 1 and n["network"]["mae_peaks"] > 0
    rows = (tmp_path / "pls.csv").read_text().splitlines()
    assert rows[0] == "component,r2_truth,r2_network" and len(rows) == 1 + 6


def test_pls_recovers_a_known_linear_structure() -> None:
    from deepgisas.analysis import fit_pls

    rng = np.random.default_rng(1)
    y = rng.normal(size=(400, 4))
    a = rng.normal(size=(2, 60))
    x = y[:, :2] @ a + 0.1 * rng.normal(size=(400, 60))  # only labels 0 and 1 reach x
    r2 = fit_pls(x, y, n_components=2)["r2"]  # the true rank
    assert r2[0] > 0.95 and r2[1] > 0.95 and abs(r2[2]) < 0.1 and abs(r2[3]) < 0.1


def test_bias(hex_model: Path, film_model: Path, tmp_path: Path) -> None:
    n = _run("bias", str(hex_model), "-o", str(tmp_path / "h"), "--n", "8",
             "--reference", "uniform", "--reference", "0:1")
    refs = n["references"]
    assert set(refs) == {"uniform", "0:1"}
    assert sum(refs["uniform"]["mean_prediction"]) == pytest.approx(1.0)
    n = _run("bias", str(film_model), "-o", str(tmp_path / "f"), "--n", "8")
    assert len(n["bias"]["radius_nm"]["bias"]) == 3


def test_compare_uniform_separates_single_domain_from_uniform(hex_model: Path,
                                                              tmp_path: Path) -> None:
    one = _run("compare-uniform", str(hex_model), "--simulate", "0:1", "--count", "3",
               "--null", "96", "-o", str(tmp_path / "a"))["results"]
    uni = _run("compare-uniform", str(hex_model), "--simulate", "uniform", "--count", "3",
               "--null", "96", "-o", str(tmp_path / "b"))["results"]
    assert max(r["p_value"] for r in one) < 0.05 and min(r["effect_size"] for r in one) > 2
    assert np.median([r["p_value"] for r in uni]) > 0.1


def test_uniform_test_machinery_without_a_model() -> None:
    """Null predictions scattered around a biased mean: a peaked prediction gets the smallest
    possible p-value; predictions drawn like the null get roughly uniform p-values."""
    from deepgisas.analysis import uniform_test

    rng = np.random.default_rng(2)
    bias = np.linspace(1, 2, 12)
    bias /= bias.sum()

    def draw(n: int) -> np.ndarray:
        return rng.dirichlet(200 * bias, size=n)

    null = draw(199)
    peaked = np.eye(12)[[3]]
    r = uniform_test(peaked, null)
    assert r["p_value"][0] == pytest.approx(1 / 200) and r["effect_size"][0] > 10
    p = np.array(uniform_test(draw(400), null)["p_value"])
    assert 0.02 < (p < 0.05).mean() < 0.1 and 0.4 < np.median(p) < 0.6


def test_saliency(hex_model: Path, film_model: Path, tmp_path: Path) -> None:
    n = _run("saliency", str(hex_model), "-o", str(tmp_path / "h"), "--count", "2")
    assert n["ig_completeness_error"] < 0.05 * max(1.0, max(map(abs, n["ig_gap"])))
    n = _run("saliency", str(film_model), "-o", str(tmp_path / "f"), "--count", "1",
             "--label", "radius_nm")
    assert n["explained"] == ["predicted radius_nm (unit box)"]
    assert all(0 <= v <= 1 for v in n["attention_on_brightest_10pct"].values())


def test_filters_one_and_two_models(hex_model: Path, film_model: Path, tmp_path: Path) -> None:
    n = _run("filters", str(hex_model), str(film_model), "-o", str(tmp_path))
    assert set(n) == {"hex", "film"} and n["hex"]["shape"] == [16, 2, 5, 3]


def test_transfer(hex_model: Path, tmp_path: Path) -> None:
    import yaml

    from tests.analysis.conftest import easy_hex

    # a related template, on a bigger detector: the crop follows it, the options stay
    d = easy_hex(40).to_dict()
    d["sample"]["interference"]["hexagonal_lattice"]["a_nm"] = 30.0
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(d))
    n = _run("transfer", str(hex_model), str(tmp_path / "t.yaml"), "-o", str(tmp_path / "o"),
             "--max-steps", "20", "--batch-size", "16", "--steps-per-epoch", "5",
             "--val-size", "32", "--workers", "0")
    assert n["metric"] == "kl" and n["level"] > 0
    # the backbone learnt xi already: fine-tuning starts far ahead of scratch
    assert n["final_finetuned"] < n["final_scratch"]
    card = json.loads((tmp_path / "o" / "finetuned" / "card.json").read_text())
    assert card["input"]["crop"] == [35, 35]


def test_report_is_one_self_contained_page(hex_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(hex_model), "-o", str(out), "--n", "32"]) == 0
    page = out.read_text()
    assert page.count("<img src=\"data:image/png;base64,") >= 9
    for title in ("Learning curves", "Partial least squares", "Prior bias",
                  "distinguishable from uniform", "Attention maps", "First-layer filters",
                  "The ideal observer"):
        assert title in page
    assert not [p for p in tmp_path.iterdir() if p.name != "report.html"]
    # each section's count is the one the header states (--n 32: exposure used 16 before)
    assert "32 for validation, exposure and PLS" in page
    assert "The same 32 simulated patterns counted at fixed intensity scales" in page


def test_pls_text_says_when_nothing_is_predictable() -> None:
    from deepgisas.analysis.pls import predictable_text

    none = predictable_text(["radius_nm", "distance_nm"], np.array([-0.4, -0.1]))
    assert "No parameter is linearly predictable" in none and "most" not in none
    some = predictable_text(["radius_nm", "distance_nm"], np.array([-0.4, 0.3]))
    assert "most linearly predictable parameter is distance_nm" in some


def test_resimulate_a_file_at_the_instruments_beam(film_model: Path, tmp_path: Path) -> None:
    """With --instrument, the re-simulation uses the beam the file's grid is read at (the
    instrument's incidence angle), not the prior's midpoint."""
    import yaml

    import deepgisas as dg
    from deepgisas.analysis.common import Model, midpoints

    m = Model.load(film_model)
    exact = m.template.at(midpoints(m.template, {"alpha_i_deg": 0.31}))
    np.save(tmp_path / "img.npy", dg.simulate(exact))
    inst = tmp_path / "inst.yaml"
    d = exact.to_dict()
    inst.write_text(yaml.safe_dump({"beam": d["beam"], "detector": d["detector"]}))
    n = _run("resimulate", str(film_model), str(tmp_path / "img.npy"), "--instrument",
             str(inst), "--reference", "none", "-o", str(tmp_path / "o"))
    assert n["nuisance"]["alpha_i_deg"] == pytest.approx(0.31)


def test_errors_are_one_line(film_model: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture) -> None:
    for args in (["analyze", "compare-uniform", str(film_model), "-o", str(tmp_path / "a")],
                 ["analyze", "validate", str(tmp_path / "none"), "-o", str(tmp_path / "b")],
                 ["analyze", "resimulate", str(film_model), "--set", "nope=1",
                  "-o", str(tmp_path / "c")],
                 ["analyze", "resimulate", str(film_model), str(tmp_path / "x.npy"),
                  "-o", str(tmp_path / "d")],
                 ["analyze", "curves", str(film_model), "-o", str(tmp_path / "no" / "e")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("deepgisas analyze:"), err


def test_bound_ideal_observer_below_the_model(hex_model: Path, film_model: Path,
                                              tmp_path: Path) -> None:
    n = _run("bound", str(hex_model), "-o", str(tmp_path), "--n", "60", "--scales", "-2", "2",
             "--unknown", "radius_nm", "--points", "3")
    assert n["uniform"]["kl"] == pytest.approx(np.log(6))
    assert len(n["grid"]) == 3 and 9 < n["grid"][0] < n["grid"][1] < n["grid"][2] < 11
    low, high = n["rows"]
    for row in n["rows"]:  # a theorem, up to the Monte Carlo error of 60 samples
        se = row["model"]["kl_se"] + row["known"]["kl_se"]
        assert row["known"]["kl"] <= row["model"]["kl"] + 3 * se
        assert row["unknown"]["kl"] >= row["known"]["kl"] - 3 * se
    assert high["known"]["kl"] < low["known"]["kl"]  # more counts, more information
    assert high["model"]["kl"] < n["uniform"]["kl"]
