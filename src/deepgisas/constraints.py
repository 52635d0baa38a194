"""Constraints between a template's priors: ``constraints: ["distance_nm >= 2 * radius_nm"]``.

A constraint is a comparison of arithmetic expressions, e.g. ``a <= b``, ``lo < x * y <= hi``,
``a >= 2 * b and c > 0``. Its grammar (a whitelist over Python's ``ast``; nothing is ever
evaluated by Python):

- numbers (``2``, ``0.5``, ``1e-3``) and names: a free parameter's short name (the last part of
  its path, when unique: ``radius_nm``) or full path
  (``sample.particles.shape.spheroid.radius_nm``), or a fixed number of the description by
  its full path (``sample.layers.1.thickness_nm``) or by the last part of it when no other
  number ends the same (a parameter fixed since the constraint was written keeps working);
- ``+ - * / **``, unary ``-``, parentheses;
- comparisons ``< <= > >=``, chained (``1 < x < 2``), and ``and`` between comparisons.

A template's draws come from its priors restricted to where every constraint holds (by
rejection: :func:`deepgisas.templates.draw_parameters`). A comparison with a NaN side (0 / 0)
does not hold.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepgisas.errors import UserError
from deepgisas.priors import LogUniform, Uniform
from deepgisas.sample import free_name_map

MAX_CHARS = 500
FEASIBILITY_DRAWS = 4096  # a constraint that holds in none of this many prior draws is refused
_PATH = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.\w+)+")
_ARITH: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul), ast.Div: ("/", operator.truediv),
    ast.Pow: ("**", operator.pow)}
_COMPARE: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Lt: ("<", operator.lt), ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge)}

# a compiled constraint: nested tuples
#   ("num", value) | ("var", path) | ("neg", x) | ("arith", op, x, y)
#   | ("cmp", (op, ...), (x, y, ...)) | ("and", (c, ...))
Node = tuple


@dataclass(frozen=True)
class Constraint:
    """One constraint: its text as written, its tree, and the paths of the free parameters it
    reads. Fixed numbers are constants of the tree."""

    text: str
    tree: Node
    free: tuple[str, ...]

    def holds(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Whether the constraint holds for each row of ``values`` (path -> [n] array of every
        free parameter it reads), [n] bool (a scalar bool without free parameters)."""
        with np.errstate(all="ignore"):
            return np.asarray(_evaluate(self.tree, values), dtype=bool)

    def canonical(self) -> str:
        """The constraint with every name written as its full path and fixed numbers as
        numbers (it reads the same after those paths are fixed)."""
        return _unparse(self.tree)


def _evaluate(node: Node, values: Mapping[str, np.ndarray]) -> Any:
    tag = node[0]
    if tag == "num":
        return node[1]
    if tag == "var":
        return np.asarray(values[node[1]], dtype=np.float64)
    if tag == "neg":
        return -_evaluate(node[1], values)
    if tag == "arith":
        return _ARITH_BY_SYMBOL[node[1]](_evaluate(node[2], values), _evaluate(node[3], values))
    if tag == "cmp":
        sides = [_evaluate(x, values) for x in node[2]]
        out: Any = True
        for op, a, b in zip(node[1], sides[:-1], sides[1:], strict=True):
            out = np.logical_and(out, _COMPARE_BY_SYMBOL[op](a, b))
        return out
    out = True
    for part in node[1]:
        out = np.logical_and(out, _evaluate(part, values))
    return out


_ARITH_BY_SYMBOL = dict(_ARITH.values())
_COMPARE_BY_SYMBOL = dict(_COMPARE.values())


def _unparse(node: Node) -> str:
    tag = node[0]
    if tag == "num":
        return repr(float(node[1]))
    if tag == "var":
        return str(node[1])
    if tag == "neg":
        return f"-({_unparse(node[1])})"
    if tag == "arith":
        return f"({_unparse(node[2])} {node[1]} {_unparse(node[3])})"
    if tag == "cmp":
        parts = [_unparse(node[2][0])]
        for op, x in zip(node[1], node[2][1:], strict=True):
            parts += [op, _unparse(x)]
        return " ".join(parts)
    return " and ".join(_unparse(c) for c in node[1])


