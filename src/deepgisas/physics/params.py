"""Parameter tables: the one declaration of every physical parameter of a kernel.

Each form factor and structure factor declares a tuple of :class:`ParamSpec`. Validation of
description files, the priors' allowed ranges, the names of network outputs and the docs are all
derived from these tables (sasmodels style).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a kernel.

    ``bounds`` are the physically admissible values; ``lo_open``/``hi_open`` say whether the
    bound itself is excluded.
    """

    name: str
    unit: str
    default: float
    bounds: tuple[float, float]
    description: str
    lo_open: bool = True
    hi_open: bool = True

    def admits(self, value: float) -> bool:
        """Whether ``value`` is finite and within the bounds."""
        lo, hi = self.bounds
        if not math.isfinite(value):
            return False
        above = value > lo if self.lo_open else value >= lo
        below = value < hi if self.hi_open else value <= hi
        return above and below

    def describe_bounds(self) -> str:
        lo, hi = self.bounds
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{left}{lo:g}, {hi:g}{right}"


INF = math.inf


def table_markdown(specs: tuple[ParamSpec, ...]) -> str:
    """A Markdown table of parameters, for the docs."""
    rows = ["| name | unit | default | bounds | description |", "|---|---|---|---|---|"]
    for p in specs:
        rows.append(
            f"| `{p.name}` | {p.unit} | {p.default:g} | {p.describe_bounds()} | {p.description} |"
        )
    return "\n".join(rows)
