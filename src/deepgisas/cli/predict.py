"""``deepgisas predict MODEL IMAGE... [--instrument FILE] [-o OUT.json]``."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from deepgisas.cli.options import (
    add_axes,
    add_engine,
    add_instrument,
    add_quiet,
    add_strict,
    alpha_i,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="predict xi distributions or parameters from detector images",
        description="Run a trained model (a bundled name or a model directory) on detector "
                    "images. Writes {\"model\": NAME, \"results\": [...]} as JSON to OUT.json "
                    "or stdout. Pixels below 0 are masked (unless --keep-negative). With "
                    "--instrument each image is resampled from the instrument's geometry onto "
                    "the model's detector in q: the instrument's wavelength and incidence "
                    "angle are matched to the model's. A beam or detector outside the model's "
                    "training is warned about and recorded as 'extrapolation' (--strict: an "
                    "error); a parameter beyond its prior is flagged as 'outside_prior'. Prints a "
                    "table of the answers (--quiet: none; on stderr when the JSON goes to "
                    "stdout).")
    p.add_argument("model", help="bundled model name or model directory")
    p.add_argument("images", nargs="+", help="detector images (.npy, .tif, .cbf, .edf, "
                   ".h5/.nxs, .txt; each optionally .gz)")
    add_instrument(p)
    add_strict(p)
    p.add_argument("-o", "--output", help="output JSON file (default: stdout)")
    p.add_argument("--png", metavar="OUT.png",
                   help="draw the answer: for one image, the image as the model saw it beside "
                        "the xi distribution or the parameters with their errors against "
                        "their priors; for several, each parameter (or the xi distribution) "
                        "against the image's index")
    add_axes(p)
    add_quiet(p)
    add_engine(p, "auto (default): ONNX Runtime when the model's export measured it "
                        "faster than eager torch; torch or onnx force one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from deepgisas.errors import UserError
    from deepgisas.io.atomic import atomic_write
    from deepgisas.io.resample import OutsideWarning
    from deepgisas.predict import predict_files_and_images
    from deepgisas.report_text import predict_table

    out = Path(args.output) if args.output else None
    if out is not None and not out.parent.is_dir():
        raise UserError("the folder does not exist", str(out))
    png = Path(args.png) if args.png else None
    if png is not None and (png.suffix.lower() != ".png" or not png.parent.is_dir()):
        raise UserError("the picture must be a .png in an existing folder", str(png))
    with warnings.catch_warnings():  # every image's warning (main prints each as one line)
        warnings.simplefilter("always", OutsideWarning)
        result, images, predictor = predict_files_and_images(
            args.model, args.images, args.instrument, args.engine, alpha_i_deg=alpha_i(args),
            orientation=args.orientation, keep_negative=args.keep_negative,
            strict=args.strict)
    text = json.dumps(result, indent=1)
    if png is not None:
        from deepgisas.answer_plots import save_predict_png

        save_predict_png(result, images, predictor.template, png, args.axes or "angles")
    written = " and ".join(str(p) for p in (out, png) if p is not None)
    table = sys.stdout
    if out is None:
        print(text)
        table = sys.stderr  # stdout holds the JSON alone
        if png is not None:
            print(f"wrote {png}", file=sys.stderr)
    else:
        atomic_write(out, lambda f: f.write(text.encode()))
        n = len(result["results"])
        print(f"wrote {written} ({n} image{'s' * (n != 1)})")
    if not args.quiet:
        print(predict_table(result), file=table)
