"""``deepgisas analyze WHAT MODEL ... -o DIR``: the talk's checks of a trained network, and
``deepgisas report MODEL -o report.html``.

Each analysis writes its PNG files and ``WHAT.json`` (its figures) into DIR and prints what the
plots show. MODEL is a bundled model name or a model directory.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from deepgisas.analysis.bound import __doc__ as BOUND_DOC
from deepgisas.analysis.uniform_test import __doc__ as TEST_DOC
from deepgisas.cli.options import add_instrument, alpha_i

WHAT = ("curves", "validate", "exposure", "bound", "resimulate", "pls", "bias", "compare-uniform",
        "saliency", "filters", "transfer")
NUISANCE = ("Nuisance parameters (free parameters that are not labels: beam, lattice, radius, "
            "...) are set to their prior's midpoint, or to values given with --set "
            "NAME=VALUE.")


def _common(p: argparse.ArgumentParser, images: bool = False) -> None:
    p.add_argument("model", help="bundled model name or model directory")
    if images:
        p.add_argument("images", nargs="*", help="detector images (any format `predict` "
                       "reads); without them, patterns are simulated (--simulate)")
        add_instrument(p, "description file (or pyFAI .poni file, with --alpha-i) giving "
                       "the images' beam and detector (resampled onto the model's grid)")
        p.add_argument("--simulate", metavar="LABELS", help="simulate inputs with these labels: "
                       "'uniform' or XI:W,... (deg) for orientation models, NAME=VALUE,... for "
                       "parameter models (default: drawn from the prior)")
        p.add_argument("--count", type=int, default=2, help="simulated inputs (2)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="the talk's checks of a trained network, with plots",
                       description=__doc__)
    s = p.add_subparsers(dest="what", required=True)
    q = s.add_parser("curves", help="learning curves (training and validation)")
    _common(q)
    q = s.add_parser("validate", help="metrics on a fixed seeded simulated set; predicted "
                     "against true; worst and best cases")
    _common(q)
    q.add_argument("--n", type=int, default=256, help="patterns (256)")
    q.add_argument("--data", help="a `generate` folder of the model's template instead")
    q.add_argument("--cases", type=int, default=4, help="worst and best cases shown (4)")
    q = s.add_parser("exposure", help="accuracy against counts: one seeded set at fixed "
                     "intensity scales")
    _common(q)
    q.add_argument("--n", type=int, default=128, help="patterns (128)")
    q.add_argument("--scales", type=float, nargs="+", default=[-2.0, -1.0, 0.0, 1.0, 2.0],
                   metavar="LOG10", help="log10 intensity scales (-2 -1 0 1 2)")
    q = s.add_parser("bound", help="the ideal observer: the lowest KL the counts allow, "
                     "beside the model's (orientation models, single-domain samples)",
                     description=BOUND_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(q)
    q.add_argument("--n", type=int, default=480, help="samples per scale (480)")
    q.add_argument("--scales", type=float, nargs="+", default=[-2.0, -1.0, 0.0, 1.0, 2.0],
                   metavar="LOG10", help="log10 intensity scales (-2 -1 0 1 2)")
    q.add_argument("--unknown", metavar="NAME", help="a nuisance parameter left unknown: "
                   "drawn from, and summed over, a grid of its prior")
    q.add_argument("--points", type=int, default=9, help="grid points for --unknown (9)")
    q.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a nuisance value (repeatable)")
    q = s.add_parser("resimulate", help="simulate the predicted structure beside the input",
                     description="Simulate the pattern the prediction implies and show it "
                     "beside the input and their difference, with a log-intensity misfit "
                     "(masked), and the same for a reference. " + NUISANCE)
    _common(q, images=True)
    q.add_argument("--reference", default="uniform", help="'uniform' (prior midpoints for a "
                   "parameter model), XI:W,... (deg), or 'none'")
    q.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a nuisance value (repeatable)")
    q = s.add_parser("pls", help="partial least squares: which label components are "
                     "predictable; peaks against valleys")
    _common(q)
    q.add_argument("--n", type=int, default=256)
    q.add_argument("--components", type=int, default=8)
    q = s.add_parser("bias", help="predictions for reference distributions against the truth")
    _common(q)
    q.add_argument("--n", type=int, default=32, help="patterns per reference (32)")
    q.add_argument("--reference", action="append", help="XI:W,... or 'uniform' (repeatable; "
                   "default: uniform, 0:1, 15:1, 30:1, 0:0.7,30:0.3)")
    q = s.add_parser("compare-uniform", help="test: is a prediction distinguishable from "
                     "what the model predicts for a uniform sample?",
                     description=TEST_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(q, images=True)
    q.add_argument("--null", type=int, default=128, help="uniform patterns in the null (128)")
    q.add_argument("--alpha", type=float, default=0.05)
    q = s.add_parser("saliency", help="gradient, integrated gradients and Grad-CAM maps")
    _common(q, images=True)
    q.add_argument("--label", help="explain this xi (deg) or parameter (default: the most "
                   "probable bin, or the first parameter)")
    q.add_argument("--steps", type=int, default=32, help="integrated-gradient steps (32)")
    q = s.add_parser("filters", help="the first convolution's filters, of one or two models")
    _common(q)
    q.add_argument("other", nargs="?", help="a second model, drawn beside the first")
    q.add_argument("--channel", type=int, default=0, help="input channel (0: the image)")
    q = s.add_parser("transfer", help="fine-tune on another template against training from "
                     "scratch with the same budget")
    _common(q)
    q.add_argument("template", help="the new template (file or bundled name)")
    q.add_argument("--minutes", type=float, default=10.0, help="budget of each run (10)")
    q.add_argument("--max-steps", type=int)
    q.add_argument("--batch-size", type=int, default=32)
    q.add_argument("--steps-per-epoch", type=int, default=25)
    q.add_argument("--val-size", type=int, default=128)
    q.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=run)
    r = sub.add_parser("report", help="one HTML page with every analysis that applies",
                       description="Run curves, validate, resimulate, pls, bias, "
                       "compare-uniform (orientation models), saliency and filters on MODEL and "
                       "write one self-contained HTML page (images embedded).")
    r.add_argument("model", help="bundled model name or model directory")
    r.add_argument("-o", "--output", required=True, help="the HTML file to write")
    r.add_argument("--n", type=int, default=128, help="simulated patterns per analysis (128)")
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(func=run_report)


def _inputs(args: argparse.Namespace, model: Any, augment: bool) -> tuple[Any, Any, list[str]]:
    """(clean images or None, network inputs or None, names). With files and an instrument,
    the beam their grid is read at is added to ``args.beam`` (for re-simulation)."""
    from deepgisas.analysis.inputs import check_files, file_images, simulated_images
    from deepgisas.errors import UserError
    from deepgisas.predict import network_input

    if args.images:
        if args.simulate:
            raise UserError("give images or --simulate, not both")
        check_files(args.images)
        imgs, args.beam = file_images(model, args.images, args.instrument, alpha_i(args),
                                      args.orientation, args.keep_negative)
        return imgs, network_input(imgs, model.spec), list(args.images)
    if args.count < 1:
        raise UserError(f"--count must be >= 1, got {args.count}")
    return simulated_images(model, args.simulate, args.count, args.seed, augment)


def _overrides(items: list[str]) -> dict[str, float]:
    from deepgisas.errors import UserError

    out = {}
    for item in items:
        try:
            k, v = item.split("=")
            out[k.strip()] = float(v)
        except ValueError:
            raise UserError(f"--set needs NAME=VALUE, got {item!r}") from None
    return out


def run(args: argparse.Namespace) -> None:
    from deepgisas import analysis as an
    from deepgisas.analysis.common import Model, out_dir, predict_x
    from deepgisas.errors import UserError
    from deepgisas.io.atomic import atomic_write

    what = args.what
    if what == "curves":
        an.read_curve(args.model)  # errors before any folder is made
        res = an.curves(args.model, out_dir(args.output))
    elif what == "transfer":
        from deepgisas.api import load
        from deepgisas.training.loop import TrainConfig

        cfg = TrainConfig(minutes=args.minutes, max_steps=args.max_steps,
                          batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch,
                          val_size=args.val_size, workers=args.workers, seed=args.seed)
        template = load(args.template)
        res = an.transfer(args.model, template, out_dir(args.output), cfg, progress=True)
    else:
        model = Model.load(args.model)
        out = out_dir(args.output)
        if what == "validate":
            res = an.validate(model, out, args.n, args.seed, args.data, args.cases)
        elif what == "exposure":
            res = an.exposure(model, out, tuple(args.scales), args.n, args.seed)
        elif what == "bound":
            res = an.bound(model, out, tuple(args.scales), args.n, args.unknown, args.points,
                           _overrides(args.set), args.seed)
        elif what == "pls":
            res = an.pls(model, out, args.n, args.components, args.seed)
        elif what == "bias":
            res = an.bias(model, out, args.reference, args.n, args.seed)
        elif what == "filters":
            models = [model] + ([Model.load(args.other)] if args.other else [])
            res = an.filters(models, out, args.channel)
        elif what == "resimulate":
            args.beam = {}
            imgs, _, names = _inputs(args, model, augment=False)
            ref = None if args.reference == "none" else args.reference
            free = model.template.free_parameters  # the instrument's beam, unless --set
            beam = {model.labels.short[p]: v for p, v in args.beam.items() if p in free}
            res = an.resimulate(model, imgs, names, out, ref, {**beam, **_overrides(args.set)})
        elif what == "compare-uniform":
            if model.kind != "distribution":
                raise UserError("compare-uniform applies to orientation models only")
            if args.null < 2:
                raise UserError(f"--null must be >= 2, got {args.null}")
            _, x, names = _inputs(args, model, augment=True)
            res = an.compare_uniform(model, predict_x(model, x)["dist"], names, out,
                                     args.null, args.seed, args.alpha)
        elif what == "saliency":
            _, x, names = _inputs(args, model, augment=True)
            res = an.saliency(model, x, names, out, args.label, args.steps)
        else:  # pragma: no cover (argparse restricts the choices)
            raise UserError(f"unknown analysis {what!r}")
    text = json.dumps({"analysis": res.name, "figures": [str(p) for p in res.figures],
                       "numbers": res.numbers, "text": res.text}, indent=1, default=float)
    out = Path(args.output)
    atomic_write(out / f"{what}.json", lambda f: f.write(text.encode()))
    print(res.text)
    print(f"wrote {', '.join(str(p) for p in res.figures)} and {out / (what + '.json')}")


def run_report(args: argparse.Namespace) -> None:
    import sys

    from deepgisas.analysis.report import report
    from deepgisas.errors import UserError

    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError("the folder does not exist", str(out))
    results = report(args.model, out, args.n, args.seed,
                     progress=lambda name: print(f"running {name}", file=sys.stderr))
    print(f"wrote {out} ({len(results)} analyses)")
