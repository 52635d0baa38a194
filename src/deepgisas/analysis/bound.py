"""The ideal observer: the lowest mean KL that the data allow, beside the model's.

Samples here have a single domain: one xi bin with weight 1, uniform over the bins. The
nuisance parameters sit at their prior midpoints (or ``--set`` values), except at most one
(``unknown``), which is drawn from ``points`` equal-probability cells of its prior.

For such samples the Bayes posterior over the bins, given the Poisson counts of the whole
detector, is exact:

    p(j | n) ∝ Σ_g exp(Σ_pixels n log mu_jg - mu_jg),

where mu_jg is the simulated pattern of bin j at grid value g. Its mean KL(true || posterior),
E[-log p(true | n)], is the lowest mean KL that any predictor reaches on these samples, however
it is trained: the posterior minimises the expected KL, and a network sees less than the whole
detector (a crop, binned, with a beam stop). Two posteriors come from the same counts:
  - "nuisance known": the true g is given;
  - "<name> unknown": summed over g (only with ``unknown``).
A bound with every nuisance parameter unknown would be higher still; these are lower bounds.

The model meets the same kind of samples (the same bins and grid values, its own validation
augmentation at each fixed scale, other noise draws). The bound is what the counts allow. The
gap to the model is what a better network, training or prior could still gain on these
samples: a model trained on several domains per sample cannot know that these have one, and
hedges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgisas.analysis.common import (
    Model,
    Result,
    midpoints,
    predict_x,
    pyplot,
    save_figure,
)
from deepgisas.analysis.exposure import DEFAULT_SCALES
from deepgisas.analysis.validate import distribution_scores
from deepgisas.data.stream import generator, template_hash, to_batch
from deepgisas.errors import UserError
from deepgisas.sample import RandomBins, free_name_map
from deepgisas.simulation import simulate_batch


def single_domain_patterns(model: Model, unknown: str | None, points: int,
                           overrides: dict[str, float] | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Clean patterns mu [G, bins, H, W] (float64, at intensity scale 1) of every single-domain
    bin at every grid value of ``unknown`` (G = 1 without it), and the grid values [G]."""
    lab = model.labels
    assert lab.orientation is not None
    base = midpoints(model.template, overrides)
    grid = np.array([np.nan])
    path = None
    if unknown is not None:
        names = free_name_map(list(model.template.priors))
        path = names.get(unknown)
        prior = model.template.priors.get(path) if path else None
        if prior is None or isinstance(prior, RandomBins):
            known = sorted(n for n in names if "." not in n and names[n] in base)
            raise UserError(f"not a numeric free parameter of the model's template: {unknown!r} "
                            f"(known: {', '.join(known)})")
        if points < 2:
            raise UserError(f"points must be >= 2, got {points}", setting="points")
        grid = np.array([float(prior.from_unit((k + 0.5) / points)) for k in range(points)])
    mus = []
    for g in grid:
        values = dict(base)
        if path is not None:
            values[path] = float(g)
        exps = [model.template.at({**values, lab.orientation: {
            "xi_deg": [float(x)], "weights": [1.0]}}) for x in lab.xi_deg()]
        mus.append(simulate_batch(exps, dtype=torch.float64))
    return np.stack(mus), grid


@dataclass(frozen=True)
class Patterns:
    """Single-domain patterns prepared for likelihoods: ``log_mu`` [G, bins, P] (log of the
    patterns at intensity scale 1, floored at 1e-12) and ``total`` [G, bins] (their sums)."""

    log_mu: np.ndarray
    total: np.ndarray

    @classmethod
    def of(cls, mu: np.ndarray) -> Patterns:
        """From patterns [G, bins, ...pixels]."""
        flat = mu.reshape(*mu.shape[:2], -1)
        return cls(np.log(np.maximum(flat, 1e-12)), flat.sum(-1))

    def log_likelihoods(self, counts: np.ndarray, scale: float) -> np.ndarray:
        """Poisson log-likelihoods [n, G, bins] of ``counts`` [n, P] (up to a constant per
        sample) under every pattern times ``scale``. Float64: the sums reach 1e9 while the
        differences that matter are ~1."""
        g, b, p = self.log_mu.shape
        ll = counts @ self.log_mu.reshape(g * b, p).T
        ll += np.log(scale) * counts.sum(1, keepdims=True) - scale * self.total.reshape(1, -1)
        return ll.reshape(len(counts), g, b)


