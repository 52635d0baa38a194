"""Description files: round trips, templates, sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import deepgisas as dg
from deepgisas.priors import LogUniform, Uniform
from deepgisas.sample import RandomBins


@pytest.mark.parametrize("name", ["hex-talk", "hex-orientation", "film"])
def test_bundled_round_trip(name: str, tmp_path: Path) -> None:
    e = dg.load(name)
    for suffix in (".yaml", ".json"):
        p = tmp_path / f"x{suffix}"
        dg.save(e, p)
        assert dg.load(p) == e


def test_hex_orientation_priors_are_the_talks() -> None:
    free = dg.load("hex-orientation").priors
    assert free["beam.wavelength_nm"] == Uniform(0.12, 0.15)
    assert free["beam.alpha_i_deg"] == Uniform(0.15, 0.18)
    assert free["sample.particles.shape.sphere.radius_nm"] == Uniform(8.0, 13.0)
    assert free["sample.interference.hexagonal_lattice.a_nm"] == Uniform(30.0, 40.0)
    assert free["sample.interference.hexagonal_lattice.decay_nm"] == Uniform(100.0, 250.0)
    assert free["sample.interference.hexagonal_lattice.position_variance_nm2"] == Uniform(0, 15)
    assert free["sample.interference.hexagonal_lattice.orientation"] == RandomBins(120, (1, 5))


def test_sampling_is_seeded_and_within_priors() -> None:
    t = dg.load("hex-orientation")
    a = dg.sample_experiments(t, 20, seed=3)
    b = dg.sample_experiments(t, 20, seed=3)
    assert a == b and a != dg.sample_experiments(t, 20, seed=4)
    for e in a:
        assert isinstance(e, dg.Experiment)
        o = e.sample.interference.orientation  # type: ignore[union-attr]
        assert 1 <= len(o.xi_deg) <= 5 and abs(sum(o.weights) - 1) < 1e-9  # type: ignore[union-attr]
        assert all(x in np.arange(120) * 0.5 for x in o.xi_deg)  # type: ignore[union-attr]
        assert 30.0 <= e.sample.interference.params["a_nm"] <= 40.0  # type: ignore[union-attr,operator]


def test_log_uniform_unit_map() -> None:
    p = LogUniform(1.0, 100.0)
    assert p.to_unit(10.0) == pytest.approx(0.5)
    assert p.from_unit(0.5) == pytest.approx(10.0)


def test_simulate_batch_groups_structures() -> None:
    exps = dg.sample_experiments(dg.load("hex-orientation"), 6, seed=1)
    small = [dg.Experiment(e.beam, type(e.detector)(type(e.detector.geometry)(
        e.detector.geometry.phi_deg, e.detector.geometry.alpha_deg, (16, 16))),  # type: ignore[union-attr,call-arg]
        e.sample) for e in exps]
    batch = dg.simulate_batch(small, mixed=False)
    for i in (0, 5):
        assert np.allclose(batch[i], dg.simulate(small[i], mixed=False), rtol=1e-12)


def test_short_names_keep_the_list_they_index() -> None:
    from deepgisas.sample import free_name_map, short_name

    assert short_name("detector.resolution.gaussian_sigma_deg.0") == "gaussian_sigma_deg.0"
    assert short_name("sample.layers.1.thickness_nm") == "thickness_nm"
    names = free_name_map(["detector.resolution.gaussian_sigma_deg.0",
                           "detector.resolution.gaussian_sigma_deg.1"])
    assert names["gaussian_sigma_deg.1"] == "detector.resolution.gaussian_sigma_deg.1"
