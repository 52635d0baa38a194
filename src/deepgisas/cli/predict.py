"""``deepgisas predict MODEL IMAGE... [--instrument FILE] [-o OUT.json]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="predict xi distributions or parameters from detector images",
        description="Run a trained model (a bundled name or a model directory) on detector "
                    "images. Writes {\"model\": NAME, \"results\": [...]} as JSON to OUT.json "
                    "or stdout. Pixels below 0 are masked.")
    p.add_argument("model", help="bundled model name or model directory")
    p.add_argument("images", nargs="+", help="detector images (.npy)")
    p.add_argument("--instrument", help="description file giving the beam and detector")
    p.add_argument("-o", "--output", help="output JSON file (default: stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from deepgisas.errors import UserError
    from deepgisas.io.atomic import atomic_write
    from deepgisas.predict import predict_files

    out = Path(args.output) if args.output else None
    if out is not None and not out.parent.is_dir():
        raise UserError("the folder does not exist", str(out))
    result = predict_files(args.model, args.images, args.instrument)
    text = json.dumps(result, indent=1)
    if out is None:
        print(text)
    else:
        atomic_write(out, lambda f: f.write(text.encode()))
        print(f"wrote {out} ({len(result['results'])} images)")
