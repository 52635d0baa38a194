"""Inputs of the per-image analyses: detector files (with an instrument), or patterns
simulated from the model's template with chosen labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepgisas.analysis.common import Model, distribution_dict, parse_distribution, simulate_set
from deepgisas.errors import UserError
from deepgisas.units import DEG


def file_images(model: Model, paths: list[str], instrument: str | None = None,
                alpha_i_deg: float | None = None, orientation: str | None = None,
                keep_negative: bool = False) -> tuple[np.ndarray, dict[str, float]]:
    """Files on the model's detector grid [n, H, W] (NaN = masked), and the beam of that grid
    (path -> value: the instrument's wavelength and incidence angle matched to the model's,
    :mod:`deepgisas.io.instrument`; empty without ``instrument``), to simulate them with.
    ``instrument``, ``alpha_i_deg`` and ``orientation`` as
    :func:`deepgisas.io.description.read_instrument` takes them. Extrapolation is warned about."""
    from deepgisas.io.description import read_instrument
    from deepgisas.io.images import ModelImages
    from deepgisas.predict import check_extrapolation

    inst = (read_instrument(instrument, alpha_i_deg, orientation) if instrument is not None
            else None)
    reader = ModelImages(model.template, inst, str(instrument), keep_negative, orientation)
    check_extrapolation(reader.extrapolation, str(instrument))
    beam = {}
    if reader.match is not None:
        beam = {"beam.wavelength_nm": reader.match.target_wavelength_nm,
                "beam.alpha_i_deg": reader.match.target_alpha_i / DEG}
    return np.stack([reader(p) for p in paths]), beam


def simulated_images(model: Model, spec: str | None, count: int, seed: int,
                     augment: bool) -> tuple[np.ndarray, object, list[str]]:
    """``count`` patterns with the labels in ``spec`` (an orientation ``uniform`` /
    ``XI:W,...``, or ``NAME=VALUE,...`` for parameters; None: drawn from the prior), nuisance
    from the prior. Returns (clean intensities, network inputs, names)."""
    fixed: dict[str, object] = {}
    if spec is not None:
        if model.kind == "distribution":
            assert model.labels.orientation is not None
            dist = parse_distribution(spec, model.labels.bins)
            fixed[model.labels.orientation] = distribution_dict(dist, model.labels.xi_deg())
        else:
            paths = {model.labels.short[p]: p for p in model.labels.numeric}
            try:
                for part in spec.split(","):
                    k, v = part.split("=")
                    fixed[paths.get(k.strip(), k.strip())] = float(v)
            except ValueError:
                raise UserError(f"expected NAME=VALUE,... got {spec!r}") from None
            unknown = set(fixed) - set(model.labels.numeric)
            if unknown:
                raise UserError(f"not a label of the model: {', '.join(sorted(unknown))} "
                                f"(labels: {', '.join(paths)})")
    s = simulate_set(model, count, 5000 + seed, fixed=fixed, augment=augment)
    label = spec or "prior draw"
    return s.intensity, s.x, [f"simulated {label} #{i}" for i in range(count)]


def check_files(paths: list[str]) -> None:
    for p in paths:
        if not Path(p).exists():
            raise UserError("no such file", p)
