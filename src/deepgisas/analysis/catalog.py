"""The talk's checks of a trained network, registered (:mod:`deepgisas.analysis.registry`):
their options, how ``deepgisas analyze`` runs each, and how the report does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepgisas.analysis.bias import bias
from deepgisas.analysis.bound import __doc__ as BOUND_DOC
from deepgisas.analysis.bound import bound
from deepgisas.analysis.common import Model, Result, out_dir, predict_x
from deepgisas.analysis.curves import curves, read_curve
from deepgisas.analysis.exposure import exposure
from deepgisas.analysis.filters import filters
from deepgisas.analysis.inputs import check_files, file_images, simulated_images
from deepgisas.analysis.pls import pls
from deepgisas.analysis.registry import Inputs, ReportRun, Run, option, register_analysis
from deepgisas.analysis.resimulate import resimulate
from deepgisas.analysis.saliency import saliency
from deepgisas.analysis.transfer import transfer
from deepgisas.analysis.uniform_test import __doc__ as TEST_DOC
from deepgisas.analysis.uniform_test import compare_uniform
from deepgisas.analysis.validate import validate
from deepgisas.errors import UserError

SCALES = (-2.0, -1.0, 0.0, 1.0, 2.0)
NUISANCE = ("Nuisance parameters (free parameters that are not labels: beam, lattice, radius, "
            "...) are set to their prior's midpoint, or to values given with --set "
            "NAME=VALUE.")


def report_counts(n: int) -> dict[str, int]:
    """Simulated patterns per analysis for the report's ``n``: ``n`` for validation, exposure
    and PLS, at least 32 for the bound, n / 8 (at least 8) per reference for the bias."""
    return {"validate": n, "exposure": n, "pls": n, "bound": max(32, n),
            "bias": max(8, n // 8)}


def overrides(items: list[str]) -> dict[str, float]:
    """NAME=VALUE items -> {NAME: VALUE}."""
    out = {}
    for item in items:
        try:
            k, v = item.split("=")
            out[k.strip()] = float(v)
        except ValueError:
            raise UserError(f"set_values needs NAME=VALUE, got {item!r}",
                            setting="set_values") from None
    return out


def load_inputs(model: Model, inputs: Inputs, augment: bool
                ) -> tuple[Any, Any, list[str], dict[str, float]]:
    """(clean images or None, network inputs or None, names, the beam the files' grid was read
    at: path -> value, empty for simulated inputs)."""
    from deepgisas.predict import network_input

    if inputs.images:
        if inputs.simulate:
            raise UserError("give images or simulate, not both", setting="simulate")
        check_files(list(inputs.images))
        imgs, beam = file_images(model, list(inputs.images), inputs.instrument,
                                 inputs.alpha_i_deg, inputs.orientation, inputs.keep_negative)
        return imgs, network_input(imgs, model.spec), list(inputs.images), beam
    if inputs.count < 1:
        raise UserError(f"count must be >= 1, got {inputs.count}", setting="count")
    imgs, x, names = simulated_images(model, inputs.simulate, inputs.count, inputs.seed,
                                      augment)
    return imgs, x, names, {}


def counted(analysis: Any, name: str) -> Any:
    """The report step of an analysis called as ``analysis(model, folder, n=..., seed=...)``
    with the report's pattern count for ``name`` (:func:`report_counts`)."""
    return lambda r: analysis(r.model, r.folder(name), n=report_counts(r.n)[name], seed=r.seed)


@dataclass(frozen=True)
class NoOptions:
    pass


def _report_curves(r: ReportRun) -> Result | None:
    from deepgisas.models.store import model_dir

    if not (model_dir(r.model_arg) / "learning_curve.csv").exists():
        return None
    return curves(r.model_arg, r.folder("curves"))


@register_analysis("curves", title="Learning curves", options=NoOptions,
                   help="learning curves (training and validation)", report=_report_curves)
def run_curves(run: Run, opts: NoOptions) -> Result:
    read_curve(run.model)  # errors before any folder is made
    return curves(run.model, out_dir(run.output))


@dataclass(frozen=True)
class ValidateOptions:
    n: int = option(256, "patterns (256)")
    data: str | None = option(None, "a `generate` folder of the model's template instead")
    cases: int = option(4, "worst and best cases shown (4)")


@register_analysis(
    "validate", title="Validation on simulated data", options=ValidateOptions,
    help="metrics on a fixed seeded simulated set; predicted against true; worst and best "
         "cases",
    report=counted(validate, "validate"))
