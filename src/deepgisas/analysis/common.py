"""What every analysis needs: a loaded model with its template and labels, seeded simulated
sets with chosen label values, predictions in label space, and figure files.

Every analysis returns a :class:`Result`: the PNG files it wrote, its figures (numbers, JSON-
ready) and a short text saying what the plots show (the HTML report prints it under them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgisas.data.labels import record
from deepgisas.data.stream import generator, template_hash, to_batch
from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write
from deepgisas.models import Net
from deepgisas.models.trained import TrainedModel
from deepgisas.sample import RandomBins
from deepgisas.simulation import simulate_batch
from deepgisas.templates import Template, draw_parameters, instantiate

BATCH = 64


@dataclass
class Result:
    """PNG files written, figures (JSON-ready numbers) and a short text about the plots."""

    name: str
    figures: list[Path] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    text: str = ""


Model = TrainedModel  # the analyses' name for it


@torch.no_grad()
def outputs(net: Net, x: torch.Tensor) -> torch.Tensor:
    """Raw network outputs [n, num_outputs] (float64) for network input [n, C, h, w]."""
    net.eval()
    return torch.cat([net(x[i:i + BATCH]) for i in range(0, len(x), BATCH)]).double()


def to_labels(model: Model, out: torch.Tensor) -> dict[str, np.ndarray]:
    """Outputs -> ``{"dist": [n, bins]}`` (probabilities) or ``{"theta": [n, P], "std":
    [n, P]}`` (unit box)."""
    return {k: v.double().numpy() for k, v in model.head.decode(out.float()).items()}


def predict_x(model: Model, x: torch.Tensor) -> dict[str, np.ndarray]:
    return to_labels(model, outputs(model.net, x))


def label_values(model: Model, values: np.ndarray) -> dict[str, Any]:
    """One label vector (a distribution [bins], or unit-box values [P]) -> template paths ->
    values to set (an orientation dict, or physical numbers)."""
    lab = model.labels
    if model.kind == "distribution":
        assert lab.orientation is not None
        return {lab.orientation: distribution_dict(values, lab.xi_deg())}
    phys = lab.decode(np.asarray(values, dtype=np.float64)[None])
    return {p: float(phys[lab.short[p]][0]) for p in lab.numeric}


def distribution_dict(p: np.ndarray, xi_deg: np.ndarray, max_domains: int = 120,
                      min_weight: float = 1e-3) -> dict[str, list[float]]:
    """A distribution over xi bins as an orientation ``{"xi_deg", "weights"}``: the largest
    ``max_domains`` bins above ``min_weight`` (each a domain to simulate), renormalised."""
    p = np.asarray(p, dtype=np.float64)
    keep = np.argsort(p)[::-1][:max_domains]
    keep = np.sort(keep[p[keep] >= min(min_weight, p.max())])
    w = p[keep] / p[keep].sum()
    return {"xi_deg": [float(v) for v in xi_deg[keep]], "weights": [float(v) for v in w]}


def parse_distribution(text: str, bins: int) -> np.ndarray:
    """``uniform`` or ``XI:W,XI:W,...`` (deg: weight) -> a distribution over ``bins`` bins."""
    if text == "uniform":
        return np.full(bins, 1.0 / bins)
    out = np.zeros(bins)
    try:
        for part in text.split(","):
            xi, w = (float(v) for v in part.split(":"))
            out[int(round((xi % 60.0) / (60.0 / bins))) % bins] += w
    except ValueError:
        raise UserError(f"expected 'uniform' or XI:WEIGHT,... (deg), got {text!r}") from None
    if out.sum() <= 0 or (out < 0).any():
        raise UserError(f"weights must be >= 0 and not all 0: {text!r}")
    return out / out.sum()


def midpoints(template: Template, overrides: dict[str, float] | None = None
              ) -> dict[str, Any]:
    """Nuisance values for one pattern: every numeric free parameter at its prior's midpoint
    (in the unit box, i.e. the geometric mean for log_uniform), except ``overrides`` (short
    names or paths)."""
    from deepgisas.sample import free_name_map

    free = template.priors
    names = free_name_map(list(free))
    out: dict[str, Any] = {p: float(prior.from_unit(0.5)) for p, prior in free.items()
                           if not isinstance(prior, RandomBins)}
    for key, value in (overrides or {}).items():
        if key not in names:
            raise UserError(f"not a free parameter of the model's template: {key!r} "
                            f"(known: {', '.join(sorted(n for n in names if '.' not in n))})")
        out[names[key]] = float(value)
    return out




@dataclass(frozen=True)
class SimSet:
    """Simulated patterns: clean intensities [n, H, W] (NaN = masked), network inputs
    [n, C, h, w], the labels (``dist`` / ``theta``) and every drawn value."""

    intensity: np.ndarray
    x: torch.Tensor
    labels: dict[str, np.ndarray]
    draws: dict[str, list]


def simulate_set(model: Model, n: int, seed: int, fixed: dict[str, Any] | None = None,
                 augment: bool = True) -> SimSet:
    """``n`` patterns with nuisance (and labels) drawn from the prior, seeded by the template
    and ``seed``, labels in ``fixed`` (path -> value) set. Inputs go through the model's own
    validation augmentation (scale, noise, beam stop, ..., centre crop), or, without
    ``augment``, its prediction transform (as a measured image)."""
    from deepgisas.predict import network_input

    if n < 1:
        raise UserError(f"need at least one pattern, got {n}")
    ss = np.random.SeedSequence(template_hash(model.template), spawn_key=(7, seed))
    draws = draw_parameters(model.template, n, ss)
    for path, value in (fixed or {}).items():
        draws[path] = [value] * n
    exps = instantiate(model.template, draws) if draws else [model.template.base] * n
    inten = simulate_batch(exps, dtype=torch.float32)
    labels = model.labels.encode(draws)
    if augment:
        b = to_batch(inten.astype(np.float32), labels, record(draws),
                     model.spec.train(center=True), generator(ss.spawn(1)[0], "cpu"),
                     mask_channel=model.spec.mask_channel)
        x = b["x"]
    else:
        x = network_input(inten, model.spec)
    return SimSet(inten, x, labels, draws)


def image_of(x: torch.Tensor) -> np.ndarray:
    """The image channel of network inputs [n, C, h, w] -> [n, h, w], masked pixels NaN."""
    img = x[:, 0].numpy().astype(np.float64)
    if x.shape[1] > 1:
        img = np.where(x[:, 1].numpy() > 0.5, img, np.nan)
    return img


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Write a matplotlib figure as PNG atomically and close it."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    pyplot().close(fig)
    return path


def out_dir(path: str | Path) -> Path:
    p = Path(path)
    if not p.parent.is_dir():
        raise UserError("the parent folder does not exist", str(p))
    p.mkdir(exist_ok=True)
    return p
