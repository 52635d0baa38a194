"""``deepgisas export MODEL --onnx [-o OUT.onnx]``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a trained model (ONNX), for faster inference",
        description="Write MODEL as ONNX. By default the file goes into the model directory "
                    "as model.onnx, times ONNX Runtime against eager torch on 64 synthetic "
                    "images through predict's preprocessing and writes the figures to "
                    "model.onnx.json; predict uses ONNX Runtime when it was the faster.")
    p.add_argument("model", help="bundled model name or model directory")
    p.add_argument("--onnx", action="store_true", required=True, help="export to ONNX")
    p.add_argument("-o", "--output", help="output file (default MODEL_DIR/model.onnx)")
    p.set_defaults(func=run)


def _inputs(spec: Any, shape: tuple[int, int]) -> Callable[[], Any]:
    """A batch of 64 synthetic detector images of the model's size (Poisson-like counts,
    seeded) through predict's preprocessing, as a callable."""
    import numpy as np

    from deepgisas.predict import network_input

    rows, cols = shape
    raw = np.random.default_rng(0).gamma(1.0, 100.0, (64, rows, cols))
    return lambda: network_input(raw, spec)


def run(args: argparse.Namespace) -> None:
    from deepgisas.data.preprocess import InputSpec
    from deepgisas.errors import UserError
    from deepgisas.models.nets import for_inference
    from deepgisas.models.onnx import ONNX, OnnxRunner, export_onnx, time_engines, write_timing
    from deepgisas.models.store import load_model, model_dir
    from deepgisas.templates import parse_template

    net, card = load_model(args.model)
    out = Path(args.output) if args.output else model_dir(args.model) / ONNX
    if not out.parent.is_dir():
        raise UserError("the folder does not exist", str(out))
    export_onnx(net, card, out)
    print(f"wrote {out}")
    if out.name != ONNX:  # a copy elsewhere: predict never uses it, so no timing record
        return
    spec = InputSpec.from_dict(card.input)
    shape = parse_template(card.template, "model card").base.detector.shape
    t = time_engines(for_inference(net), OnnxRunner(out), _inputs(spec, shape))  # as predict
    write_timing(out.parent, t)
    print(f"with preprocessing: ONNX Runtime {t['onnx_ms_per_image']:.3g} ms/image, eager torch "
          f"{t['torch_ms_per_image']:.3g} ms/image ({t['threads']} threads, batch {t['batch']}, "
          f"largest difference {t['max_abs_difference']:.1e}): predict uses {t['faster']}")
