"""Fused kernels: the simulator's hottest pure tensor functions compiled by ``torch.compile``.

On a CPU most of a simulation is memory-bound elementwise work: the DWBA terms of a sphere-like
particle at every pixel and size member are some 80 tensor operations, each one pass over
memory. Inductor (``torch.compile``'s code generator: C++ with OpenMP on a CPU, Triton on a GPU)
fuses such a chain into one loop. A function marked :func:`kernel` can carry a *fused form*:
the same function written for one loop (every member's phases evaluated directly instead of by
the eager code's ladder of products, a series chosen by selection at every element instead of
on the few pixels that need it). The kernels now: the sphere-like DWBA terms, and their
averages over a size distribution summed in the same loop (:mod:`deepgisas.physics.dwba`), and
a 2D lattice's nearest peak (:mod:`deepgisas.physics.structures.lattice2d`).

Fused execution is a process-wide setting, like torch's own backend flags (:func:`mode`):

- "off" (the default): eager;
- "compiled": the fused forms compiled, on with :func:`enable`, :func:`enabled` for a block,
  the environment variable ``DEEPGISAS_FUSED=1``, or ``--fused`` on ``generate``, ``train``,
  ``fit`` and ``stream``;
- "forms": the fused forms run eagerly, the compiled code's arithmetic without a compiler (for
  tests and debugging).

Compiled and eager images agree to rounding (the tests: 1e-12 relative in float64, 1e-5 in
float32). The first call of each kernel compiles it (one to five minutes per template and
precision on two cores, with a recompile for dynamic shapes when the batch's shape changes:
docs/benchmarks.md, "Simulation speed"); Inductor keeps its code
in ``TORCHINDUCTOR_CACHE_DIR``, by default ``~/.cache/deepgisas/inductor``, so later processes
load it instead (seconds). So it pays in long jobs, and one-off calls stay eager. A kernel runs
eagerly whenever an input requires a gradient (the compiled code is built for inference), and
for good after its compilation fails (no C++ compiler, an unsupported device): a warning names
the reason once.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])

MODES = ("off", "compiled", "forms")
_ENV = "DEEPGISAS_FUSED"
_STATE = {"mode": "compiled" if os.environ.get(_ENV, "") not in ("", "0", "off") else "off"}
_FAILED: set[str] = set()
# graphs one kernel may keep, one per combination of dtypes, ranks and static shapes it meets
# (float32 and float64, per-row or per-pixel exit waves, batch shapes): past torch's default
# of 8, Dynamo stops compiling the kernel and runs its fused form eagerly, slower than the
# eager kernel (a hex-orientation run then a film run in one process, or a fit's many batches)
RECOMPILE_LIMIT = 64


def mode() -> str:
    """"off" (eager), "compiled" (the fused forms compiled) or "forms" (the fused forms run
    eagerly: the compiled code's arithmetic without a compiler, for tests and debugging)."""
    return _STATE["mode"]


def enable(on: bool | str = True) -> str:
    """Set the mode: True or "compiled", False or "off", or "forms"; returns the mode before.
    The setting goes to the environment too, so worker processes started later share it."""
    new = {True: "compiled", False: "off"}.get(on, on) if isinstance(on, bool) else on
    if new not in MODES:
        raise ValueError(f"unknown fused mode {on!r} ({', '.join(MODES)})")
    before = _STATE["mode"]
    if new == "compiled" and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir())
    os.environ[_ENV] = "1" if new == "compiled" else "0"
    _STATE["mode"] = new
    return before


@contextmanager
def enabled(on: bool | str = True) -> Iterator[None]:
    """A mode (:func:`enable`) within a ``with`` block."""
    before = enable(on)
    try:
        yield
    finally:
        enable(before)


def cache_dir() -> Path:
    """Where compiled kernels are kept between processes."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepgisas" / "inductor"


def kernel(fn: F | None = None, *, fused_form: Callable[..., Any] | None = None) -> Any:
    """Mark a pure tensor function as a fused kernel (see the module docstring), as
    ``@kernel`` or ``@kernel(fused_form=g)``: then ``g``, the same function written for one
    fused loop (e.g. with more transcendentals and fewer intermediate tensors), is what gets
    compiled."""
    if fn is None:
        return functools.partial(kernel, fused_form=fused_form)
    eager = fn
    target = fused_form or fn
    compiled: list[Callable[..., Any]] = []
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        m = _STATE["mode"]
        if m == "off" or torch.compiler.is_compiling() or _needs_grad(args, kwargs):
            return eager(*args, **kwargs)
        if m == "forms" or name in _FAILED:
            return (target if m == "forms" else eager)(*args, **kwargs)
        if not compiled:
            config = torch._dynamo.config
            config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
            compiled.append(torch.compile(target))
        try:
            with warnings.catch_warnings():  # the few complex operations stay aten calls
                warnings.filterwarnings("ignore", "Torchinductor does not support code "
                                        "generation for complex", UserWarning)
                return compiled[0](*args, **kwargs)
        except Exception as exc:  # the compiler's failures come in many classes
            _FAILED.add(name)
            text = str(exc).strip()
            reason = f": {text.splitlines()[0][:200]}" if text else ""
            warnings.warn(f"fused kernel {fn.__qualname__} runs eagerly: compiling failed "
                          f"({exc.__class__.__name__}{reason})", RuntimeWarning, stacklevel=2)
            return eager(*args, **kwargs)

    return run


def _needs_grad(args: tuple, kwargs: dict) -> bool:
    """Whether any tensor among the arguments, in tuples, lists and dicts too, requires a
    gradient (with autograd on)."""
    if not torch.is_grad_enabled():
        return False
    todo: list[Any] = [*args, *kwargs.values()]
    while todo:
        a = todo.pop()
        if isinstance(a, torch.Tensor):
            if a.requires_grad:
                return True
        elif isinstance(a, (tuple, list)):
            todo.extend(a)
        elif isinstance(a, dict):
            todo.extend(a.values())
    return False
