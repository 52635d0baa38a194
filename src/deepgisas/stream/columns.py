"""The columns of a stream's results CSV, filled from the results ``predict`` returns.

Every frame's numbers come from :class:`deepgisas.predict.Predictor`, the code behind
``deepgisas predict``, so the CSV and ``predict``'s JSON cannot drift apart:

- ``frame`` (file name), ``index`` (0, 1, ... in the order frames were processed) and
  ``mtime`` (the file's modification time, unix seconds);
- a parameter model: each parameter ``NAME`` and its standard deviation ``std:NAME`` (names as
  in ``predict``'s output, e.g. ``radius_nm``);
- an orientation model: ``xi_mode_deg`` and ``p_mode`` (the most probable of the 120 xi bins
  and its probability), and the folded distribution p(xi) + p(60 - xi) on 0..30 deg, which is
  what weak signals determine: ``folded_mode_deg``, ``folded_mean_deg``, ``folded_std_deg``;
  with ``bins``, also the 120 probabilities ``p:XI``;
- with a fit template, ``fit:NAME`` and ``fit:std:NAME`` for each of its free parameters and
  ``fit:misfit``, filled every k-th frame (empty otherwise); a fitted parameter at its
  prior's bound has an empty std;
- ``flags``: what makes a frame's numbers less than measurements, ``;``-separated:
  ``NAME>prior`` / ``NAME<prior`` (the network beyond a prior), ``fit:NAME@upper`` /
  ``fit:NAME@lower`` (a fitted value at a prior's bound), ``disagree:NAME(+4.1)`` (network
  and fit more than 3 combined std apart); empty when there is nothing to say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deepgisas.models.losses import fold

BASE = ("frame", "index", "mtime")
ORIENTATION = ("xi_mode_deg", "p_mode", "folded_mode_deg", "folded_mean_deg",
               "folded_std_deg")
ERRORS = ("frame", "mtime", "error")


def orientation_summary(xi_deg: Sequence[float], probability: Sequence[float]
                        ) -> dict[str, float]:
    """The summary numbers of one predicted distribution over xi bins (degrees)."""
    xi = np.asarray(xi_deg, dtype=np.float64)
    p = np.asarray(probability, dtype=np.float64)
    k = int(np.argmax(p))
    folded = fold(torch.from_numpy(p[None]))[0].numpy()
    fxi = xi[: len(folded)]
    mean = float(np.sum(folded * fxi) / np.sum(folded))
    std = float(np.sqrt(np.sum(folded * (fxi - mean) ** 2) / np.sum(folded)))
    return {"xi_mode_deg": float(xi[k]), "p_mode": float(p[k]),
            "folded_mode_deg": float(fxi[int(np.argmax(folded))]), "folded_mean_deg": mean,
            "folded_std_deg": std}


@dataclass(frozen=True)
class Columns:
    """The CSV layout: ``parameters`` (a parameter model's names, else empty), ``xi_deg``
    (an orientation model's bins, else empty), ``bins`` (write the 120 probabilities) and
    ``fit`` (the fit template's parameter names, empty without a fit)."""

    parameters: tuple[str, ...] = ()
    xi_deg: tuple[float, ...] = ()
    bins: bool = False
    fit: tuple[str, ...] = ()

    @property
    def orientation(self) -> bool:
        return bool(self.xi_deg)

    @property
    def names(self) -> list[str]:
        out = list(BASE)
        if self.orientation:
            out += ORIENTATION
            if self.bins:
                out += [f"p:{x:g}" for x in self.xi_deg]
        else:
            for name in self.parameters:
                out += [name, f"std:{name}"]
        for name in self.fit:
            out += [f"fit:{name}", f"fit:std:{name}"]
        if self.fit:
            out.append("fit:misfit")
        out.append("flags")
        return out

    @property
    def plotted(self) -> list[tuple[str, str | None]]:
        """(value column, std column or None) for each panel of the live plot."""
        if self.orientation:
            return [("folded_mean_deg", "folded_std_deg"), ("xi_mode_deg", None)]
        return [(name, f"std:{name}") for name in self.parameters]

    def row(self, name: str, index: int, mtime: float, result: Mapping[str, Any],
            fitted: Mapping[str, Any] | None = None) -> list[Any]:
        """One CSV row from ``predict``'s result for a frame (and a fit's result, if any)."""
        out: list[Any] = [name, index, mtime]
        if self.orientation:
            s = orientation_summary(result["xi_deg"], result["probability"])
            out += [s[k] for k in ORIENTATION]
            if self.bins:
                out += [float(v) for v in result["probability"]]
        else:
            for k in self.parameters:
                out += [float(result["parameters"][k]), float(result["std"][k])]
        if self.fit:
            par = (fitted or {}).get("parameters", {})
            std = (fitted or {}).get("std", {})
            for k in self.fit:
                out += [_number(par.get(k)), _number(std.get(k))]
            out.append(_number((fitted or {}).get("misfit")))
        out.append(flags(result, fitted))
        return out


def flags(result: Mapping[str, Any], fitted: Mapping[str, Any] | None = None) -> str:
    """The ``flags`` cell of a frame (see the module docstring)."""
    out = [f"{k}{'>' if f['bound'] == 'upper' else '<'}prior"
           for k, f in result.get("outside_prior", {}).items()]
    fitted = fitted or {}
    out += [f"fit:{k}@{f['bound']}" for k, f in fitted.get("at_bound", {}).items()]
    z = fitted.get("disagreement", {})
    out += [f"disagree:{k}({z[k]:+.1f})" for k in fitted.get("disagree", [])]
    return ";".join(out)


def _number(v: Any) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None
