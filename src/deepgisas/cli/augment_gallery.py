"""``deepgisas augment-gallery TEMPLATE -o gallery.png [--seed N]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepgisas.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "augment-gallery", help="picture of every augmentation step on one simulated pattern",
        description="Simulate one experiment drawn from TEMPLATE, then write a PNG grid: the "
                    "clean pattern, each augmentation step alone, and the talk's and the "
                    "detector pipelines. Masked pixels are drawn in cyan.")
    p.add_argument("template", help="description file (YAML/JSON) or bundled name, e.g. film")
    p.add_argument("-o", "--output", required=True, help="output .png file")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the drawn experiment and of the augmentation (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from deepgisas.api import load_template
    from deepgisas.data.gallery import augmentation_gallery

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise UserError("the output must end in .png", str(out))
    if not out.parent.exists():
        raise UserError("the folder does not exist", str(out))
    panels, (rows, cols) = augmentation_gallery(load_template(args.template), out, args.seed,
                                                Path(str(args.template)).name)
    print(f"wrote {out} ({panels} panels of a {rows} x {cols} pattern, seed {args.seed})")
