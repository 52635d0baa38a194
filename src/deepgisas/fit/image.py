"""One entry for every fit: :func:`fit_image` sends an orientation template to
:func:`deepgisas.fit.orientation.fit_orientation` and any other to
:func:`deepgisas.fit.gradient.fit_parameters`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from deepgisas.errors import UserError
from deepgisas.fit.gradient import fit_parameters
from deepgisas.fit.orientation import fit_orientation
from deepgisas.fit.problem import FitConfig, FitResult, Start, choose_objective, is_counts, masked
from deepgisas.sample import RandomBins
from deepgisas.templates import Template


def fit_image(template: Template, image: np.ndarray, mask: np.ndarray | None = None,
              start: Start | Sequence[Start] | None = None, fixed: Mapping[str, float] | None
              = None, config: FitConfig | None = None) -> FitResult:
    """Fit ``template``'s free parameters to ``image``.

    image: float [rows, cols] on the template's detector grid (rows = alpha_f from low to high),
    NaN or ``mask`` False = not measured; the template's ROI and masks apply too.
    start: physical values by short name or path (one dict, e.g. a network's ``parameters``,
    or a list of dicts), or a parameter model's whole result ``{"parameters", "std"}`` (then
    its mean, modes and draws, see :func:`deepgisas.fit.problem.network_starts`); None = the
    prior centre and prior draws. fixed: path or short name -> value, free parameters to hold.
    Orientation templates (a ``random_bins`` prior) are fitted by
    :func:`deepgisas.fit.orientation.fit_orientation`, the others by
    :func:`deepgisas.fit.gradient.fit_parameters`.
    """
    if not any(isinstance(p, RandomBins) for p in template.priors.values()):
        return fit_parameters(template, image, mask, start, fixed, config)
    if config is not None and config.objective == "gaussian":
        raise UserError("orientation fits take the poisson or the log objective", "objective",
                        setting="objective")
    counts = is_counts(masked(template, image, mask))
    if config is not None and config.objective == "poisson" and not counts:
        choose_objective(image, "poisson")  # the error that says why
    result = fit_orientation(template, image, mask=mask, start=start, fixed=fixed,
                             config=config)
    poisson = "posterior" in result.extra
    result.extra.update(
        objective="poisson" if poisson else "log",
        objective_reason=("counts: the nuisance by the log misfit, the distribution as "
                          "the posterior of the Poisson likelihood" if poisson else
                          "the log misfit and the bootstrap (not counts, or asked for)"))
    return result
