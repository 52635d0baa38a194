"""BornAgain's GALAXI example end to end (issue 18): the galaxi template fitted to BornAgain
25's image at the published values with Poisson counts (noise seed 0) recovers them within 2
reported std. benchmarks/galaxi.py runs more noise seeds (8: 23 of 24 parameters within 2 std,
as ~95 % coverage expects) and the measured file."""

from __future__ import annotations

import numpy as np
import pytest

import deepgisas as dg
from deepgisas.fit import fit_image

pytest.importorskip("bornagain")

TRUTH = {"sample.particles.shape.sphere.radius_nm": 5.75,
         "sample.particles.size_distribution.lognormal.sigma": 0.4,
         "sample.interference.radial_paracrystal.distance_nm": 53.6}


@pytest.mark.slow
def test_galaxi_fit_recovers_the_published_values() -> None:
    from deepgisas.reference import bornagain_simulate

    template = dg.load("galaxi")
    clean = bornagain_simulate(template.at(TRUTH), threads=2)
    counts = np.random.default_rng(0).poisson(np.nan_to_num(clean)).astype(np.float64)
    counts[~np.isfinite(clean)] = np.nan
    r = fit_image(template, counts)
    for path, truth in TRUTH.items():
        name = path.rsplit(".", 1)[-1]
        assert abs(r.parameters[name] - truth) <= 2 * r.std[name], (name, r.parameters, r.std)
