"""deepgisas: GISAXS/GISANS detector images to sample structure, with a batched, differentiable
simulator that matches BornAgain 25."""

from deepgisas.api import (
    Template,
    bundled_instruments,
    bundled_names,
    load,
    load_template,
    sample_experiments,
    save,
    simulate,
    simulate_batch,
)
from deepgisas.errors import UserError
from deepgisas.sample import Experiment

__all__ = [
    "Experiment",
    "Template",
    "UserError",
    "bundled_instruments",
    "bundled_names",
    "load",
    "load_template",
    "sample_experiments",
    "save",
    "simulate",
    "simulate_batch",
]
__version__ = "0.1.0"
