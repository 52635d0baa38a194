"""Tiny models trained once per session for the analysis tests (about a minute on 2 cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepgisas.data.preprocess import InputSpec
from deepgisas.templates import Template, parse_template
from deepgisas.training.config import TrainConfig
from deepgisas.training.loop import train
from tests.data.helpers import small_film, small_hex


def easy_hex(n: int = 32, bins: int = 6) -> Template:
    """hex-orientation on an n x n detector with a fixed beam and lattice (short-range order,
    so rods are broad enough for 32 pixels; only xi varies, and the radius a little), xi in
    ``bins`` bins with 1 or 2 domains: a tiny network learns it in 15 s."""
    d = small_hex(n)
    d["sample"]["interference"]["hexagonal_lattice"]["orientation"] = {
        "random_bins": {"bins": bins, "nonzero": [1, 2]}}
    d["beam"]["wavelength_nm"] = 0.1341
    d["beam"]["alpha_i_deg"] = 0.164
    lat = d["sample"]["interference"]["hexagonal_lattice"]
    lat["a_nm"], lat["decay_nm"], lat["position_variance_nm2"] = 34.0, 40.0, 0.0
    d["sample"]["particles"]["shape"]["sphere"]["radius_nm"] = {"uniform": [9.0, 11.0]}
    return parse_template(d)


def cfg(steps: int, **kw: object) -> TrainConfig:
    base = dict(minutes=5.0, max_steps=steps, batch_size=16, steps_per_epoch=10, val_size=32,
                warmup_steps=5, lr=3e-3, workers=0, input=InputSpec(crop=(28, 28)))
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def hex_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "hex"
    train(easy_hex(32), out, cfg(200), progress=False)
    return out


@pytest.fixture(scope="session")
def film_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "film"
    train(small_film(32), out, cfg(40), progress=False)
    return out