def _normalise(logl: np.ndarray) -> np.ndarray:
    """Log-weights over the last axis -> probabilities."""
    shifted = logl - logl.max(-1, keepdims=True)
    p = np.exp(shifted)
    return p / p.sum(-1, keepdims=True)


def ideal_posteriors(counts: np.ndarray, patterns: Patterns, scale: float,
                     g_true: np.ndarray) -> dict[str, np.ndarray]:
    """Posteriors over the bins [n, bins] for ``counts`` [n, P]: ``known`` (the true grid
    value given) and ``unknown`` (summed over the grid; the same as ``known`` for one value)."""
    ll = patterns.log_likelihoods(counts, scale)
    known = _normalise(ll[np.arange(len(counts)), g_true])
    return {"known": known, "unknown": _normalise(np.logaddexp.reduce(ll, axis=1))}


def _bin_view(a: np.ndarray, model: Model) -> np.ndarray:
    """Counts [..., H, W] -> the centre crop binned as the model's input [..., P]."""
    from deepgisas.data.augment import center_window

    (fr, fc), (h, w) = model.spec.downsample, a.shape[-2:]
    a = a[(..., *center_window((h, w), model.spec.crop))]
    ch, cw = a.shape[-2:]
    a = a.reshape(*a.shape[:-2], ch // fr, fr, cw // fc, fc).sum(axis=(-3, -1))
    return a.reshape(*a.shape[:-2], -1)


def bound(model: Model, out: Path, scales: tuple[float, ...] = DEFAULT_SCALES, n: int = 480,
          unknown: str | None = None, points: int = 9,
          overrides: dict[str, float] | None = None, seed: int = 0) -> Result:
    """Mean KL, EMD and folded KL of the ideal observer and of ``model`` on ``n`` single-domain
    samples at each log10 intensity scale; writes ``bound.png``."""
    if model.kind != "distribution":
        raise UserError("the bound applies to orientation models only")
    if not scales:
        raise UserError("need at least one intensity scale")
    if n < 1:
        raise UserError(f"need at least one sample, got {n}")
    mu, grid = single_domain_patterns(model, unknown, points, overrides)
    n_g, bins = mu.shape[:2]
    if not np.isfinite(mu).all():
        raise UserError("the model's detector has masked pixels; the bound needs the whole "
                        "detector")
    ss = np.random.SeedSequence(template_hash(model.template), spawn_key=(13, seed))
    rng = np.random.default_rng(ss.spawn(1)[0])
    j_true, g_true = rng.integers(bins, size=n), rng.integers(n_g, size=n)
    truth = np.eye(bins)[j_true]
    clean = mu[g_true, j_true]  # [n, H, W]
    whole = Patterns.of(mu)
    binned = Patterns.of(_bin_view(mu, model)) if model.spec.bin_counts else None
    del mu
    counts_total = float(np.median(clean.reshape(n, -1).sum(1)))
    rows: list[dict[str, Any]] = []
    for k, lg in enumerate(scales):
        s = 10.0 ** float(lg)
        counts = rng.poisson(clean.reshape(n, -1) * s).astype(np.float64)
        row: dict[str, Any] = {"log10_scale": float(lg), "median_counts": counts_total * s}
        post = ideal_posteriors(counts, whole, s, g_true)
        kinds = {"known": post["known"]}
        if unknown is not None:
            kinds["unknown"] = post["unknown"]
        if binned is not None:
            kinds["binned_known"] = ideal_posteriors(
                _bin_view(counts.reshape(clean.shape), model), binned, s, g_true)["known"]
        spec = dataclasses.replace(model.spec, scale=(float(lg), float(lg)))
        gen = generator(np.random.SeedSequence(template_hash(model.template),
                                               spawn_key=(13, seed, k)), "cpu")
        b = to_batch(clean.astype(np.float32), {"dist": truth.astype(np.float32)}, {},
                     spec.train(center=True), gen, mask_channel=spec.mask_channel)
        kinds["model"] = predict_x(model, b["x"])["dist"]
        for name, p in kinds.items():
            sc = distribution_scores(truth, p)
            row[name] = {key: float(v.mean()) for key, v in sc.items()}
            row[name]["kl_se"] = float(sc["kl"].std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        rows.append(row)
    uniform = distribution_scores(truth, np.full_like(truth, 1.0 / bins))
    numbers: dict[str, Any] = {
        "n": n, "seed": seed, "unknown": unknown, "grid": grid.tolist() if unknown else None,
        "nuisance": midpoints(model.template, overrides), "rows": rows,
        "uniform": {key: float(v.mean()) for key, v in uniform.items()},
        "mean_over_scales": {name: float(np.mean([r[name]["kl"] for r in rows]))
                             for name in rows[0] if isinstance(rows[0][name], dict)}}
    return Result("bound", [_figure(model, rows, numbers, unknown, out)], numbers,
                  _text(rows, numbers, unknown))


LABELS = {"model": "the model", "known": "ideal, nuisance known",
          "unknown": "ideal, {} unknown", "binned_known": "ideal, nuisance known, model's view"}


def _figure(model: Model, rows: list[dict[str, Any]], numbers: dict[str, Any],
            unknown: str | None, out: Path) -> Path:
    plt = pyplot()
    x = [r["median_counts"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name in ("model", "known", "unknown", "binned_known"):
        if name not in rows[0]:
            continue
        label = LABELS[name].format(unknown)
        style = "o-" if name == "model" else "s--"
        for ax, key in zip(axes, ("kl", "emd_deg"), strict=True):
            ax.plot(x, [r[name][key] for r in rows], style, label=label)
    for ax, key, unit in zip(axes, ("kl", "emd_deg"), ("mean KL", "circular EMD (deg)"),
                             strict=True):
        ax.axhline(numbers["uniform"][key], color="0.5", ls=":", lw=1, label="uniform guess")
        ax.set_xscale("log")
        ax.set_xlabel("median counts per image (whole detector)")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"single-domain samples: {model.name} against the ideal observer "
                 f"({numbers['n']} samples per scale)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out / "bound.png")


def _text(rows: list[dict[str, Any]], numbers: dict[str, Any], unknown: str | None) -> str:
    def kl(name: str) -> str:
        return ", ".join(f"{r[name]['kl']:.2f} ± {r[name]['kl_se']:.2f}" for r in rows)

    scales = ", ".join(f"10^{r['log10_scale']:g}" for r in rows)
    parts = [f"Single-domain samples counted at intensity scales {scales}. Mean KL (± its "
             f"standard error) of the "
             f"model: {kl('model')}; of the ideal observer with the nuisance known: "
             f"{kl('known')}"]
    if unknown is not None:
        parts.append(f"; with {unknown} unknown over its prior: {kl('unknown')}")
    if "binned_known" in rows[0]:
        parts.append(f"; seeing only the model's crop and bins (nuisance known): "
                     f"{kl('binned_known')}")
    mean = numbers["mean_over_scales"]
    parts.append(f". Uniform guess {numbers['uniform']['kl']:.3f}. Averaged over the scales: "
                 f"model {mean['model']:.3f}, ideal {mean['known']:.3f}"
                 + (f" (known), {mean['unknown']:.3f} ({unknown} unknown)" if unknown else "")
                 + ". No predictor can go below the ideal observer on these samples.")
    return "".join(parts)
