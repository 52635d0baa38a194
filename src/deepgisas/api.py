"""The small public API: load, save, simulate, simulate_batch, sample_experiments (defined
in :mod:`deepgisas.io.description`, :mod:`deepgisas.simulation` and
:mod:`deepgisas.templates`; the package's own modules import them from there)."""

from __future__ import annotations

from deepgisas.io.description import bundled_names, load, save
from deepgisas.simulation import detector_mask, simulate, simulate_batch
from deepgisas.templates import sample_experiments

__all__ = ["bundled_names", "detector_mask", "load", "save", "simulate", "simulate_batch",
           "sample_experiments"]
