"""Templates: description files whose numbers may be priors. Draw concrete experiments."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from deepgisas.errors import UserError
from deepgisas.priors import LogUniform, Uniform
from deepgisas.sample import Experiment, RandomBins, parse_experiment


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


def alias_map(template: Experiment) -> dict[str, str]:
    """Short name -> full path, for free parameters whose last path component is unique."""
    paths = list(template.free_parameters)
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return {name: p for name, p in zip(last, paths, strict=True) if last.count(name) == 1}


def sample_experiments(template: Experiment, n: int, seed: int = 0) -> list[Experiment]:
    """Draw ``n`` concrete experiments from a template's priors, reproducibly from ``seed``.

    Each experiment is validated again (e.g. particles must still fit in their layer).
    """
    if n < 0:
        raise UserError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    free = template.free_parameters
    base = template.to_dict()
    draws: dict[str, Any] = {}
    for path, prior in free.items():
        if isinstance(prior, Uniform | LogUniform):
            draws[path] = prior.sample(rng, n)
        else:
            draws[path] = [draw_orientation(prior, rng) for _ in range(n)]
    out = []
    for i in range(n):
        tree = copy.deepcopy(base)
        for path, values in draws.items():
            v = values[i]
            set_path(tree, path, float(v) if isinstance(v, np.floating | float) else v)
        out.append(parse_experiment(tree, "sampled experiment"))
    return out