def run_validate(run: Run, opts: ValidateOptions) -> Result:
    model = Model.load(run.model)
    return validate(model, out_dir(run.output), opts.n, run.seed, opts.data, opts.cases)


@dataclass(frozen=True)
class ExposureOptions:
    n: int = option(128, "patterns (128)")
    scales: tuple[float, ...] = option(SCALES, "log10 intensity scales (-2 -1 0 1 2)",
                                       nargs="+", metavar="LOG10", type=float)


@register_analysis(
    "exposure", title="Accuracy against exposure", options=ExposureOptions,
    help="accuracy against counts: one seeded set at fixed intensity scales",
    report=counted(exposure, "exposure"))
def run_exposure(run: Run, opts: ExposureOptions) -> Result:
    return exposure(Model.load(run.model), out_dir(run.output), tuple(opts.scales), opts.n,
                    run.seed)


@dataclass(frozen=True)
class BoundOptions:
    n: int = option(480, "samples per scale (480)")
    scales: tuple[float, ...] = option(SCALES, "log10 intensity scales (-2 -1 0 1 2)",
                                       nargs="+", metavar="LOG10", type=float)
    unknown: str | None = option(None, "a nuisance parameter left unknown: drawn from, and "
                                 "summed over, a grid of its prior", metavar="NAME")
    points: int = option(9, "grid points for --unknown (9)")
    set_values: list[str] | None = option(None, "a nuisance value (repeatable)", flag="--set",
                                   action="append", metavar="NAME=VALUE")


@register_analysis(
    "bound", title="The ideal observer: the lowest KL the counts allow", options=BoundOptions,
    help="the ideal observer: the lowest KL the counts allow, beside the model's (orientation "
         "models, single-domain samples)", description=BOUND_DOC,
    applies_to=("distribution",),
    report=lambda r: (bound(r.model, r.folder("bound"), n=report_counts(r.n)["bound"],
                            seed=r.seed) if r.model.kind == "distribution" else None))
def run_bound(run: Run, opts: BoundOptions) -> Result:
    return bound(Model.load(run.model), out_dir(run.output), tuple(opts.scales), opts.n,
                 opts.unknown, opts.points, overrides(opts.set_values or []), run.seed)


@dataclass(frozen=True)
class ResimulateOptions:
    reference: str = option("uniform", "'uniform' (prior midpoints for a parameter model), "
                            "XI:W,... (deg), or 'none'")
    set_values: list[str] | None = option(None, "a nuisance value (repeatable)", flag="--set",
                                   action="append", metavar="NAME=VALUE")


def _report_resimulate(r: ReportRun) -> Result:
    inten, _, names = simulated_images(r.model, None, 2, r.seed, augment=False)
    return resimulate(r.model, inten, names, r.folder("resimulate"))


@register_analysis(
    "resimulate", title="Re-simulation of the prediction", options=ResimulateOptions,
    help="simulate the predicted structure beside the input", images=True,
    description="Simulate the pattern the prediction implies and show it beside the input "
                "and their difference, with a log-intensity misfit (masked), and the same for "
                "a reference. " + NUISANCE, report=_report_resimulate)
def run_resimulate(run: Run, opts: ResimulateOptions) -> Result:
    assert run.inputs is not None
    model = Model.load(run.model)
    out = out_dir(run.output)
    imgs, _, names, read_at = load_inputs(model, run.inputs, augment=False)
    ref = None if opts.reference == "none" else opts.reference
    free = model.template.priors  # the instrument's beam, unless --set
    beam = {model.labels.short[p]: v for p, v in read_at.items() if p in free}
    return resimulate(model, imgs, names, out, ref, {**beam, **overrides(opts.set_values or [])})


@dataclass(frozen=True)
class PlsOptions:
    n: int = option(256, "patterns (256)")
    components: int = option(8, "PLS components (8)")


@register_analysis(
    "pls", title="Partial least squares", options=PlsOptions,
    help="partial least squares: which label components are predictable; peaks against "
         "valleys",
    report=counted(pls, "pls"))
def run_pls(run: Run, opts: PlsOptions) -> Result:
    return pls(Model.load(run.model), out_dir(run.output), opts.n, opts.components, run.seed)


@dataclass(frozen=True)
class BiasOptions:
    n: int = option(32, "patterns per reference (32)")
    reference: list[str] | None = option(None, "XI:W,... or 'uniform' (repeatable; default: "
                                         "uniform, 0:1, 15:1, 30:1, 0:0.7,30:0.3)",
                                         action="append")


@register_analysis(
    "bias", title="Prior bias", options=BiasOptions,
    help="predictions for reference distributions against the truth",
    report=counted(bias, "bias"))
