"""``deepgisas fit TEMPLATE IMAGE [--model MODEL_DIR] [--instrument FILE] [-o OUT.json]``."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from deepgisas.cli.options import (
    add_axes,
    add_fused,
    add_instrument,
    add_quiet,
    add_strict,
    alpha_i,
    use_fused,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit", help="fit a template's free parameters to a detector image",
        description="Fit TEMPLATE's free parameters to IMAGE through the simulator (by "
                    "default the Poisson deviance of counts, else a log-intensity misfit; "
                    "masks respected; std from the Fisher information, widened when the model "
                    "does not describe the data, and for the likelihoods 68 and 95 % "
                    "profile-likelihood intervals), starting from MODEL's prediction when "
                    "given, else from several prior draws. Writes {\"image\", \"parameters\", "
                    "\"std\", \"misfit\", \"seconds\", ...} as JSON to OUT.json (or stdout) and a "
                    "PNG of data, fit and residual to OUT.png (or IMAGE_STEM.fit.png), zoomed "
                    "to the fitted pixels, and prints a table of the answer (--quiet: none). With "
                    "--instrument, its wavelength and incidence angle replace the template's "
                    "(recorded under 'beam'), and the specular spot and the direct beam, which "
                    "the simulator does not model, are masked (0.06 deg around them; outlined "
                    "in the PNG). A parameter within 1 % of its prior's bound is flagged "
                    "'at_bound' (its std is null: a limit, not a measurement); with --model, "
                    "the network-to-fit difference of each parameter is given in combined "
                    "standard deviations ('disagreement') and flagged above 3.")
    p.add_argument("template", help="description file with priors, or a bundled name")
    p.add_argument("image", help="detector image (.npy, .tif, .cbf, .edf, .h5/.nxs, .txt)")
    p.add_argument("--model", help="bundled model name or model directory for the start")
    add_instrument(p)
    add_strict(p)
    p.add_argument("--no-specular-mask", action="store_true",
                   help="fit the specular spot and the direct beam too (by default, with "
                        "--instrument, pixels within 0.06 deg of them are masked)")
    p.add_argument("--refine-beam", action="store_true",
                   help="fit the wavelength and incidence angle within the template's priors "
                        "(by default, with --instrument, the instrument's values replace the "
                        "template's, fixed or free)")
    p.add_argument("--objective", default="auto", metavar="NAME",
                   help="the misfit: poisson (the Poisson deviance of the counts against "
                        "s I + b), gaussian (chi^2 with --variance, or max(D, 1) for counts, "
                        "or one variance estimated from the residuals), log (a robust "
                        "soft-L1 of log intensities, for data with detector artefacts); "
                        "auto (default): poisson when the image holds counts, gaussian when "
                        "it has negative values (kept with --keep-negative), else log")
    p.add_argument("--variance", type=float, metavar="V",
                   help="the data's variance for --objective gaussian")
    p.add_argument("--no-intervals", action="store_true",
                   help="skip the 68 and 95 %% profile-likelihood intervals of a poisson or "
                        "gaussian fit ('intervals' in the JSON; they add a third to two "
                        "thirds to the fit's time)")
    p.add_argument("--posterior-seconds", type=float, default=10.0, metavar="S",
                   help="orientation fits on counts: how long the posterior samples "
                        "(default 10)")
    p.add_argument("-o", "--output", help="output JSON file (default: stdout)")
    p.add_argument("--nexus", metavar="OUT.nxs",
                   help="also write the answer, its provenance and the model card to a "
                        "NeXus HDF5 file")
    add_fused(p, "several minutes per template (each of the fit's batch shapes compiles "
              "once: worth it for many images of one template)")
    add_axes(p)
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from deepgisas.api import load_template
    from deepgisas.errors import UserError
    from deepgisas.fit import FitConfig
    from deepgisas.fit.files import SPOT_RADIUS_DEG, fit_file, save_fit_png
    from deepgisas.io.atomic import atomic_write
    from deepgisas.report_text import fit_table

    use_fused(args)
    config = FitConfig(objective=args.objective, variance=args.variance, progress=True,
                       posterior_seconds=args.posterior_seconds,
                       intervals=not args.no_intervals)

    out = Path(args.output) if args.output else None
    png = out.with_suffix(".png") if out is not None else Path(
        Path(args.image).name.split(".")[0] + ".fit.png")
    for path in [png] + ([Path(args.nexus)] if args.nexus else []):
        if not path.parent.is_dir():
            raise UserError("the folder does not exist", str(path.parent))
    template = load_template(args.template)
    if not template.priors:
        raise UserError("the description has no free parameters to fit", args.template)
    result, image, spots = fit_file(template, args.image, args.model, args.instrument,
                                    alpha_i_deg=alpha_i(args),
                                    spot_radius_deg=None if args.no_specular_mask
                                    else SPOT_RADIUS_DEG, refine_beam=args.refine_beam,
                                    orientation=args.orientation,
                                    keep_negative=args.keep_negative, strict=args.strict,
                                    config=config)
    record = result.to_dict(args.image)
    text = json.dumps(record, indent=1)
    save_fit_png(image, result, template, png, Path(args.image).name, spots,
                 args.axes or "angles")
    table = sys.stdout
    if args.nexus:
        write_nexus(Path(args.nexus), record, args)
    if out is None:
        print(text)
        table = sys.stderr  # stdout holds the JSON alone
    else:
        atomic_write(out, lambda f: f.write(text.encode()))
        nexus = f", {args.nexus}" if args.nexus else ""
        print(f"wrote {out}{nexus} and {png} (misfit {result.misfit:.4g}, {result.seconds:.1f} s)")
    if args.quiet:  # no table: its flags as warnings
        for line in flag_lines(result):
            warnings.warn(line, stacklevel=1)
    else:
        print(fit_table(record), file=table)


def write_nexus(path: Path, record: dict[str, Any], args: argparse.Namespace) -> None:
    """Write the fit's ``record`` to the NeXus file ``path``, with the model's card (when
    ``--model`` is given) and the run's provenance."""
    from deepgisas import __version__
    from deepgisas.io.nexus import write_fit

    card = None
    if args.model:
        from deepgisas.models.store import model_dir, read_card

        card = read_card(model_dir(args.model)).to_dict()
    write_fit(path, record, __version__, card, input_files=[args.image, args.template],
              instrument=args.instrument, objective=record.get("objective", args.objective))


