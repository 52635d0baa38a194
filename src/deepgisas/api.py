"""The small public API: load, load_template, save, simulate, simulate_batch,
sample_experiments, the names of the bundled description and instrument files, and the
Template and Experiment types (defined in :mod:`deepgisas.io.description`,
:mod:`deepgisas.io.bundled`, :mod:`deepgisas.simulation` and :mod:`deepgisas.templates`;
the package's own modules import them from there)."""

from __future__ import annotations

from deepgisas.io.bundled import bundled_instruments
from deepgisas.io.description import bundled_names, load, load_template, save
from deepgisas.simulation import detector_mask, simulate, simulate_batch
from deepgisas.templates import Template, sample_experiments

__all__ = ["Template", "bundled_instruments", "bundled_names", "detector_mask", "load",
           "load_template", "save", "simulate", "simulate_batch", "sample_experiments"]