def run_bias(run: Run, opts: BiasOptions) -> Result:
    return bias(Model.load(run.model), out_dir(run.output), opts.reference, opts.n, run.seed)


@dataclass(frozen=True)
class CompareOptions:
    null: int = option(128, "uniform patterns in the null (128)")
    alpha: float = option(0.05, "the test's level (0.05)")


def _report_compare(r: ReportRun) -> Result | None:
    if r.model.kind != "distribution":
        return None
    obs, names = [], []
    for spec in (f"{r.model.labels.xi_deg()[0]:g}:1", "uniform"):
        _, x, nm = simulated_images(r.model, spec, 1, r.seed, augment=True)
        obs.append(predict_x(r.model, x)["dist"])  # type: ignore[arg-type]
        names += nm
    return compare_uniform(r.model, np.concatenate(obs), names, r.folder("compare"),
                           m=max(32, r.n // 4), seed=r.seed)


@register_analysis(
    "compare-uniform", title="Is it distinguishable from uniform?", options=CompareOptions,
    help="test: is a prediction distinguishable from what the model predicts for a uniform "
         "sample?", description=TEST_DOC, applies_to=("distribution",), images=True,
    report=_report_compare)
def run_compare(run: Run, opts: CompareOptions) -> Result:
    assert run.inputs is not None
    model = Model.load(run.model)
    if model.kind != "distribution":
        raise UserError("compare-uniform applies to orientation models only")
    if opts.null < 2:
        raise UserError(f"null must be >= 2, got {opts.null}", setting="null")
    out = out_dir(run.output)
    _, x, names, _ = load_inputs(model, run.inputs, augment=True)
    return compare_uniform(model, predict_x(model, x)["dist"], names, out, opts.null, run.seed,
                           opts.alpha)


@dataclass(frozen=True)
class SaliencyOptions:
    label: str | None = option(None, "explain this xi (deg) or parameter (default: the most "
                               "probable bin, or the first parameter)")
    steps: int = option(32, "integrated-gradient steps (32)")


def _report_saliency(r: ReportRun) -> Result:
    _, x, names = simulated_images(r.model, None, 3, r.seed, augment=True)
    return saliency(r.model, x, names, r.folder("saliency"))  # type: ignore[arg-type]


@register_analysis(
    "saliency", title="Attention maps", options=SaliencyOptions, images=True,
    help="gradient, integrated gradients and Grad-CAM maps", report=_report_saliency)
def run_saliency(run: Run, opts: SaliencyOptions) -> Result:
    assert run.inputs is not None
    model = Model.load(run.model)
    out = out_dir(run.output)
    _, x, names, _ = load_inputs(model, run.inputs, augment=True)
    return saliency(model, x, names, out, opts.label, opts.steps)


@dataclass(frozen=True)
class FiltersOptions:
    other: str | None = option(None, "a second model, drawn beside the first", positional=True,
                               nargs="?")
    channel: int = option(0, "input channel (0: the image)")


@register_analysis(
    "filters", title="First-layer filters", options=FiltersOptions,
    help="the first convolution's filters, of one or two models",
    report=lambda r: filters([r.model], r.folder("filters")))
def run_filters(run: Run, opts: FiltersOptions) -> Result:
    models = [Model.load(run.model)] + ([Model.load(opts.other)] if opts.other else [])
    return filters(models, out_dir(run.output), opts.channel)


@dataclass(frozen=True)
class TransferOptions:
    template: str = option("", "the new template (file or bundled name)", positional=True)
    minutes: float = option(10.0, "budget of each run (10)")
    max_steps: int | None = option(None, "steps of each run at most", type=int)
    batch_size: int = option(32, "batch size (32)")
    steps_per_epoch: int = option(25, "steps per epoch (25)")
    val_size: int = option(128, "validation patterns (128)")
    workers: int = option(1, "data workers (1)")


@register_analysis(
    "transfer", title="Transfer learning", options=TransferOptions,
    help="fine-tune on another template against training from scratch with the same budget")
def run_transfer(run: Run, opts: TransferOptions) -> Result:
    from deepgisas.io.description import load_template
    from deepgisas.training.config import TrainConfig

    cfg = TrainConfig(minutes=opts.minutes, max_steps=opts.max_steps,
                      batch_size=opts.batch_size, steps_per_epoch=opts.steps_per_epoch,
                      val_size=opts.val_size, workers=opts.workers, seed=run.seed)
    return transfer(run.model, load_template(opts.template), out_dir(run.output), cfg,
                    progress=True)
