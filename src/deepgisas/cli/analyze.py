"""``deepgisas analyze WHAT MODEL ... -o DIR``: the talk's checks of a trained network, and
``deepgisas report MODEL -o report.html``.

Each analysis writes its PNG files and ``WHAT.json`` (its figures) into DIR and prints what the
plots show. MODEL is a bundled model name or a model directory. The subcommands and their
options come from the registry of analyses (:mod:`deepgisas.analysis.registry`).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import MISSING, fields
from pathlib import Path

from deepgisas.analysis.registry import ANALYSES, Analysis, Inputs, Run
from deepgisas.cli.options import add_instrument, alpha_i


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


def _add_options(p: argparse.ArgumentParser, analysis: Analysis) -> None:
    """One argument per field of the analysis's options dataclass."""
    for f in fields(analysis.options):
        meta = dict(f.metadata)
        kw = {"help": meta.pop("help")}
        if meta.pop("positional", False):
            p.add_argument(f.name, nargs=meta.get("nargs"), help=kw["help"])
            continue
        flag = meta.pop("flag", "--" + f.name.replace("_", "-"))
        default = f.default if f.default is not MISSING else None
        default = list(default) if isinstance(default, tuple) else default
        kw.update(meta)
        if "action" not in kw and "type" not in kw and default is not None and not isinstance(
                default, list):
            kw["type"] = type(default)
        p.add_argument(flag, dest=f.name, default=default, **kw)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="the talk's checks of a trained network, with plots",
                       description=__doc__)
    s = p.add_subparsers(dest="what", required=True)
    for name, analysis in ANALYSES.items():
        # a description with paragraphs (a module docstring) keeps its layout
        raw = analysis.description is not None and "\n\n" in analysis.description
        q = s.add_parser(name, help=analysis.help, description=analysis.description,
                         formatter_class=(argparse.RawDescriptionHelpFormatter if raw
                                          else argparse.HelpFormatter))
        _common(q, images=analysis.images)
        _add_options(q, analysis)
    p.set_defaults(func=run)
    r = sub.add_parser("report", help="one HTML page with every analysis that applies",
                       description="Run every analysis that applies to MODEL (" +
                       ", ".join(n for n, a in ANALYSES.items() if a.report is not None) +
                       ") and write one self-contained HTML page (images embedded).")
    r.add_argument("model", help="bundled model name or model directory")
    r.add_argument("-o", "--output", required=True, help="the HTML file to write")
    r.add_argument("--n", type=int, default=128, help="simulated patterns per analysis (128)")
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(func=run_report)


def run(args: argparse.Namespace) -> None:
    from deepgisas.io.atomic import atomic_write

    analysis = ANALYSES[args.what]
    opts = analysis.options(**{f.name: getattr(args, f.name) for f in fields(analysis.options)})
    inputs = (Inputs(tuple(args.images), args.instrument, alpha_i(args), args.orientation,
                     args.keep_negative, args.simulate, args.count, args.seed)
              if analysis.images else None)
    res = analysis.run(Run(args.model, args.output, args.seed, inputs), opts)
    text = json.dumps({"analysis": res.name, "figures": [str(p) for p in res.figures],
                       "numbers": res.numbers, "text": res.text}, indent=1, default=float)
    out = Path(args.output)
    atomic_write(out / f"{args.what}.json", lambda f: f.write(text.encode()))
    print(res.text)
    print(f"wrote {', '.join(str(p) for p in res.figures)} and {out / (args.what + '.json')}")


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
