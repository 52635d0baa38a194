"""Checks of description dicts: each returns the validated value or raises a one-line
UserError that names where in the description the problem is."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from deepgisas.errors import UserError, unknown_key
from deepgisas.physics.params import ParamSpec
from deepgisas.priors import LogUniform, Uniform, parse_number


def keys(d: Any, where: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict:
    """``d`` as a dict, checked: a mapping whose keys are all ``allowed`` and include every
    ``required`` one (a UserError at ``where`` otherwise; an unknown key names the allowed
    key it is closest to, :func:`deepgisas.errors.unknown_key`)."""
    if not isinstance(d, Mapping):
        raise UserError(f"expected a mapping, got {type(d).__name__}", where)
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise UserError(unknown_key(unknown[0], allowed), where)
    missing = [k for k in required if k not in d]
    if missing:
        raise UserError(f"missing key '{missing[0]}'", where)
    return dict(d)


def one_of(d: Any, where: str, choices: Sequence[str]) -> tuple[str, Any]:
    """The one (key, value) of a mapping that must hold exactly one of ``choices``."""
    d = keys(d, where, choices)
    if len(d) != 1:
        raise UserError(f"give exactly one of {', '.join(choices)}", where)
    return next(iter(d.items()))


def spec_number(value: Any, where: str, spec: ParamSpec) -> float:
    """A number, or a prior (``uniform`` / ``log_uniform``) whose values lie within the
    parameter ``spec``'s bounds: then its centre (a template's base value; the prior itself is
    collected by :func:`deepgisas.parse.find_priors`)."""
    num = parse_number(value, where)
    values = (num.lo, num.hi) if isinstance(num, Uniform | LogUniform) else (num,)
    for v in values:
        if not spec.admits(v):
            raise UserError(f"{v:g} is outside {spec.describe_bounds()} {spec.unit}", where)
    return float(num.from_unit(0.5)) if isinstance(num, Uniform | LogUniform) else num


def plain(value: Any, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A plain number (not a prior) within [lo, hi]."""
    num = parse_number(value, where, allow_prior=False)
    assert isinstance(num, float)
    if not lo <= num <= hi:
        raise UserError(f"{num:g} is outside [{lo:g}, {hi:g}]", where)
    return num


def integer(value: Any, where: str, lo: int = 0) -> int:
    """An integer (not a bool) of at least ``lo``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise UserError(f"expected an integer >= {lo}, got {value!r}", where)
    return value


def pair(value: Any, where: str, kind: type = float) -> tuple:
    """Two numbers (``kind`` int: integers of at least 1) as a tuple."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise UserError(f"expected a list of two numbers, got {value!r}", where)
    if kind is int:
        return tuple(integer(v, where, 1) for v in value)
    return tuple(plain(v, where) for v in value)
