"""The instrument's resolution reaches the fit: `fit` with an instrument file that carries a
detector resolution and a beam divergence simulates with both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from deepgisas import simulate
from deepgisas.fit import FitConfig
from deepgisas.fit.files import fit_file
from deepgisas.fit.tensors import free_tensors
from deepgisas.io.instrument import instrument_resolution
from deepgisas.parse import parse_instrument
from deepgisas.templates import parse_template
from tests.cases import _with, base

QUICK = FitConfig(n_starts=2, n_polish=1, n_fill=2, max_iter=3)
RADIUS = "sample.particles.shape.sphere.radius_nm"


def _setup(tmp_path: Path) -> tuple[dict, Path]:
    d = base(n=16)
    inst = {"beam": {**d["beam"], "divergence": {
        "alpha_i_deg": {"gaussian_std_deg": 0.02, "samples": 3}}},
        "detector": {**d["detector"], "resolution": {"gaussian_sigma_deg": [0.3, 0.2]}}}
    path = tmp_path / "instrument.json"
    path.write_text(json.dumps(inst))
    return inst, path


def test_fit_file_simulates_with_the_instruments_resolution(tmp_path: Path) -> None:
    inst, inst_path = _setup(tmp_path)
    template = parse_template(_with(base(n=16), RADIUS, {"uniform": [4.0, 6.0]}))
    truth = parse_template({**template.to_dict(), **inst}).at({RADIUS: 5.0})
    image = tmp_path / "image.npy"
    np.save(image, simulate(truth, mixed=False))
    result, _, _ = fit_file(template, image, instrument=inst_path, config=QUICK)
    assert result.extra["instrument_resolution"]["resolution"] == {
        "gaussian_sigma_deg": [0.3, 0.2]}
    r = result.parameters["radius_nm"]
    resolved = simulate(parse_template({**template.to_dict(), **inst}).at({RADIUS: r}), mixed=False)
    sharp = simulate(template.at({RADIUS: r}), mixed=False)
    keep = np.isfinite(result.fitted)
    fitted = result.fitted[keep]

    def off(model: np.ndarray) -> float:
        m = result.scale * model[keep] + result.background
        return float(np.linalg.norm(fitted - m) / np.linalg.norm(fitted))

    assert off(resolved) < 1e-9 < 1e-2 < off(sharp)


def test_the_compiled_template_carries_the_resolution(tmp_path: Path) -> None:
    """FreeTensors (what the fit calls) of a template given the instrument's resolution."""
    inst, _ = _setup(tmp_path)
    template = parse_template(_with(base(n=16), RADIUS, {"uniform": [4.0, 6.0]}))
    with_res, record = instrument_resolution(template, *parse_instrument(inst))
    assert set(record) == {"divergence", "resolution"}
    free = free_tensors(with_res)
    assert free.structure.resolution and free.structure.n_beam == 3
    image = free(torch.full((1, 1), 0.5, dtype=torch.float64))[0].numpy()
    assert np.allclose(image, simulate(with_res.at({RADIUS: 5.0}), mixed=False), rtol=1e-12)
    assert instrument_resolution(template, *parse_instrument(base()))[0] is template


def test_resolution_and_divergence_widths_can_be_fitted() -> None:
    """Priors on the widths make them free parameters of the batched simulator, with
    gradients."""
    d = _with(base(n=12), "detector.resolution", {"gaussian_sigma_deg": [
        {"uniform": [0.1, 0.3]}, 0.2]})
    d = _with(d, "beam.divergence", {"wavelength": {"relative_std": {"uniform": [0.01, 0.05]},
                                                    "samples": 3}})
    free = free_tensors(parse_template(d))
    assert [q.path for q in free.params] == ["beam.divergence.wavelength.relative_std",
                                             "detector.resolution.gaussian_sigma_deg.0"]
    theta = torch.full((1, 2), 0.5, dtype=torch.float64, requires_grad=True)
    free(theta).sum().backward()
    assert theta.grad is not None and bool((theta.grad.abs() > 0).all())
