"""The registry of analyses: each declares its name, title, what it applies to, its options (a
frozen dataclass) and how it runs, once; ``deepgisas analyze`` and ``deepgisas report`` are
built from it (:mod:`deepgisas.analysis.catalog` registers the talk's checks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepgisas.analysis.common import Model, Result

HEADS = ("distribution", "gaussian", "flow")


@dataclass(frozen=True)
class Inputs:
    """Where an analysis's images come from: detector files (read onto the model's grid,
    through ``instrument`` when given) or, without files, ``count`` patterns simulated with
    the labels ``simulate`` (None: drawn from the prior), seeded."""

    images: tuple[str, ...] = ()
    instrument: str | None = None
    alpha_i_deg: float | None = None
    orientation: str | None = None
    keep_negative: bool = False
    simulate: str | None = None
    count: int = 2
    seed: int = 0


@dataclass(frozen=True)
class Run:
    """What ``deepgisas analyze`` gives an analysis: the model (a bundled name or a folder),
    the output folder, the seed and, for analyses of images, their :class:`Inputs`."""

    model: str
    output: str
    seed: int = 0
    inputs: Inputs | None = None


@dataclass(frozen=True)
class ReportRun:
    """What the report gives each analysis: the loaded model, its name or folder, a work
    folder per analysis, the report's pattern count and seed."""

    model: Model
    model_arg: str
    work: Path
    n: int
    seed: int

    def folder(self, name: str) -> Path:
        p = self.work / name
        p.mkdir(exist_ok=True)
        return p


@dataclass(frozen=True)
class Analysis:
    """One analysis. ``run(Run, options)`` for ``deepgisas analyze`` (``Run.inputs`` None
    unless ``images``); ``report(ReportRun)`` for the report (None: not in it, or returns None
    when it does not apply to the model); ``applies_to``: the model kinds (heads) it works
    on."""

    name: str
    title: str
    help: str
    options: type
    run: Callable[[Run, Any], Result]
    report: Callable[[ReportRun], Result | None] | None = None
    applies_to: tuple[str, ...] = HEADS
    images: bool = False
    description: str | None = None


ANALYSES: dict[str, Analysis] = {}


def register_analysis(name: str, *, title: str, help: str, options: type,
                      report: Callable[[ReportRun], Result | None] | None = None,
                      applies_to: tuple[str, ...] = HEADS, images: bool = False,
                      description: str | None = None
                      ) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Register the decorated ``run(Run, options)`` as analysis ``name``."""
    def deco(run: Callable[..., Result]) -> Callable[..., Result]:
        if name in ANALYSES:
            raise ValueError(f"analysis {name!r} is registered twice")
        ANALYSES[name] = Analysis(name, title, help, options, run, report, applies_to, images,
                                  description)
        return run
    return deco


def option(default: Any, help: str, **argparse: Any) -> Any:
    """An options field: its default, its help, and how the CLI takes it (``flag``, ``nargs``,
    ``metavar``, ``action``, ``type``, ``positional``)."""
    return field(default=default, metadata={"help": help, **argparse})
