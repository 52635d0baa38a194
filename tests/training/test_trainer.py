"""The pieces of a training run, each without a timed run: one step, an epoch, validation, the
configuration's checks."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from deepgisas.data.preprocess import InputSpec
from deepgisas.errors import UserError
from deepgisas.training.config import TrainConfig, lr_at
from deepgisas.training.loop import Trainer
from tests.data.helpers import small_film, small_template


def _cfg(**kw: object) -> TrainConfig:
    base = dict(minutes=5.0, batch_size=8, steps_per_epoch=3, val_size=8, warmup_steps=1,
                workers=0, lr=3e-3, input=InputSpec(crop=(28, 28)))
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_steps_on_one_batch_lower_its_loss_and_count(tmp_path: Path) -> None:
    t = Trainer(small_film(32), tmp_path / "m", _cfg(max_steps=100), progress=False)
    batch = next(iter(t.batches()))
    losses = [t.step(batch) for _ in range(12)]
    assert t.state["step"] == 12 and all(map(torch.isfinite, torch.tensor(losses)))
    assert losses[-1] < losses[0]
    assert t.opt.param_groups[0]["lr"] == pytest.approx(lr_at(11, t.cfg, 100))


def test_an_epoch_takes_its_steps_and_validation_gives_the_heads_figures(
        tmp_path: Path) -> None:
    t = Trainer(small_template(32), tmp_path / "m", _cfg(max_steps=10), progress=False)
    batch = next(iter(t.batches()))
    losses, wait = t.epoch(itertools.repeat(batch))
    assert len(losses) == 3 and t.state["step"] == 3 and 0.0 <= wait <= 1.0
    figures = t.validate()
    assert {"kl", "emd_deg"} <= set(figures) and not t.net.training
    g = Trainer(small_film(32), tmp_path / "g", _cfg(max_steps=10), progress=False)
    assert {"nll", "mae_unit", "within_1std", "within_2std"} <= set(g.validate())
    assert not (tmp_path / "m" / "model.safetensors").exists()  # nothing written before run


def test_literal_settings_are_checked_at_construction() -> None:
    for field, value in (("loss", "mse"), ("head", "mixture"), ("targets", "truth"),
                         ("precision", "float16")):
        with pytest.raises(UserError, match=f"{field} must be") as info:
            TrainConfig(**{field: value})  # type: ignore[arg-type]
        assert info.value.setting == field
