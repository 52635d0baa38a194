"""Labels from a template: what a network predicts, in a normalised space, and back.

A template's free parameters split into

- the **orientation** label: a ``random_bins`` prior becomes a ``bins``-bin histogram of xi
  (bin k holds the weight at xi = k * 60 / bins deg), a distribution summing to 1;
- **numeric** labels: numbers with a prior, mapped into the unit box by their prior (linear for
  ``uniform``, logarithmic for ``log_uniform``) and mapped back for output;
- **nuisance** parameters: free parameters that vary and are recorded but are not predicted.

By default beam and detector priors (wavelength, alpha_i, ...) are nuisance and every sample
prior is a label; a template's top-level ``labels: [name, ...]`` overrides that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deepgisas.priors import Prior
from deepgisas.sample import RandomBins, free_name_map
from deepgisas.templates import Template

NUISANCE_PREFIXES = ("beam.", "detector.")


@dataclass(frozen=True)
class LabelSpace:
    """The label layout of one template (build it with :meth:`of`)."""

    orientation: str | None  # path of the orientation label, if any
    bins: int  # number of xi bins (0 without an orientation label)
    numeric: tuple[str, ...]  # paths of the numeric labels, in output order
    priors: tuple[Prior, ...]  # their priors
    nuisance: tuple[str, ...]  # free parameters that are recorded only
    short: dict[str, str]  # path -> short name (the last path part when unique)

    @classmethod
    def of(cls, template: Template) -> LabelSpace:
        free = template.priors
        if template.labels is not None:
            chosen = list(template.labels)
        else:
            chosen = [p for p in free if not p.startswith(NUISANCE_PREFIXES)]
        orient = [p for p in chosen if isinstance(free[p], RandomBins)]
        numeric = tuple(p for p in chosen if not isinstance(free[p], RandomBins))
        aliases = {path: name for name, path in free_name_map(list(free)).items() if name != path}
        short = {p: aliases.get(p, p) for p in free}
        bins = free[orient[0]].bins if orient else 0  # type: ignore[union-attr]
        return cls(orient[0] if orient else None, bins, numeric,
                   tuple(free[p] for p in numeric),  # type: ignore[misc]
                   tuple(p for p in free if p not in chosen), short)

    @property
    def names(self) -> list[str]:
        """Short names of the numeric labels, in output order."""
        return [self.short[p] for p in self.numeric]

    def encode(self, draws: dict[str, list]) -> dict[str, np.ndarray]:
        """Labels of drawn values (from ``templates.draw_parameters``).

        Returns ``{"dist": float32 [n, bins]}`` for an orientation label and
        ``{"theta": float32 [n, P]}`` (unit box) for numeric labels, as the template has them.
        """
        out: dict[str, np.ndarray] = {}
        if self.orientation is not None:
            out["dist"] = xi_histogram(draws[self.orientation], self.bins)
        if self.numeric:
            cols = [np.asarray(prior.to_unit(np.asarray(draws[p], dtype=np.float64)))
                    for p, prior in zip(self.numeric, self.priors, strict=True)]
            out["theta"] = np.stack(cols, axis=1).astype(np.float32)
        return out

    def decode(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Unit-box values [n, P] back to physical values: short name -> [n]."""
        theta = np.asarray(theta, dtype=np.float64)
        return {self.short[p]: np.asarray(prior.from_unit(theta[:, i]))
                for i, (p, prior) in enumerate(zip(self.numeric, self.priors, strict=True))}

    def xi_deg(self) -> np.ndarray:
        """Bin positions of the orientation label, deg [bins]."""
        return np.arange(self.bins) * (60.0 / self.bins) if self.bins else np.zeros(0)


def xi_histogram(orientations: Sequence[dict], bins: int) -> np.ndarray:
    """float32 [n, bins]: each ``{"xi_deg": [...], "weights": [...]}`` as weights per xi bin.

    xi is taken modulo 60 deg (patterns repeat every 60 deg) and rounded to the nearest bin.
    """
    out = np.zeros((len(orientations), bins), dtype=np.float64)
    step = 60.0 / bins
    for i, o in enumerate(orientations):
        k = np.rint(np.mod(np.asarray(o["xi_deg"], dtype=np.float64), 60.0) / step).astype(int)
        np.add.at(out[i], k % bins, np.asarray(o["weights"], dtype=np.float64))
    return out.astype(np.float32)


def record(draws: dict[str, list], max_domains: int = 5) -> dict[str, np.ndarray]:
    """Every drawn value as arrays, named by path: numbers -> float64 [n]; orientations ->
    ``PATH.xi_deg`` and ``PATH.weights``, float64 [n, max_domains], NaN-padded."""
    out: dict[str, np.ndarray] = {}
    for path, values in draws.items():
        if values and isinstance(values[0], dict):
            m = max([max_domains] + [len(v["xi_deg"]) for v in values])
            xi = np.full((len(values), m), np.nan)
            w = np.full((len(values), m), np.nan)
            for i, v in enumerate(values):
                xi[i, :len(v["xi_deg"])] = v["xi_deg"]
                w[i, :len(v["weights"])] = v["weights"]
            out[f"{path}.xi_deg"], out[f"{path}.weights"] = xi, w
        else:
            out[path] = np.asarray(values, dtype=np.float64)
    return out
