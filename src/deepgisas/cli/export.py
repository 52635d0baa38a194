"""``deepgisas export MODEL --onnx [-o OUT.onnx]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a trained model (ONNX), for faster inference",
        description="Write MODEL as ONNX. By default the file goes into the model directory "
                    "as model.onnx, where predict uses it through ONNX Runtime if installed.")
    p.add_argument("model", help="bundled model name or model directory")
    p.add_argument("--onnx", action="store_true", required=True, help="export to ONNX")
    p.add_argument("-o", "--output", help="output file (default MODEL_DIR/model.onnx)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from deepgisas.errors import UserError
    from deepgisas.models.onnx import ONNX, export_onnx
    from deepgisas.models.store import load_model, model_dir

    net, card = load_model(args.model)
    out = Path(args.output) if args.output else model_dir(args.model) / ONNX
    if not out.parent.is_dir():
        raise UserError("the folder does not exist", str(out))
    export_onnx(net, card, out)
    print(f"wrote {out}")
