"""One self-contained HTML page about a model: every analysis that applies, images embedded
(base64), a short text under each plot saying what it shows, and the figures."""

from __future__ import annotations

import base64
import html
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from deepgisas.analysis.bias import bias
from deepgisas.analysis.bound import bound
from deepgisas.analysis.common import Model, Result
from deepgisas.analysis.curves import curves
from deepgisas.analysis.exposure import exposure
from deepgisas.analysis.filters import filters
from deepgisas.analysis.inputs import simulated_images
from deepgisas.analysis.pls import pls
from deepgisas.analysis.resimulate import resimulate
from deepgisas.analysis.saliency import saliency
from deepgisas.analysis.uniform_test import compare_uniform
from deepgisas.analysis.validate import validate
from deepgisas.io.atomic import atomic_write

TITLES = {"curves": "Learning curves", "validate": "Validation on simulated data",
          "exposure": "Accuracy against exposure",
          "bound": "The ideal observer: the lowest KL the counts allow",
          "resimulate": "Re-simulation of the prediction", "pls": "Partial least squares",
          "bias": "Prior bias", "compare-uniform": "Is it distinguishable from uniform?",
          "saliency": "Attention maps", "filters": "First-layer filters"}


def counts(n: int) -> dict[str, int]:
    """Simulated patterns per analysis for the report's ``n``: ``n`` for validation, exposure
    and PLS, at least 32 for the bound, n / 8 (at least 8) per reference for the bias."""
    return {"validate": n, "exposure": n, "pls": n, "bound": max(32, n),
            "bias": max(8, n // 8)}


def analyses(model: Model, model_arg: str, work: Path, n: int, seed: int
             ) -> list[tuple[str, Callable[[], Result]]]:
    """The analyses that apply to ``model``, as deferred calls."""
    def sub(name: str) -> Path:
        p = work / name
        p.mkdir(exist_ok=True)
        return p

    def resim() -> Result:
        inten, _, names = simulated_images(model, None, 2, seed, augment=False)
        return resimulate(model, inten, names, sub("resimulate"))

    def cmp() -> Result:
        obs, names = [], []
        specs = [f"{model.labels.xi_deg()[0]:g}:1", "uniform"]
        for spec in specs:
            _, x, nm = simulated_images(model, spec, 1, seed, augment=True)
            from deepgisas.analysis.common import predict_x
            obs.append(predict_x(model, x)["dist"])  # type: ignore[arg-type]
            names += nm
        return compare_uniform(model, np.concatenate(obs), names, sub("compare"),
                               m=max(32, n // 4), seed=seed)

    def sal() -> Result:
        _, x, names = simulated_images(model, None, 3, seed, augment=True)
        return saliency(model, x, names, sub("saliency"))  # type: ignore[arg-type]

    out: list[tuple[str, Callable[[], Result]]] = []
    from deepgisas.models.store import model_dir

    if (model_dir(model_arg) / "learning_curve.csv").exists():
        out.append(("curves", lambda: curves(model_arg, sub("curves"))))
    count = counts(n)
    out += [("validate", lambda: validate(model, sub("validate"), n=count["validate"],
                                          seed=seed)),
            ("exposure", lambda: exposure(model, sub("exposure"), n=count["exposure"],
                                          seed=seed)),
            ("resimulate", resim),
            ("pls", lambda: pls(model, sub("pls"), n=count["pls"], seed=seed)),
            ("bias", lambda: bias(model, sub("bias"), n=count["bias"], seed=seed))]
    if model.kind == "distribution":
        out += [("bound", lambda: bound(model, sub("bound"), n=count["bound"], seed=seed)),
                ("compare-uniform", cmp)]
    out += [("saliency", sal), ("filters", lambda: filters([model], sub("filters")))]
    return out


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def _numbers(d: dict) -> str:
    def short(v: object) -> object:
        if isinstance(v, float):
            return float(f"{v:.4g}")
        if isinstance(v, list) and len(v) > 8:
            return f"[{len(v)} values]"
        if isinstance(v, dict):
            return {k: short(x) for k, x in v.items()}
        if isinstance(v, list):
            return [short(x) for x in v]
        return v

    return f"<pre>{html.escape(json.dumps(short(d), indent=1))}</pre>"


def report(model_arg: str, out: Path, n: int = 128, seed: int = 0,
           progress: Callable[[str], None] | None = None) -> list[Result]:
    """Write the HTML report of ``model_arg`` to ``out``; returns the results."""
    model = Model.load(model_arg)
    results = []
    parts = [f"<h1>deepgisas report: {html.escape(model.name)}</h1>",
             f"<p>{html.escape(model.card['arch'])}, {model.kind} head, labels: "
             f"{html.escape(', '.join(model.labels.names) or str(model.labels.orientation))}"
             f"; simulated patterns: {n} for validation, exposure and PLS"
             + (f", {counts(n)['bound']} for the bound" if model.kind == "distribution"
                else "")
             + f", {counts(n)['bias']} per reference for the bias; seed {seed}.</p>"]
    with tempfile.TemporaryDirectory(prefix="report.", dir=out.parent) as tmp:
        for name, run in analyses(model, model_arg, Path(tmp), n, seed):
            if progress:
                progress(name)
            r = run()
            results.append(r)
            parts.append(f"<h2>{TITLES.get(name, name)}</h2>")
            parts += [_img(p) for p in r.figures if p.suffix == ".png"]
            parts.append(f"<p>{html.escape(r.text)}</p>")
            parts.append(f"<details><summary>figures</summary>{_numbers(r.numbers)}</details>")
        page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>deepgisas report"
                "</title><style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
                "pre{font-size:11px}</style></head><body>" + "\n".join(parts) +
                "</body></html>")
        atomic_write(out, lambda f: f.write(page.encode()))
    return results
