"""Priors on numbers in description files: ``{uniform: [lo, hi]}`` and ``{log_uniform: [lo, hi]}``.

A prior maps to and from the unit interval, which is the normalised space the networks predict
in (log for ``log_uniform``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepgisas.errors import UserError


@dataclass(frozen=True)
class Uniform:
    lo: float
    hi: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.lo, self.hi, size=n)

    def to_unit(self, x: Any) -> Any:
        return (x - self.lo) / (self.hi - self.lo)

    def from_unit(self, u: Any) -> Any:
        return self.lo + u * (self.hi - self.lo)

    def to_dict(self) -> dict:
        return {"uniform": [self.lo, self.hi]}


@dataclass(frozen=True)
class LogUniform:
    lo: float
    hi: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.exp(rng.uniform(math.log(self.lo), math.log(self.hi), size=n))

    def to_unit(self, x: Any) -> Any:
        return (np.log(x) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))

    def from_unit(self, u: Any) -> Any:
        return np.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))

    def to_dict(self) -> dict:
        return {"log_uniform": [self.lo, self.hi]}


Prior = Uniform | LogUniform
Number = float | Uniform | LogUniform


def finite_float(value: Any, where: str, what: str = "") -> float:
    """``value`` as a finite float, or a UserError at ``where`` (naming ``what``, if given)."""
    head = f"{what}: " if what else ""
    if isinstance(value, bool):
        raise UserError(f"{head}expected a number, got {value!r}", where)
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{head}expected a number, got {value!r}", where) from None
    if not math.isfinite(out):
        raise UserError(f"{head}expected a finite number, got {value!r}", where)
    return out



def parse_number(value: Any, where: str, allow_prior: bool = True) -> Number:
    """A plain number, or a prior mapping; every problem is a UserError naming ``where``."""
    if isinstance(value, Mapping):
        if not allow_prior:
            raise UserError("a prior is not allowed here", where)
        if len(value) != 1 or next(iter(value)) not in ("uniform", "log_uniform"):
            raise UserError(f"expected a number or {{uniform: [lo, hi]}} / "
                            f"{{log_uniform: [lo, hi]}}, got {dict(value)!r}", where)
        kind, bounds = next(iter(value.items()))
        if not isinstance(bounds, Sequence) or isinstance(bounds, str) or len(bounds) != 2:
            raise UserError(f"{kind} needs [lo, hi]", where)
        lo, hi = finite_float(bounds[0], where), finite_float(bounds[1], where)
        if not lo < hi:
            raise UserError(f"{kind} needs lo < hi, got [{lo:g}, {hi:g}]", where)
        if kind == "log_uniform":
            if lo <= 0:
                raise UserError("log_uniform needs 0 < lo", where)
            return LogUniform(lo, hi)
        return Uniform(lo, hi)
    return finite_float(value, where)
