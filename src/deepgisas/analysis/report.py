"""One self-contained HTML page about a model: every analysis that applies, images embedded
(base64), a short text under each plot saying what it shows, and the figures."""

from __future__ import annotations

import base64
import html
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from deepgisas.analysis.catalog import report_counts
from deepgisas.analysis.common import Model, Result
from deepgisas.analysis.registry import ANALYSES, ReportRun
from deepgisas.io.atomic import atomic_write


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
             f"<p>{html.escape(model.card.arch)}, {model.kind} head, labels: "
             f"{html.escape(', '.join(model.labels.names) or str(model.labels.orientation))}"
             f"; simulated patterns: {n} for validation, exposure and PLS"
             + (f", {report_counts(n)['bound']} for the bound" if model.kind == "distribution"
                else "")
             + f", {report_counts(n)['bias']} per reference for the bias; seed {seed}.</p>"]
    with tempfile.TemporaryDirectory(prefix="report.", dir=out.parent) as tmp:
        context = ReportRun(model, model_arg, Path(tmp), n, seed)
        for name, analysis in ANALYSES.items():
            if analysis.report is None or model.kind not in analysis.applies_to:
                continue
            if progress:
                progress(name)
            r = analysis.report(context)
            if r is None:  # e.g. no learning curve in the model's folder
                continue
            results.append(r)
            parts.append(f"<h2>{html.escape(analysis.title)}</h2>")
            parts += [_img(p) for p in r.figures if p.suffix == ".png"]
            parts.append(f"<p>{html.escape(r.text)}</p>")
            parts.append(f"<details><summary>figures</summary>{_numbers(r.numbers)}</details>")
        page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>deepgisas report"
                "</title><style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
                "pre{font-size:11px}</style></head><body>" + "\n".join(parts) +
                "</body></html>")
        atomic_write(out, lambda f: f.write(page.encode()))
    return results
