"""Physics refinement: fit a template's free parameters to a detector image through the
differentiable simulator (gradient) or, for orientation distributions, by non-negative least
squares over single-domain patterns."""

from deepgisas.fit.image import fit_image
from deepgisas.fit.orientation import fit_orientation
from deepgisas.fit.problem import FitConfig, FitResult, network_starts
from deepgisas.fit.tensors import FreeTensors, free_tensors, with_free

__all__ = ["FitConfig", "FitResult", "FreeTensors", "fit_image", "fit_orientation",
           "free_tensors", "network_starts", "with_free"]
