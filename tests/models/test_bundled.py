"""The bundled models: trained by `deepgisas train` (the command is in the card), small, and
usable by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepgisas as dg
from deepgisas.models.store import bundled_models, load_model, model_dir
from deepgisas.predict import predict_arrays
from deepgisas.sample import parse_experiment


def test_both_models_ship() -> None:
    assert {"hex-orientation", "film"} <= set(bundled_models())


@pytest.mark.parametrize("name", ["hex-orientation", "film"])
def test_bundled_model_loads_and_predicts(name: str) -> None:
    folder = model_dir(name)
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size <= 20e6
    net, card = load_model(name)
    assert card["training"]["command"].startswith(f"deepgisas train {name} ")
    assert card["template"] == dg.load(name).to_dict()
    template = parse_experiment(card["template"])
    exps = dg.sample_experiments(template, 2, seed=99)
    res = predict_arrays(name, dg.simulate_batch(exps, dtype=torch.float32))
    if card["head"] == "distribution":
        assert all(abs(sum(r["probability"]) - 1) < 1e-6 for r in res)
        assert card["validation"]["figures"]["model"]["kl"] > 0
    else:
        assert set(res[0]["parameters"]) == set(card["labels"]["names"])
        assert all(np.isfinite(v) for r in res for v in r["parameters"].values())
