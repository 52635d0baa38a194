"""Templates: descriptions whose numbers may be priors, and the concrete experiments drawn
from them."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepgisas.constraints import Constraint, all_hold, fixed_numbers
from deepgisas.errors import UserError
from deepgisas.fill import overfilled
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
    description format; ``labels`` are the paths a network predicts (None: all);
    ``constraints`` restrict the priors (:mod:`deepgisas.constraints`). Concrete experiments
    come from :meth:`at` (given values, validated again but neither constrained nor checked
    for an overfilled slice: a network's or a fit's values may lie there) and :meth:`draw`
    (drawn from the priors where the constraints hold and the slice is not overfilled,
    :mod:`deepgisas.fill`).
    """

    base: Experiment
    priors: Mapping[str, Prior | RandomBins]
    labels: tuple[str, ...] | None = None
    constraints: tuple[Constraint, ...] = ()

    def to_dict(self) -> dict:
        """The description (CONTRACT.md section 1), priors, labels and constraints included."""
        tree = self.base.to_dict()
        for path, prior in self.priors.items():
            set_path(tree, path, prior.to_dict())
        if self.labels is not None:
            tree["labels"] = list(self.labels)
        if self.constraints:
            tree["constraints"] = [c.text for c in self.constraints]
        return tree

    def accepts(self, draws: Mapping[str, Any], n: int) -> np.ndarray:
        """Which of ``n`` drawn rows (path -> n values, as from :func:`draw_parameters`; a free
        parameter left out is at its prior's centre) the template keeps: every constraint
        holds and the particles do not overfill their slice (BornAgain 25 refuses those,
        :func:`deepgisas.fill.overfilled`); [n] bool."""
        return (all_hold(self.constraints, self.constraint_inputs(draws, n), n)
                & ~overfilled(self.base, draws, n))

    def constraint_inputs(self, draws: Mapping[str, Any], n: int) -> dict[str, np.ndarray]:
        """Path -> [n] values of every free parameter the constraints read, from ``draws``
        (a path left out: its prior's centre, n times)."""
        centre: dict[str, float] = {}
        read = {p for c in self.constraints for p in c.free}
        if read - set(draws):
            centre = fixed_numbers(self.base.to_dict())
        return {p: np.asarray(draws[p] if p in draws else [centre[p]] * n, dtype=np.float64)
                for p in read}

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
        if self.constraints:  # names as full paths: they read the same once fixed
            tree["constraints"] = [c.canonical() for c in self.constraints]
        for path, v in values.items():
            set_path(tree, path, float(v))
        if self.labels is not None:
            kept = [p for p in self.labels if p not in values]
            tree.pop("labels")
            if kept:
                tree["labels"] = kept
        return parse_template(tree, "template")

    def draw(self, n: int, seed: int = 0) -> list[Experiment]:
        """``n`` concrete experiments drawn from the priors where the constraints hold and the
        slice is not overfilled, reproducibly from ``seed``."""
        return sample_experiments(self, n, seed)


def parse_template(d: Any, where: str = "description") -> Template:
    """Validate a description dict whose numbers may be priors."""
    parsed = parse_description(d, where)
    tree = Template(parsed.base, parsed.priors).to_dict()  # the format's order of the paths
    return Template(parsed.base, find_priors(tree), parsed.labels, parsed.constraints)


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


MIN_CANDIDATES = 10_000  # candidates drawn before a tiny acceptance is an error
MIN_ACCEPTED = 1e-3  # the smallest accepted fraction of candidates drawing goes on with
MAX_BATCH = 1 << 20  # candidates per round at most


def _candidates(template: Template, n: int, rng: np.random.Generator) -> dict[str, list]:
    draws: dict[str, list] = {}
    for path, prior in template.priors.items():
        if isinstance(prior, Uniform | LogUniform):
            draws[path] = [float(v) for v in prior.sample(rng, n)]
        else:
            draws[path] = [draw_orientation(prior, rng) for _ in range(n)]
    return draws


def draw_parameters(template: Template, n: int, seed: int | np.random.SeedSequence = 0
                    ) -> dict[str, list]:
    """Draw ``n`` values of every free parameter: path -> list (floats, or orientation dicts
    ``{"xi_deg": [...], "weights": [...]}``), reproducibly from ``seed``.

    By rejection (:meth:`Template.accepts`): rounds of candidates, each path drawn for the
    whole round, the accepted ones kept in order until there are ``n``; the first round is
    the ``n`` draws of the priors alone, so a template that rejects nothing draws what it did
    without constraints. Fewer than ``MIN_ACCEPTED`` of at least ``MIN_CANDIDATES`` candidates
    accepted is a UserError."""
    if n < 0:
        raise UserError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    draws: dict[str, list] = {path: [] for path in template.priors}
    if not draws:
        return {}
    got = tried = 0
    batch = n
    while got < n:
        cand = _candidates(template, batch, rng)
        keep = np.flatnonzero(template.accepts(cand, batch))[:n - got]
        for path, values in cand.items():
            draws[path] += [values[i] for i in keep]
        got += len(keep)
        tried += batch
        if got == n:
            break
        if tried >= MIN_CANDIDATES and got < MIN_ACCEPTED * tried:
            why = "the constraints hold and the particles do not overfill their slice" \
                if template.constraints else "the particles do not overfill their slice"
            raise UserError(f"only {got} of {tried} draws from the priors are kept (where {why}"
                            "): widen the priors or loosen the constraints",
                            "constraints" if template.constraints else "sample.particles")
        rate = max(got / tried, MIN_ACCEPTED)
        batch = min(int(math.ceil((n - got) / rate * 1.2)) + 16, MAX_BATCH)
    return draws


def instantiate(template: Template, draws: Mapping[str, list]) -> list[Experiment]:
    """Concrete experiments from a template and drawn values (as from :func:`draw_parameters`;
    every free parameter drawn). Each experiment is validated again (e.g. a cone must still be
    lower than its apex);
    the constraints and the overfill rule are the drawing's (:func:`draw_parameters`), not
    checked here.
    """
    missing = [p for p in template.priors if p not in draws]
    if missing:
        raise UserError(f"no value for {', '.join(missing)}")
    if not template.priors:
        return [template.base]
    base = template.to_dict()
    base.pop("labels", None)
    base.pop("constraints", None)
    n = len(next(iter(draws.values()))) if draws else 1
    out = []
    for i in range(n):
        tree = copy.deepcopy(base)
        for path, values in draws.items():
            set_path(tree, path, values[i])
        out.append(parse_experiment(tree, "sampled experiment", fill=False))
    return out


def sample_experiments(template: Template, n: int, seed: int = 0) -> list[Experiment]:
    """Draw ``n`` concrete experiments from a template's priors, reproducibly from ``seed``."""
    draws = draw_parameters(template, n, seed)
    if not draws:
        return [template.base] * n
    return instantiate(template, draws) if n else []