def fixed_numbers(tree: Any, path: str = "") -> dict[str, float]:
    """Path -> value of every plain number of a description dict (priors are mappings: left
    out)."""
    out: dict[str, float] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(fixed_numbers(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.update(fixed_numbers(v, f"{path}.{i}"))
    elif isinstance(tree, int | float) and not isinstance(tree, bool):
        out[path] = float(tree)
    return out


class _Compiler:
    """ast -> Node over the whitelist, resolving names (UserErrors at ``where``)."""

    def __init__(self, where: str, names: dict[str, str], free: Mapping[str, Any],
                 fixed: Mapping[str, float], paths: dict[str, str]) -> None:
        self.where, self.names, self.free, self.fixed, self.paths = (
            where, names, free, fixed, paths)
        self.read: list[str] = []

    def fail(self, what: str) -> UserError:
        return UserError(what, self.where)

    def boolean(self, n: ast.AST) -> Node:
        if isinstance(n, ast.BoolOp):
            if not isinstance(n.op, ast.And):
                raise self.fail("only 'and' joins comparisons ('or' is not allowed)")
            return ("and", tuple(self.boolean(v) for v in n.values))
        if isinstance(n, ast.Compare):
            ops = []
            for op in n.ops:
                if type(op) not in _COMPARE:
                    raise self.fail("compare with < <= > >= only")
                ops.append(_COMPARE[type(op)][0])
            sides = (self.number(n.left), *(self.number(c) for c in n.comparators))
            return ("cmp", tuple(ops), sides)
        if isinstance(n, ast.Call):
            raise self.fail("function calls are not allowed in a constraint")
        raise self.fail("a constraint is a comparison, e.g. 'distance_nm >= 2 * radius_nm'")

    def number(self, n: ast.AST) -> Node:
        if isinstance(n, ast.Constant):
            if isinstance(n.value, bool) or not isinstance(n.value, int | float):
                raise self.fail(f"{n.value!r} is not a number")
            try:
                value = float(n.value)
            except OverflowError:
                raise self.fail("a number is too large") from None
            return ("num", value)
        if isinstance(n, ast.Name):
            return self.name(self.paths.get(n.id, n.id))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub | ast.UAdd):
            inner = self.number(n.operand)
            return ("neg", inner) if isinstance(n.op, ast.USub) else inner
        if isinstance(n, ast.BinOp) and type(n.op) in _ARITH:
            return ("arith", _ARITH[type(n.op)][0], self.number(n.left), self.number(n.right))
        if isinstance(n, ast.Call):
            raise self.fail("function calls are not allowed in a constraint")
        if isinstance(n, ast.Compare | ast.BoolOp):
            raise self.fail("a comparison cannot be a number")
        raise self.fail(f"not allowed in a constraint: {ast.unparse(n)!r} (use numbers, "
                        "parameter names, + - * / **, comparisons and 'and')")

    def name(self, name: str) -> Node:
        if name in self.names:
            path = self.names[name]
            if not isinstance(self.free[path], Uniform | LogUniform):
                raise self.fail(f"{name!r} is not a number (an orientation prior)")
            self.read.append(path)
            return ("var", path)
        if name in self.fixed:
            return ("num", self.fixed[name])
        ends = [p for p in self.fixed if p.rsplit(".", 1)[-1] == name]
        if len(ends) == 1:  # e.g. a free parameter fixed since: its number
            return ("num", self.fixed[ends[0]])
        if ends:
            raise self.fail(f"{name!r} names {len(ends)} numbers ({', '.join(ends)}): "
                            "give the full path")
        short = ", ".join(n for n in self.names if "." not in n)
        raise self.fail(f"unknown name {name!r}: not a free parameter ({short}) nor the path "
                        "of a number of the description")


def parse_constraint(text: Any, where: str, free: Mapping[str, Any],
                     fixed: Mapping[str, float]) -> Constraint:
    """Compile one constraint (``free``: path -> prior of every free parameter; ``fixed``:
    path -> value of the description's plain numbers); a UserError at ``where`` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"expected a constraint as text, got {text!r}", where)
    if len(text) > MAX_CHARS:
        raise UserError(f"a constraint has at most {MAX_CHARS} characters", where)
    paths: dict[str, str] = {}
    tag = "_p"
    while tag in text:
        tag += "_"

    def stash(m: re.Match[str]) -> str:
        placeholder = f"{tag}{len(paths)}"
        paths[placeholder] = m.group(0)
        return placeholder

    source = _PATH.sub(stash, text.strip())
    try:
        expr = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise UserError(f"not a valid constraint: {text!r}", where) from None
    compiler = _Compiler(where, free_name_map(list(free)), free, fixed, paths)
    tree = compiler.boolean(expr)
    return Constraint(text, tree, tuple(dict.fromkeys(compiler.read)))


def parse_constraints(d: Any, free: Mapping[str, Any], fixed: Mapping[str, float],
                      where: str = "constraints") -> tuple[Constraint, ...]:
    """A description's ``constraints`` list, compiled; each must hold in at least one of
    ``FEASIBILITY_DRAWS`` draws from the priors (a fixed seed), or it is a UserError."""
    if not isinstance(d, list) or not d:
        raise UserError("expected a non-empty list of constraints (text)", where)
    out = tuple(parse_constraint(t, f"{where}.{i}", free, fixed) for i, t in enumerate(d))
    rng = np.random.default_rng(0)
    draws = {p: prior.sample(rng, FEASIBILITY_DRAWS) for p, prior in free.items()
             if isinstance(prior, Uniform | LogUniform)}
    for i, c in enumerate(out):
        if not np.any(c.holds(draws)):
            tried = f"in {FEASIBILITY_DRAWS} draws from the priors" if c.free else \
                "for the description's numbers"
            raise UserError(f"{c.text!r} never holds {tried}", f"{where}.{i}")
    return out


def all_hold(constraints: Sequence[Constraint], values: Mapping[str, np.ndarray],
             n: int) -> np.ndarray:
    """Whether every constraint holds, per row of ``values`` (path -> [n]), [n] bool."""
    out = np.ones(n, dtype=bool)
    for c in constraints:
        out &= np.broadcast_to(c.holds(values), (n,))
    return out
