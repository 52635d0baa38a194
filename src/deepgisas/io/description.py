"""Description files on disk: read and write a YAML or JSON experiment or template (also the
bundled ones by name), and read an instrument (beam and detector) from a description file or a
pyFAI PONI file (also the bundled ones by name).

Parsing and validation of the dicts is :mod:`deepgisas.sample`'s; this module adds the file:
its text, its format, and the file name in every error."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write
from deepgisas.io.bundled import instrument_file
from deepgisas.io.poni import poni_instrument
from deepgisas.io.readers import ORIENTATIONS
from deepgisas.io.text import read_text
from deepgisas.parse import parse_instrument
from deepgisas.sample import Beam, Detector, Experiment
from deepgisas.templates import Template, parse_template


def load_text(p: Path) -> Any:
    """The YAML or JSON (by suffix) content of a file; bad syntax is a UserError."""
    text = read_text(p)
    try:
        return json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise UserError(f"not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {first}",
                        str(p)) from None


def read_template(path: str | Path) -> Template:
    """Read a YAML or JSON description file whose numbers may be priors; every problem is a
    one-line UserError."""
    data = load_text(Path(path))
    try:
        return parse_template(data)
    except UserError as exc:
        raise exc.located(str(path)) from None


def read_description(path: str | Path) -> Experiment | Template:
    """Read a description file: an experiment, or a template if it has free parameters."""
    t = read_template(path)
    return t if t.priors else t.base


def write_description(experiment: Experiment | Template, path: str | Path) -> None:
    """Write an experiment or template as YAML (or JSON for a .json path), atomically."""
    p = Path(path)
    d = experiment.to_dict()
    text = json.dumps(d, indent=2) if p.suffix.lower() == ".json" else yaml.safe_dump(
        d, sort_keys=False, default_flow_style=None)
    atomic_write(p, lambda f: f.write(text.encode()))


def read_instrument(path: str | Path, alpha_i_deg: float | None = None,
                    orientation: str | None = None) -> tuple[Beam, Detector]:
    """The beam and detector of a description file (its sample, if any, is ignored) or of a
    pyFAI PONI file (``.poni``, :func:`deepgisas.io.poni.poni_instrument`); ``path`` may be
    the name of a bundled instrument (:func:`deepgisas.io.bundled.instrument_file`). ``alpha_i_deg``
    replaces the file's incidence angle; a PONI file needs it. ``orientation`` replaces the
    file's ``detector.orientation``: how its detector files store the image."""
    if alpha_i_deg is not None and not 0.0 < alpha_i_deg < 90.0:
        raise UserError(f"the incidence angle must be in (0, 90) deg, got {alpha_i_deg:g}",
                        "alpha_i_deg", setting="alpha_i_deg")
    if orientation is not None and orientation not in ORIENTATIONS:
        raise UserError(f"unknown orientation {orientation!r} ({', '.join(ORIENTATIONS)})",
                        "orientation", setting="orientation")
    path = instrument_file(path)
    if path.suffix.lower() == ".poni":
        return poni_instrument(path, alpha_i_deg, orientation)
    data = load_text(path)
    try:
        beam, detector = parse_instrument(data)
    except UserError as exc:
        raise exc.located(str(path)) from None
    if alpha_i_deg is not None:
        beam = replace(beam, alpha_i_deg=float(alpha_i_deg))
    if orientation is not None:
        detector = replace(detector, orientation=orientation)
    return beam, detector


def bundled_names() -> list[str]:
    """Names of the description files that ship with the package."""
    folder = resources.files("deepgisas") / "examples"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


def load_template(path_or_name: str | Path) -> Template:
    """A template (with or without free parameters) from a description file, or a bundled
    name ("hex-orientation")."""
    s = str(path_or_name)
    if s in bundled_names():
        with resources.as_file(resources.files("deepgisas") / "examples" / f"{s}.yaml") as p:
            return read_template(p)
    if not Path(s).exists() and "/" not in s and not s.endswith((".yaml", ".yml", ".json")):
        raise UserError(f"no such file, and not a bundled name ({', '.join(bundled_names())})", s)
    return read_template(s)


def load(path_or_name: str | Path) -> Experiment | Template:
    """An experiment, or a template if it has free parameters, from a description file or a
    bundled name ("hex-orientation")."""
    t = load_template(path_or_name)
    return t if t.priors else t.base


def save(experiment: Experiment | Template, path: str | Path) -> None:
    """Write an experiment (or template) as a description file (YAML, or JSON by suffix)."""
    write_description(experiment, path)
