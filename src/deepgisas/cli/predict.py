"""``deepgisas predict MODEL IMAGE... [--instrument FILE] [-o OUT.json]``."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from deepgisas.cli.options import add_engine, add_instrument, add_strict, alpha_i


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
                    "error); a parameter beyond its prior is flagged as 'outside_prior'.")
    p.add_argument("model", help="bundled model name or model directory")
    p.add_argument("images", nargs="+", help="detector images (.npy, .tif, .cbf, .edf, "
                   ".h5/.nxs, .txt; each optionally .gz)")
    add_instrument(p)
    add_strict(p)
    p.add_argument("-o", "--output", help="output JSON file (default: stdout)")
    add_engine(p, "auto (default): ONNX Runtime when the model's export measured it "
                        "faster than eager torch; torch or onnx force one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from deepgisas.errors import UserError
    from deepgisas.io.atomic import atomic_write
    from deepgisas.io.resample import OutsideWarning
    from deepgisas.predict import predict_files

    out = Path(args.output) if args.output else None
    if out is not None and not out.parent.is_dir():
        raise UserError("the folder does not exist", str(out))
    with warnings.catch_warnings():  # every image's warning (main prints each as one line)
        warnings.simplefilter("always", OutsideWarning)
        result = predict_files(args.model, args.images, args.instrument, args.engine,
                               alpha_i_deg=alpha_i(args), orientation=args.orientation,
                               keep_negative=args.keep_negative, strict=args.strict)
    text = json.dumps(result, indent=1)
    if out is None:
        print(text)
    else:
        atomic_write(out, lambda f: f.write(text.encode()))
        print(f"wrote {out} ({len(result['results'])} images)")
