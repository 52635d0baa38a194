"""The bundled models: trained by `deepgisas train` (the command is in the card), small, and
usable by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepgisas as dg
from deepgisas.models.store import bundled_models, load_model, model_dir
from deepgisas.predict import predict_arrays
from deepgisas.templates import parse_template


def test_the_models_ship() -> None:
    assert {"hex-orientation", "film", "film-flow"} <= set(bundled_models())


@pytest.mark.parametrize(("name", "template_name"), [("hex-orientation", "hex-orientation"),
                                                      ("film", "film"), ("film-flow", "film")])
def test_bundled_model_loads_and_predicts(name: str, template_name: str) -> None:
    folder = model_dir(name)
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size <= 20e6
    net, card = load_model(name)
    assert card.training["command"].startswith(f"deepgisas train {template_name} ")
    # film-flow was trained before film.yaml got its constraint (issue 18): its card keeps
    # the template it was trained on
    now = {k: v for k, v in dg.load(template_name).to_dict().items()
           if k != "constraints" or name != "film-flow"}
    assert card.template == now
    template = parse_template(card.template)
    exps = dg.sample_experiments(template, 2, seed=99)
    res = predict_arrays(name, dg.simulate_batch(exps, dtype=torch.float32))
    if card.head == "distribution":
        assert all(abs(sum(r["probability"]) - 1) < 1e-6 for r in res)
        assert card.validation["figures"]["model"]["kl"] > 0
    else:
        assert set(res[0]["parameters"]) == set(card.labels["names"])
        assert all(np.isfinite(v) for r in res for v in r["parameters"].values())


def test_one_image_and_a_folded_batch_predict_alike() -> None:
    """A single image runs the network as trained, FOLD_MIN or more its folded copy."""
    from deepgisas.predict import FOLD_MIN, Predictor

    template = dg.load("film")
    images = dg.simulate_batch(dg.sample_experiments(template, 2, seed=5), dtype=torch.float32)
    predictor = Predictor("film")
    one = [predictor(images[i:i + 1])[0] for i in range(2)]
    many = predictor(np.concatenate([images] * (FOLD_MIN // 2)))
    assert predictor._eager is None  # folded now
    for a, b in zip(one, many[:2], strict=True):
        for key in ("parameters", "std"):
            assert a[key] == pytest.approx(b[key], rel=1e-4)


def test_bundled_models_beat_their_baselines() -> None:
    """The card's validation figures (computed by `train` on the template's fixed validation
    set) against the uniform / mean-label baselines of the same set."""
    card = load_model("hex-orientation")[1]
    figs = card.validation["figures"]
    assert figs["model"]["kl"] < figs["baseline_uniform"]["kl"] - 0.3
    assert figs["model"]["emd_deg"] < figs["baseline_uniform"]["emd_deg"]
    for model in ("film", "film-flow"):
        card = load_model(model)[1]
        for name, f in card.validation["figures"].items():
            assert f["median_relative_error"] < f["baseline_median_relative_error"], name


def test_hex_orientation_model_reads_orientation_from_clean_patterns() -> None:
    """An independent check of the bundled hex model: on fresh patterns of the template (seed
    not used in training or validation) its mean KL is well below the uniform guess's."""
    from deepgisas.data.labels import LabelSpace
    from deepgisas.templates import draw_parameters, instantiate

    template = dg.load("hex-orientation")
    draws = draw_parameters(template, 24, seed=12345)
    labels = LabelSpace.of(template).encode(draws)["dist"]
    images = dg.simulate_batch(instantiate(template, draws), dtype=torch.float32)
    from deepgisas.models.losses import kl_divergence

    pred = np.array([r["probability"] for r in predict_arrays("hex-orientation", images)])
    t = torch.from_numpy(labels)
    kl_model = kl_divergence(t, torch.from_numpy(pred).clamp_min(1e-12).log()).mean().item()
    kl_uniform = kl_divergence(t, torch.full_like(t, -np.log(120))).mean().item()
    assert kl_model < kl_uniform - 0.3, (kl_model, kl_uniform)


def test_a_local_folder_shadowing_a_bundled_name_is_warned_once(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import shutil

    from deepgisas.models import store

    shutil.copytree(model_dir("film"), tmp_path / "film")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(store, "_SHADOWED", set())
    with pytest.warns(UserWarning, match="not the bundled model"):
        assert model_dir("film") == store.Path("film")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model_dir("film")  # once per process


def test_cards_round_trip_and_refuse_what_they_do_not_know() -> None:
    from deepgisas.errors import UserError
    from deepgisas.models.card import ModelCard
    from deepgisas.models.store import model_dir, read_card

    for name in ("film", "film-flow", "hex-orientation"):
        card = read_card(model_dir(name))
        assert ModelCard.from_dict(card.to_dict()) == card
    d = read_card(model_dir("film")).to_dict()
    with pytest.raises(UserError, match="card.json: unknown key 'colour'"):
        ModelCard.from_dict({**d, "colour": "red"})
    with pytest.raises(UserError, match="flow head and the card's 'flow'"):
        ModelCard.from_dict({**d, "head": "flow"})
