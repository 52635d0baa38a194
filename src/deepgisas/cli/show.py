"""``deepgisas show IMAGE [--instrument FILE] -o view.png [--axes angles|q|pixels]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepgisas.cli.options import add_instrument, alpha_i


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show", help="a log-scale picture of a detector image, with beam, specular and Yoneda",
        description="Read a detector image (.npy, .tif, .cbf, .edf, .h5/.nxs, .txt; each "
                    "optionally .gz) and write a log-scale PNG: masked pixels in cyan and, "
                    "with --instrument, the direct beam, the specular peak, the Yoneda band "
                    "(from the substrate of the file's sample layers, if any) and the region "
                    "of interest.")
    p.add_argument("image", help="detector image file")
    add_instrument(p)
    p.add_argument("-o", "--output", required=True, help="output PNG file")
    p.add_argument("--axes", choices=("angles", "q", "pixels"),
                   help="axes: angles (deg), q (1/nm) or pixels (default: angles with "
                        "--instrument, else pixels)")
    p.add_argument("--frame", type=int, default=0, help="frame of a multi-frame file")
    p.add_argument("--dataset", help="HDF5 path of the image (default: NXdetector data)")
    p.add_argument("--orientation", choices=("top-down", "bottom-up", "vertical"),
                   help="how the file stores the detector (default: per format; 'vertical' "
                        "for vertical-sample instruments such as MARIA)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import warnings

    from deepgisas.errors import UserError
    from deepgisas.io.images import detector_masks
    from deepgisas.io.readers import read_detector_image
    from deepgisas.io.view import save_measured_png
    from deepgisas.sample import read_description, read_instrument

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise UserError("the output must end in .png", str(out))
    if not out.parent.is_dir():
        raise UserError("the folder does not exist", str(out))
    incidence = alpha_i(args)
    img = read_detector_image(args.image, frame=args.frame, dataset=args.dataset,
                              orientation=args.orientation)
    beam = detector = delta = None
    data = img.data
    if args.instrument:
        beam, detector = read_instrument(args.instrument, incidence)
        if img.shape != detector.shape:
            raise UserError(f"image is {img.shape[0]} x {img.shape[1]}, the instrument's "
                            f"detector ({args.instrument}) is {detector.shape[0]} x "
                            f"{detector.shape[1]}", args.image)
        if not isinstance(beam.alpha_i_deg, int | float):
            raise UserError("beam.alpha_i_deg must be a number", args.instrument)
        data = detector_masks(data, detector)
        delta = _substrate_delta(args.instrument, read_description)
    axes = args.axes or ("angles" if args.instrument else "pixels")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows in log/percentile
        save_measured_png(data, out, beam, detector, delta, axes,
                          title=f"{Path(args.image).name} ({img.shape[0]} x {img.shape[1]})")
    print(f"wrote {out} ({img.shape[0]} x {img.shape[1]}, {img.mask.mean():.1%} masked)")


def _substrate_delta(path: str, read_description) -> float | None:  # noqa: ANN001
    """The substrate's delta when the instrument file describes a sample, else None."""
    from deepgisas.errors import UserError

    if Path(path).suffix.lower() == ".poni":
        return None
    try:
        layers = read_description(path).sample.layers
    except UserError:  # no (valid) sample part: no Yoneda band
        return None
    delta = layers[-1].material.delta
    return float(delta) if isinstance(delta, int | float) and delta > 0 else None
