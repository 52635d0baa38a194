"""InputSpec: the one place where images become network input."""

from __future__ import annotations

import pytest
import torch

from deepgisas.data.augment import BeamStop, DeadStrip, Downsample, Poisson, RandomCrop
from deepgisas.data.preprocess import InputSpec
from deepgisas.errors import UserError


def test_bin_counts_bins_before_the_noise_and_shrinks_the_stops() -> None:
    spec = InputSpec("talk", (224, 224), (4, 2), True, bin_counts=True)
    steps = spec.train().steps
    kinds = [type(s) for s in steps]
    assert kinds.index(Downsample) < kinds.index(Poisson)  # counts are binned, then counted
    assert isinstance(steps[0], RandomCrop) and steps[1] == Downsample((4, 2), "sum")
    stop = next(s for s in steps if isinstance(s, BeamStop))
    strip = next(s for s in steps if isinstance(s, DeadStrip))
    assert stop == BeamStop((2, 5), (2, 8)) and strip == DeadStrip((1, 3))
    x = torch.rand(3, 256, 256) * 50
    y, m = spec.train(center=True)(x, seed=0)
    assert y.shape == (3, 56, 112) == m.shape
    assert InputSpec.from_dict(spec.to_dict()) == spec


def test_bin_counts_prediction_is_the_log_of_block_sums() -> None:
    spec = InputSpec("talk", (8, 8), (2, 2), True, bin_counts=True)
    x = torch.rand(2, 10, 10) * 9
    y, _ = spec.predict()(x, seed=0)
    sums = x[:, 1:9, 1:9].reshape(2, 4, 2, 4, 2).sum((2, 4))
    ref = torch.log(sums + 0.1)
    ref = (ref - ref.mean((1, 2), keepdim=True)) / ref.std((1, 2), unbiased=False, keepdim=True)
    assert torch.allclose(y, ref, atol=1e-5)


def test_bin_counts_needs_the_talk_pipeline_and_old_cards_still_read() -> None:
    with pytest.raises(UserError, match="bin_counts"):
        InputSpec("detector", (8, 8), (2, 2), True, bin_counts=True)
    old = InputSpec.from_dict({"augment": "talk", "crop": [8, 8], "downsample": [2, 1],
                               "mask_channel": True})
    assert old.bin_counts is False
