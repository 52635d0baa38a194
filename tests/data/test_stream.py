"""On-the-fly data: seeded streams, one per worker and rank, and a fixed validation set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import deepgisas as dg
from deepgisas.data import stream as stream_mod
from deepgisas.data.stream import SimulatedStream, validation_batches
from deepgisas.parse import parse_experiment
from deepgisas.templates import parse_template
from tests.data.helpers import small_hex, small_template


def _key(batch: dict) -> tuple:
    return tuple(np.round(batch["p:beam.wavelength_nm"].numpy(), 12))


def test_batches_are_labelled_simulations() -> None:
    t = small_template(32)
    b = next(iter(SimulatedStream(t, batch_size=3, seed=1)))
    assert b["x"].shape == (3, 2, 32, 32) and b["x"].dtype == torch.float32
    assert torch.equal(b["x"][:, 1], torch.ones(3, 32, 32))  # mask channel: all measured
    assert b["dist"].shape == (3, 120) and torch.allclose(b["dist"].sum(1), torch.ones(3))
    # the image is the simulation of the drawn parameters
    d = small_hex(32)
    d["beam"]["wavelength_nm"] = float(b["p:beam.wavelength_nm"][0])
    d["beam"]["alpha_i_deg"] = float(b["p:beam.alpha_i_deg"][0])
    lat = d["sample"]["interference"]["hexagonal_lattice"]
    for k in ("a_nm", "decay_nm", "position_variance_nm2"):
        lat[k] = float(b[f"p:sample.interference.hexagonal_lattice.{k}"][0])
    d["sample"]["particles"]["shape"]["sphere"]["radius_nm"] = float(
        b["p:sample.particles.shape.sphere.radius_nm"][0])
    xi = b["p:sample.interference.hexagonal_lattice.orientation.xi_deg"][0].numpy()
    w = b["p:sample.interference.hexagonal_lattice.orientation.weights"][0].numpy()
    keep = np.isfinite(xi)
    lat["orientation"] = {"xi_deg": xi[keep].tolist(), "weights": w[keep].tolist()}
    d.pop("labels")
    ref = dg.simulate(parse_experiment(d)).astype(np.float32)
    np.testing.assert_allclose(b["x"][0, 0].numpy(), ref, rtol=1e-5)


def test_stream_is_reproducible_and_seed_dependent() -> None:
    t = small_template(16)
    a = [_key(b) for b in SimulatedStream(t, batch_size=2, seed=3, n_batches=3)]
    b = [_key(b) for b in SimulatedStream(t, batch_size=2, seed=3, n_batches=3)]
    c = [_key(b) for b in SimulatedStream(t, batch_size=2, seed=4, n_batches=3)]
    assert a == b and a != c and len(set(a)) == 3


def test_each_worker_has_its_own_stream() -> None:
    t = small_template(16)
    ds = SimulatedStream(t, batch_size=2, seed=0, n_batches=6)
    keys = [_key(b) for b in DataLoader(ds, batch_size=None, num_workers=2)]
    assert len(keys) == 6 and len(set(keys)) == 6
    again = [_key(b) for b in DataLoader(ds, batch_size=None, num_workers=2)]
    assert sorted(again) == sorted(keys)


def test_each_rank_has_its_own_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    t = small_template(16)
    ds = SimulatedStream(t, batch_size=2, seed=0, n_batches=4)
    per_rank = []
    for rank in range(2):  # as under DDP with world size 2 and no DataLoader workers
        monkeypatch.setattr(stream_mod, "stream_id", lambda r=rank: (r, 2))
        per_rank.append([_key(b) for b in ds])
    assert len(per_rank[0]) == len(per_rank[1]) == 2
    assert not set(per_rank[0]) & set(per_rank[1])


def test_validation_set_is_fixed_per_template_and_not_training_data() -> None:
    t = small_template(16)
    v1 = validation_batches(t, 5, batch_size=2)
    v2 = validation_batches(small_template(16), 5, batch_size=2)
    assert [b["x"].shape[0] for b in v1] == [2, 2, 1]
    for a, b in zip(v1, v2, strict=True):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["dist"], b["dist"])
    other = validation_batches(small_template(24), 2, batch_size=2)
    assert _key(other[0]) != _key(v1[0])
    train = {_key(b) for b in SimulatedStream(t, batch_size=2, seed=0, n_batches=20)}
    assert _key(v1[0]) not in train


def test_augmentation_is_applied_with_a_seeded_generator() -> None:
    t = small_template(16)

    def noisy(x: torch.Tensor, mask: torch.Tensor, gen: torch.Generator):
        return torch.poisson(x, generator=gen), mask

    a = next(iter(SimulatedStream(t, batch_size=2, seed=1, augment=noisy)))
    b = next(iter(SimulatedStream(t, batch_size=2, seed=1, augment=noisy)))
    clean = next(iter(SimulatedStream(t, batch_size=2, seed=1)))
    assert torch.equal(a["x"], b["x"]) and not torch.equal(a["x"], clean["x"])
    assert torch.equal(a["x"], a["x"].round())  # counts


def test_detector_masks_reach_the_mask_channel() -> None:
    d = small_hex(16)
    d["detector"]["mask_px"] = [[6, 0, 10, 4]]  # a beam stop: columns 6-9, rows 0-3
    b = next(iter(SimulatedStream(parse_template(d), batch_size=2, seed=0)))
    expect = torch.ones(16, 16)
    expect[0:4, 6:10] = 0
    assert torch.equal(b["x"][0, 1], expect) and torch.equal(b["x"][1, 1], expect)
    assert (b["x"][:, 0][:, 0:4, 6:10] == 0).all()
    plain = next(iter(SimulatedStream(parse_template(d), batch_size=2, mask_channel=False)))
    assert plain["x"].shape == (2, 1, 16, 16)


def test_stream_resumes_at_a_batch_index_in_order() -> None:
    t = small_template(16)
    full = [_key(b) for b in SimulatedStream(t, batch_size=2, seed=3, n_batches=5)]
    tail = [_key(b) for b in DataLoader(SimulatedStream(t, batch_size=2, seed=3, n_batches=5,
                                                        start=2), batch_size=None, num_workers=2)]
    assert tail == full[2:]


def test_repeats_augment_each_simulation_several_times() -> None:
    t = small_template(16)

    def noisy(x: torch.Tensor, mask: torch.Tensor, gen: torch.Generator):
        return torch.poisson(x, generator=gen), mask

    b = next(iter(SimulatedStream(t, batch_size=6, seed=2, augment=noisy, repeats=3)))
    wl = b["p:beam.wavelength_nm"]
    assert b["x"].shape[0] == 6 and len(set(wl.tolist())) == 2
    assert torch.equal(wl[0:3], wl[0].expand(3)) and torch.equal(b["dist"][1], b["dist"][0])
    assert not torch.equal(b["x"][0], b["x"][1])  # same simulation, different noise


def test_params_false_leaves_the_drawn_numbers_out(tmp_path: Path) -> None:
    """Training's batches: the same images and labels, without the p:PATH tensors."""
    from deepgisas.data.generate import generate
    from deepgisas.data.shard_dataset import ShardDataset

    t = small_template(16)
    full = next(iter(SimulatedStream(t, batch_size=4, seed=2)))
    lean = next(iter(SimulatedStream(t, batch_size=4, seed=2, params=False)))
    assert any(k.startswith("p:") for k in full) and set(lean) == {"x", "dist"}
    assert torch.equal(full["x"], lean["x"]) and torch.equal(full["dist"], lean["dist"])
    generate(t, 4, tmp_path / "g", shard_size=4, seed=7, progress=False)
    shard = next(iter(ShardDataset(tmp_path / "g", batch_size=4, params=False)))
    assert set(shard) == {"x", "dist"}
