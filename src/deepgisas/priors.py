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


def bound_flag(prior: Prior, value: float, within: float = 0.0) -> dict[str, Any] | None:
    """``{"bound": "lower" | "upper", "prior": [lo, hi], "value", "outside"}`` when ``value``
    lies within ``within`` of a bound of ``prior`` (a fraction of its width in the unit box,
    logarithmic for ``log_uniform``) or beyond it; else None."""
    u = float(prior.to_unit(value))
    if within <= u <= 1.0 - within:
        return None
    return {"bound": "lower" if u < 0.5 else "upper", "prior": [prior.lo, prior.hi],
            "value": float(value), "outside": not 0.0 <= u <= 1.0}


def describe_bound(name: str, flag: dict[str, Any]) -> str:
    """One line for a :func:`bound_flag`: e.g. "sigma 0.4 is at its prior's upper bound
    (prior [0.05, 0.4]): a limit, not a measurement"."""
    lo, hi = flag["prior"]
    where = "beyond" if flag["outside"] else "at"
    return (f"{name} {flag['value']:.4g} is {where} its prior's {flag['bound']} bound (prior "
            f"[{lo:g}, {hi:g}]): a limit, not a measurement")


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
