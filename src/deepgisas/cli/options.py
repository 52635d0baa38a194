"""Command-line options that several commands share."""

from __future__ import annotations

import argparse

INSTRUMENT_HELP = ("description file (YAML/JSON) giving the beam and detector, or a pyFAI "
                   ".poni file (then give --alpha-i)")


FLAGS = {"alpha_i_deg": "--alpha-i", "idle_exit_s": "--idle-exit", "network_threads":
         "--threads", "set_values": "--set", "poll_s": "--poll", "settle_s": "--settle",
         "plot_every_s": "--plot-every", "strict": "--strict"}


def flag_of(setting: str) -> str:
    """The command-line flag of a configuration field: ``FLAGS``, else ``--`` and the name
    with dashes."""
    return FLAGS.get(setting, "--" + setting.replace("_", "-"))


def add_instrument(p: argparse.ArgumentParser, help: str = INSTRUMENT_HELP) -> None:
    """``--instrument FILE``, ``--alpha-i DEG``, ``--orientation`` and ``--keep-negative``;
    ``help`` is followed by the names of the bundled instruments."""
    from deepgisas.io.bundled import bundled_instruments
    from deepgisas.io.readers import ORIENTATIONS

    names = ", ".join(bundled_instruments())
    p.add_argument("--instrument", metavar="FILE",
                   help=f"{help}; or, when no such file exists, the name of a bundled "
                        f"instrument ({names})")
    p.add_argument("--alpha-i", type=float, metavar="DEG", dest="alpha_i",
                   help="incidence angle in degrees: needed with a .poni instrument file "
                        "(which has none); replaces a description file's beam.alpha_i_deg")
    p.add_argument("--orientation", choices=ORIENTATIONS,
                   help="how the detector files store the image (default: the instrument "
                        "file's detector.orientation, else per format; 'vertical' for "
                        "vertical-sample instruments such as MARIA)")
    p.add_argument("--keep-negative", action="store_true",
                   help="keep negative pixel values (background-subtracted data) instead of "
                        "masking them as detector gaps")


def add_strict(p: argparse.ArgumentParser) -> None:
    """``--strict``: extrapolation beyond a model's training is an error, not a warning."""
    p.add_argument("--strict", action="store_true",
                   help="stop with an error (exit 2) when the beam or detector lies outside "
                        "what the model was trained on (by default a warning, recorded in the "
                        "JSON as 'extrapolation')")


def alpha_i(args: argparse.Namespace) -> float | None:
    """``--alpha-i``, which only means something with ``--instrument``."""
    from deepgisas.errors import UserError

    if args.alpha_i is not None and not args.instrument:
        raise UserError("--alpha-i needs --instrument (the detector it places)")
    return args.alpha_i


def add_engine(p: argparse.ArgumentParser, help: str) -> None:
    """``--engine auto|torch|onnx`` (:func:`deepgisas.models.onnx.select_engine`)."""
    from deepgisas.models.onnx import ENGINES

    p.add_argument("--engine", choices=ENGINES, default="auto", help=help)


def add_quiet(p: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: no table of the answer on the terminal (the JSON is unchanged)."""
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print no table of the answer, only what was written (with the JSON "
                        "on stdout: nothing more); warnings stay (fit's flags, which the table "
                        "shows, then come as warnings)")


def add_axes(p: argparse.ArgumentParser) -> None:
    """``--axes angles|q|pixels`` of the PNG's detector panels."""
    p.add_argument("--axes", choices=("angles", "q", "pixels"),
                   help="the PNG's detector axes: angles (deg, the default), q (1/nm) or "
                        "pixels")


def add_fused(p: argparse.ArgumentParser, first: str = "one to five minutes per template "
              "and precision") -> None:
    """``--fused``: the simulator's fused kernels, compiled (:mod:`deepgisas.physics.fused`);
    ``first``: how long the first compile takes for this command."""
    p.add_argument("--fused", action="store_true",
                   help="compile the simulator's hot kernels with torch.compile: about 1.5 to "
                        f"2 times faster simulation after a first compile of {first}, kept in "
                        "~/.cache/deepgisas/inductor for later runs (needs a C++ compiler; "
                        "without one, a warning and eager simulation)")


def use_fused(args: argparse.Namespace) -> None:
    """Turn the fused kernels on for this process and the workers it starts, if asked."""
    if getattr(args, "fused", False):
        from deepgisas.physics import fused

        fused.enable()
