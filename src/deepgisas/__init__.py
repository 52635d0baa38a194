"""deepgisas: GISAXS/GISANS detector images to sample structure, with a batched, differentiable
simulator that matches BornAgain 25."""

from deepgisas.api import bundled_names, load, sample_experiments, save, simulate, simulate_batch
from deepgisas.errors import UserError
from deepgisas.sample import Experiment

__all__ = [
    "Experiment",
    "UserError",
    "bundled_names",
    "load",
    "sample_experiments",
    "save",
    "simulate",
    "simulate_batch",
]
__version__ = "0.1.0"