def flag_lines(result: Any) -> list[str]:
    """One line per flag of a fit: parameters at a prior's bound, a spacing with more than one
    valley, fitted values outside the template's constraints or overfilling the particles'
    slice, a network start beyond its prior, and network-to-fit disagreements above 3
    combined std."""
    from deepgisas.fit.files import DISAGREE
    from deepgisas.fit.posterior import SETTLED_TV
    from deepgisas.priors import describe_bound
    from deepgisas.report_text import modes_text

    lines = [f"fit: {describe_bound(k, f)}" for k, f in result.extra.get("at_bound", {}).items()]
    gof = result.extra.get("goodness_of_fit")
    if gof is not None and not gof["described"]:
        lines.append(f"the model does not describe the data: deviance {gof['deviance']:.1f} "
                     f"against {gof['expected']:.1f} +- {gof['expected_std']:.1f} expected "
                     f"from the counts; the errors are widened by sqrt({gof['widen']:.3g})")
    modes = modes_text(result.extra)
    if modes:
        lines.append(modes)
    post = result.extra.get("posterior", {})
    if post.get("settled") is False:
        lines.append(f"the orientation posterior has not settled: the two halves of its chain "
                     f"differ by {post['split_tv']:.2f} in total variation (above "
                     f"{SETTLED_TV:g}); sample longer with --posterior-seconds")
    lines += [f"fit: the fitted values break the constraint {c!r}"
              for c in result.extra.get("outside_constraints", [])]
    if "overfilled" in result.extra:
        f = result.extra["overfilled"]
        lines.append(f"fit: the fitted particles overfill their slice ({f:.3g} times its "
                     "volume): BornAgain 25 refuses such a sample")
    net = result.extra.get("network", {})
    lines += [f"network: {describe_bound(k, f)}"
              for k, f in net.get("outside_prior", {}).items()]
    z = result.extra.get("disagreement", {})
    lines += [f"the network and the fit disagree on {k}: {net['parameters'][k]:.4g} against "
              f"{result.parameters[k]:.4g}, {z[k]:+.1f} combined std (above {DISAGREE:g})"
              for k in result.extra.get("disagree", [])]
    return lines
