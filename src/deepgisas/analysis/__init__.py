"""The talk's checks of a trained network, one module each: learning curves, validation,
accuracy against exposure, the ideal observer's bound, re-simulation, PLS, prior bias, the
uniform test, attention maps, conv0 filters, transfer learning, and an HTML report of them
all."""

from deepgisas.analysis import catalog  # registers the analyses
from deepgisas.analysis.bias import bias
from deepgisas.analysis.bound import bound
from deepgisas.analysis.common import Model, Result
from deepgisas.analysis.curves import curves, read_curve
from deepgisas.analysis.exposure import exposure
from deepgisas.analysis.filters import filters
from deepgisas.analysis.pls import fit_pls, pls
from deepgisas.analysis.registry import ANALYSES, register_analysis
from deepgisas.analysis.report import report
from deepgisas.analysis.resimulate import log_misfit, resimulate
from deepgisas.analysis.saliency import grad_cam, gradient, integrated_gradients, saliency
from deepgisas.analysis.transfer import transfer
from deepgisas.analysis.uniform_test import compare_uniform, uniform_test
from deepgisas.analysis.validate import validate

__all__ = ["ANALYSES", "Model", "Result", "bias", "bound", "catalog", "compare_uniform", "curves",
           "exposure", "filters", "fit_pls", "grad_cam", "gradient", "integrated_gradients",
           "log_misfit", "pls", "read_curve", "register_analysis", "report", "resimulate",
           "saliency", "transfer", "uniform_test", "validate"]
