"""``deepgisas simulate FILE -o OUT.npy [--png OUT.png]``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate", help="simulate a description file (or a bundled name) like BornAgain 25",
        description="Write the simulated intensity as a float64 .npy array (rows = alpha_f "
                    "from low to high, columns = phi_f from low to high), in BornAgain 25's "
                    "units. Masked pixels are NaN.")
    p.add_argument("file", help="description file (YAML/JSON) or bundled name, e.g. hex-talk")
    p.add_argument("-o", "--output", required=True, help="output .npy file")
    p.add_argument("--png", help="also write a log-scale picture with axes in degrees")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from deepgisas.api import load_template, simulate
    from deepgisas.plots import save_detector_png

    out = Path(args.output)
    if out.suffix != ".npy":
        raise UserError("the output must end in .npy", str(out))
    for path in (out, Path(args.png) if args.png else None):
        if path is not None and not path.parent.exists():
            raise UserError("the folder does not exist", str(path))
    template = load_template(args.file)
    if template.priors:
        free = ", ".join(template.priors)
        raise UserError(f"free parameters are not allowed in simulate: {free}", args.file)
    experiment = template.base
    image = simulate(experiment)
    atomic_write(out, lambda f: np.save(f, image))
    if args.png:
        save_detector_png(image, experiment, Path(args.png), title=Path(str(args.file)).name)
    print(f"wrote {out} ({image.shape[0]} x {image.shape[1]}, max {np.nanmax(image):.4g})")
