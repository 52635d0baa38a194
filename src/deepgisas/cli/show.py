"""``deepgisas show IMAGE [--instrument FILE] -o view.png [--axes angles|q|pixels]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from deepgisas.cli.options import add_instrument, alpha_i

if TYPE_CHECKING:
    import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show", help="a log-scale picture of a detector image, with beam, specular and Yoneda",
        description="Read a detector image (.npy, .tif, .cbf, .edf, .h5/.nxs, .txt; each "
                    "optionally .gz) and write a log-scale PNG: masked pixels in cyan (and "
                    "what was masked, and why, on the terminal) and, with --instrument, the "
                    "direct beam, the specular peak, the Yoneda band (from the substrate of "
                    "the file's sample layers, if any) and the region of interest. The "
                    "instrument's detector.orientation (or --orientation) says how the file "
                    "stores the image.")
    p.add_argument("image", help="detector image file")
    add_instrument(p)
    p.add_argument("-o", "--output", required=True, help="output PNG file")
    p.add_argument("--axes", choices=("angles", "q", "pixels"),
                   help="axes: angles (deg), q (1/nm) or pixels (default: angles with "
                        "--instrument, else pixels)")
    p.add_argument("--frame", type=int, default=0, help="frame of a multi-frame file")
    p.add_argument("--dataset", help="HDF5 path of the image (default: NXdetector data)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import warnings

    from deepgisas.errors import UserError
    from deepgisas.io.description import read_description, read_instrument
    from deepgisas.io.images import read_measured
    from deepgisas.io.readers import describe_mask
    from deepgisas.io.view import save_measured_png

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise UserError("the output must end in .png", str(out))
    if not out.parent.is_dir():
        raise UserError("the folder does not exist", str(out))
    incidence = alpha_i(args)
    beam = detector = delta = None
    if args.instrument:
        beam, detector = read_instrument(args.instrument, incidence, args.orientation)
        if not isinstance(beam.alpha_i_deg, int | float):
            raise UserError("beam.alpha_i_deg must be a number", args.instrument)
        delta = _substrate_delta(args.instrument, read_description)
    img, data = read_measured(args.image, detector, args.instrument, frame=args.frame,
                              dataset=args.dataset, orientation=args.orientation,
                              keep_negative=args.keep_negative)
    axes = args.axes or ("angles" if args.instrument else "pixels")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows in log/percentile
        save_measured_png(data, out, beam, detector, delta, axes,
                          title=f"{Path(args.image).name} ({img.shape[0]} x {img.shape[1]}, "
                                f"{img.metadata['orientation']})")
    print(f"wrote {out} ({img.shape[0]} x {img.shape[1]}, read {img.metadata['orientation']}; "
          f"{describe_mask(img.metadata['masked'])}{_below_log(data)})")


def _below_log(data: np.ndarray) -> str:
    """"; N% zero or negative, unmasked (...)" for the unmasked pixels that the log scale
    cannot draw, else ""."""
    import numpy as np

    below = np.isfinite(data) & (data <= 0)
    if not below.any():
        return ""
    return (f"; {below.mean():.1%} zero or negative, unmasked (black in the picture: below "
            "the log scale)")


def _substrate_delta(path: str, read_description) -> float | None:  # noqa: ANN001
    """The substrate's delta when the instrument file describes a sample, else None."""
    from deepgisas.errors import UserError
    from deepgisas.io.bundled import instrument_file

    file = instrument_file(path)
    if file.suffix.lower() == ".poni":
        return None
    try:
        layers = read_description(file).sample.layers
    except UserError:  # no (valid) sample part: no Yoneda band
        return None
    delta = layers[-1].material.delta
    return float(delta) if isinstance(delta, int | float) and delta > 0 else None
