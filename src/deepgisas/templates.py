"""Templates: descriptions whose numbers may be priors, and the concrete experiments drawn
from them."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepgisas.errors import UserError
from deepgisas.parse import find_priors, parse_description, parse_experiment
from deepgisas.priors import LogUniform, Prior, Uniform
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


@dataclass(frozen=True)
class Template:
    """A description whose numbers may be priors.

    ``base`` is the concrete experiment with every prior at its centre (a ``random_bins``
    orientation as one domain at xi = 0): the fixed numbers (detector, materials, ...) are
    read from it. ``priors`` maps each free parameter's path to its prior, in the order of the
    description format; ``labels`` are the paths a network predicts (None: all). Concrete
    experiments come from :meth:`at` (given values) and :meth:`draw` (drawn from the priors),
    each validated again.
    """

    base: Experiment
    priors: Mapping[str, Prior | RandomBins]
    labels: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        """The description (CONTRACT.md section 1), priors and labels included."""
        tree = self.base.to_dict()
        for path, prior in self.priors.items():
            set_path(tree, path, prior.to_dict())
        if self.labels is not None:
            tree["labels"] = list(self.labels)
        return tree

    def at(self, values: Mapping[str, Any]) -> Experiment:
        """The concrete experiment with every free parameter set (``values``: path -> value;
        an orientation as ``{"xi_deg": [...], "weights": [...]}``)."""
        missing = [p for p in self.priors if p not in values]
        if missing:
            raise UserError(f"no value for {', '.join(missing)}")
        return instantiate(self, {p: [v] for p, v in values.items()})[0]

    def fix(self, values: Mapping[str, float]) -> Template:
        """This template with numbers at the given paths (free parameters or fixed ones), which
        leave the free parameters and the labels; validated again."""
        tree = self.to_dict()
        for path, v in values.items():
            set_path(tree, path, float(v))
        if self.labels is not None:
            kept = [p for p in self.labels if p not in values]
            tree.pop("labels")
            if kept:
                tree["labels"] = kept
        return parse_template(tree, "template")

    def draw(self, n: int, seed: int = 0) -> list[Experiment]:
        """``n`` concrete experiments drawn from the priors, reproducibly from ``seed``."""
        return sample_experiments(self, n, seed)


def parse_template(d: Any, where: str = "description") -> Template:
    """Validate a description dict whose numbers may be priors."""
    parsed = parse_description(d, where)
    tree = Template(parsed.base, parsed.priors).to_dict()  # the format's order of the paths
    return Template(parsed.base, find_priors(tree), parsed.labels)


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


def draw_parameters(template: Template, n: int, seed: int | np.random.SeedSequence = 0
                    ) -> dict[str, list]:
    """Draw ``n`` values of every free parameter: path -> list (floats, or orientation dicts
    ``{"xi_deg": [...], "weights": [...]}``), reproducibly from ``seed``."""
    if n < 0:
        raise UserError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    draws: dict[str, list] = {}
    for path, prior in template.priors.items():
        if isinstance(prior, Uniform | LogUniform):
            draws[path] = [float(v) for v in prior.sample(rng, n)]
        else:
            draws[path] = [draw_orientation(prior, rng) for _ in range(n)]
    return draws


def instantiate(template: Template, draws: Mapping[str, list]) -> list[Experiment]:
    """Concrete experiments from a template and drawn values (as from :func:`draw_parameters`;
    every free parameter drawn). Each experiment is validated again (e.g. a cone must still be
    lower than its apex).
    """
    missing = [p for p in template.priors if p not in draws]
    if missing:
        raise UserError(f"no value for {', '.join(missing)}")
    if not template.priors:
        return [template.base]
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


def sample_experiments(template: Template, n: int, seed: int = 0) -> list[Experiment]:
    """Draw ``n`` concrete experiments from a template's priors, reproducibly from ``seed``."""
    draws = draw_parameters(template, n, seed)
    if not draws:
        return [template.base] * n
    return instantiate(template, draws) if n else []
