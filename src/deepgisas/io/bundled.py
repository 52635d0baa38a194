"""The instrument files that ship with the package (``deepgisas/examples/instruments``): the
beam and detector geometry of four real measurements (GALAXI, CHESS, SOLEIL SWING, MARIA),
each usable by name wherever an instrument file is asked for.

The rule: an instrument argument that names an existing file is that file; otherwise, a name
of a bundled instrument (``galaxi``, without folder or suffix) is the bundled file.
"""

from __future__ import annotations

from pathlib import Path

from deepgisas.errors import UserError

INSTRUMENTS = Path(__file__).resolve().parents[1] / "examples" / "instruments"

WHAT_AN_INSTRUMENT_IS = (
    "an instrument file gives the beam and detector geometry of the measurement (wavelength, "
    "incidence angle, detector distance, pixel size, beam centre), as a YAML description "
    "file or a pyFAI .poni file (with --alpha-i)")


def bundled_instruments() -> list[str]:
    """The names of the bundled instrument files (their file names without ``.yaml``)."""
    return sorted(p.stem for p in INSTRUMENTS.glob("*.yaml"))


def instrument_file(path_or_name: str | Path) -> Path:
    """The instrument file that ``path_or_name`` means: an existing file, else the bundled
    instrument of that name; a UserError when it is neither."""
    p = Path(path_or_name)
    if p.exists():
        return p
    if str(path_or_name) in bundled_instruments():
        return INSTRUMENTS / f"{path_or_name}.yaml"
    raise UserError(f"no such file, and not the name of a bundled instrument "
                    f"({', '.join(bundled_instruments())})", str(path_or_name))


def examples_hint() -> str:
    """"bundled examples, by name: chess_pspb, galaxi, ... (in FOLDER)"."""
    return f"bundled examples, by name: {', '.join(bundled_instruments())} (in {INSTRUMENTS})"


def needs_instrument() -> str:
    """What to do when an image needs an instrument and none was given: what an instrument
    file is and where the bundled examples are."""
    return f"give --instrument: {WHAT_AN_INSTRUMENT_IS}; {examples_hint()}"
