"""Templates: description files whose numbers may be priors. Draw concrete experiments."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from deepgisas.errors import UserError
from deepgisas.parse import parse_experiment
from deepgisas.priors import LogUniform, Uniform
from deepgisas.sample import Experiment, RandomBins


def set_path(tree: dict, path: str, value: Any) -> None:
    """Set ``value`` at a dotted path (list indices as integers) in a nested dict, in place."""
    parts = path.split(".")
    node: Any = tree
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def draw_orientation(prior: RandomBins, rng: np.random.Generator) -> dict:
    """Draw 1 to 5 (``prior.nonzero``) distinct xi bins with uniform-random weights summing to 1.

    Bins are xi = 0, 60/bins, ..., deg (0, 0.5, ..., 59.5 for 120 bins).
    """
    k = int(rng.integers(prior.nonzero[0], prior.nonzero[1] + 1))
    bins = np.sort(rng.choice(prior.bins, size=k, replace=False))
    w = rng.uniform(0.0, 1.0, size=k) + 1e-6
    w = w / w.sum()
    step = 60.0 / prior.bins
    return {"xi_deg": [float(b * step) for b in bins], "weights": [float(x) for x in w]}


def orientation_weight_logpdf(w: np.ndarray) -> float:
    """The log density of the K = len(w) weights :func:`draw_orientation` draws, on the
    simplex (with respect to the Lebesgue measure of K - 1 of them): w = u / sum(u), u_i
    i.i.d. uniform on (0, 1), has density max(w)^-K / K.

    (Integrate over t = sum(u): u = t w is uniform in the unit cube for t <= 1 / max(w), with
    Jacobian t^(K-1).) It favours even weights: at K = 5, 625 at w = 1/5 against 24 for the
    uniform (Dirichlet(1)) density, and 0.2 where one weight takes almost all.
    """
    w = np.asarray(w, dtype=np.float64)
    k = len(w)
    return -k * math.log(float(w.max())) - math.log(k)


def draw_parameters(template: Experiment, n: int, seed: int | np.random.SeedSequence = 0
                    ) -> dict[str, list]:
    """Draw ``n`` values of every free parameter: path -> list (floats, or orientation dicts
    ``{"xi_deg": [...], "weights": [...]}``), reproducibly from ``seed``."""
    if n < 0:
        raise UserError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    draws: dict[str, list] = {}
    for path, prior in template.free_parameters.items():
        if isinstance(prior, Uniform | LogUniform):
            draws[path] = [float(v) for v in prior.sample(rng, n)]
        else:
            draws[path] = [draw_orientation(prior, rng) for _ in range(n)]
    return draws


def instantiate(template: Experiment, draws: dict[str, list]) -> list[Experiment]:
    """Concrete experiments from a template and drawn values (as from :func:`draw_parameters`).

    Each experiment is validated again (e.g. particles must still fit in their layer).
    """
    base = template.to_dict()
    base.pop("labels", None)
    n = len(next(iter(draws.values()))) if draws else 1
    out = []
    for i in range(n):
        tree = copy.deepcopy(base)
        for path, values in draws.items():
            set_path(tree, path, values[i])
        out.append(parse_experiment(tree, "sampled experiment"))
    return out


def sample_experiments(template: Experiment, n: int, seed: int = 0) -> list[Experiment]:
    """Draw ``n`` concrete experiments from a template's priors, reproducibly from ``seed``."""
    draws = draw_parameters(template, n, seed)
    if not draws:
        return [instantiate(template, {})[0] for _ in range(n)]
    return instantiate(template, draws) if n else []
