"""What every fit shares: its settings and result, the data on a pyramid of pixel subsets, the
starts, the objective chosen for the data and the flags on the answer.

:class:`Problem` is the data and simulator of one fit on one grid: the full detector or its
exact subset of every f-th pixel of every f-th row (:func:`pixel_strides`). The film search
(:mod:`deepgisas.fit.gradient`) and the orientation fit (:mod:`deepgisas.fit.orientation`)
both build on it; :func:`deepgisas.fit.image.fit_image` chooses between them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import qmc
from torch import Tensor

from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.fill import overfilled, volume_fractions
from deepgisas.fit.objectives import OBJECTIVES
from deepgisas.fit.tensors import FreeTensors
from deepgisas.physics.simulate import Structure, simulate_tensors
from deepgisas.priors import LogUniform, Uniform, bound_flag
from deepgisas.simulation import detector_mask
from deepgisas.templates import Template

EDGE = 1e-3  # starts are kept this far inside the unit box


Start = Mapping[str, float]


@dataclass
class FitResult:
    """The outcome of a fit. Parameters and standard deviations are physical (the file's units,
    named as in the template); ``fitted`` is s I + b on the image's grid (NaN where masked)."""

    parameters: dict[str, float]
    std: dict[str, float]
    misfit: float
    seconds: float
    fitted: np.ndarray
    scale: float = 1.0
    background: float = 0.0
    method: str = "laplace"
    theta: np.ndarray = field(default_factory=lambda: np.zeros(0))  # normalised optimum [P]
    start_misfits: list[float] = field(default_factory=list)  # per start, when screened
    extra: dict = field(default_factory=dict)  # e.g. the orientation distribution

    def to_dict(self, image: str) -> dict:
        """The contract's JSON record (plus scale, background, method and extras); a standard
        deviation the curvature could not give is null."""
        std = {k: (v if np.isfinite(v) else None) for k, v in self.std.items()}
        return {"image": image, "parameters": self.parameters, "std": std,
                "misfit": self.misfit, "seconds": self.seconds, "method": self.method,
                "scale": self.scale, "background": self.background, **self.extra}


@dataclass(frozen=True)
class FitConfig:
    """Search settings (defaults suit 32 to 1024 pixel detectors on a CPU)."""

    n_starts: int = 256  # prior points screened without a start (centre + Sobol points)
    n_fill: int = 4  # with a start that lacks names: that many prior points fill them in
    n_polish: int = 8  # best screened prior starts raced by Levenberg-Marquardt (coarsest level)
    n_polish_given: int = 2  # the same with given starts (e.g. a network's)
    race: int = 8  # iterations between halvings of the race
    race_given: int = 2  # the same with given starts
    carry: int = 3  # distinct best candidates carried from each coarse level to the next
    # (the last coarse level hands its best to the full detector)
    orders: tuple[float, ...] = ()  # the last coarse level also tries its best with the
    # structure's spacing (a lattice constant, a paracrystal's distance) times these, e.g.
    # (2, 0.5): off by default, as it cost 65 % more time for 1 search failure in 116 fewer
    # (docs/statistics.md)
    profile: int = 64  # after the search, the structure's spacing at this many points of
    # its prior on the full detector (float32), every other parameter at a quarter as many, the
    # rest held; a deeper valley found there is polished (0: off;
    # deepgisas.fit.valleys.parameter_profiles)
    relax: int = 32  # the spacing's profile again at this many points with every other
    # parameter fitted too (a likelihood objective; 0: off;
    # deepgisas.fit.valleys.relaxed_profile): its other valleys join the polished ones, and
    # its points within a level's deviance widen the spacing's interval
    intervals: bool = True  # a likelihood fit's 68 and 95 % profile-likelihood intervals
    # (extra["intervals"], deepgisas.fit.intervals)
    seed: int = 0
    coarse_side: int = 32  # the coarsest pixel subset keeps at least this many rows/columns
    max_iter: int = 30  # Levenberg-Marquardt Jacobians per level
    tol: float = 0.1  # stop when every step is below tol standard deviations (finest level;
    coarse_tol: float = 0.5  # coarser levels stop at coarse_tol)
    floor: float = 1e-3  # c = floor x 99th percentile of the data
    fd_step: float = 1e-5  # finite-difference step of the Jacobian (float64), normalised units
    spread: int = 4  # damped steps tried at once (one batch) when a Gauss-Newton step fails,
    # on the coarse levels (one at a time on the full detector, where simulations cost most)
    reuse: float = 1.0  # keep d I / d theta (Broyden-updated) for one more step when the step
    # left is below this many standard deviations (deepgisas.fit.levenberg.levenberg_marquardt)
    float64: bool = False  # coarse levels in float64 too (else float32 with a 1e-3 step)
    explore: bool = True  # with given starts, also search from the prior; keep the best
    posterior_seconds: float = 10.0  # orientation fits on counts: the posterior's sampling
    posterior_extend: float = 15.0  # ... and up to this much more while it has not settled
    progress: bool = False  # a progress bar (on stderr) while the orientation posterior samples
    objective: str = "auto"  # poisson | gaussian | log; auto: poisson for counts, else log
    variance: float | None = None  # gaussian: the data's variance (None: max(D, 1) for
    # counts, else one common variance estimated from the residuals)

    def __post_init__(self) -> None:
        counts = ("n_starts", "n_fill", "n_polish", "n_polish_given", "race", "race_given",
                  "carry", "coarse_side", "max_iter", "spread")
        low = [k for k in counts if getattr(self, k) < 1]
        if low:
            raise UserError(f"fit settings {', '.join(low)} must be at least 1")
        positive = ("tol", "coarse_tol", "floor", "fd_step", "posterior_seconds")
        if any(not getattr(self, k) > 0 for k in positive):
            raise UserError(f"fit settings {', '.join(positive)} must be positive")
        if min(self.reuse, self.posterior_extend, self.profile, self.relax) < 0:
            raise UserError("fit settings reuse, posterior_extend, profile and relax must not be "
                            "negative")
        if self.objective not in ("auto", *OBJECTIVES):
            raise UserError(f"unknown objective {self.objective!r} (auto, "
                            f"{', '.join(OBJECTIVES)})", "--objective")
        if self.variance is not None and not self.variance > 0:
            raise UserError(f"the variance must be positive, got {self.variance}",
                            "--variance")


def pixel_strides(template: Template, side: int) -> list[int]:
    """Pixel-subset strides from coarse to fine: powers of 2 keeping >= side rows and columns."""
    rows, cols = template.base.detector.shape
    out = [1]
    while min(rows, cols) // (2 * out[0]) >= side:
        out.insert(0, 2 * out[0])
    return out


def _subset_geometry(st: Structure, base: dict[str, Tensor], stride: int
                     ) -> tuple[Structure, dict[str, Tensor]]:
    """The structure and geometry tensors of the pixels (stride m + o) in both axes,
    o = stride // 2, exactly those of the full detector (same directions). A spherical
    detector's subset is computed from the full detector (``Structure.subset``: its pixels'
    directions depend on their own widths, BornAgain 25's); a flat detector's is a detector of
    pixels stride times as large centred on them (the same directions; solid angles stride^2
    as large, a constant the free scale absorbs)."""
    rows, cols = st.shape
    o = stride // 2
    shape = (len(range(o, rows, stride)), len(range(o, cols, stride)))
    if st.detector == "spherical":
        return dataclasses.replace(st, shape=shape, subset=(rows, cols, stride)), base
    out = dict(base)
    out["pixel_mm"] = base["pixel_mm"] * stride
    out["center_px"] = 0.5 - (o + 0.5 - base["center_px"]) / stride
    return dataclasses.replace(st, shape=shape), out


class Problem:
    """Data and simulator of one fit on one grid: the full detector (f = 1) or its subset of
    every f-th pixel of every f-th row. (The simulator itself halves the work of a
    mirror-symmetric pattern on the full detector,
    :func:`deepgisas.physics.simulate.mirror_symmetric`; a subset's columns are not
    symmetric about phi_f = 0, so it simulates all of them.)

    ``pixels``: the unmasked pixels fitted, as flat indices into the full detector [N];
    ``source``: where each is in the simulated grid ``st.shape``, flat [N]."""

    def __init__(self, free: FreeTensors, data: np.ndarray, floor: float, f: int,
                 dtype: torch.dtype, objective: str = "log",
                 variance: np.ndarray | None = None) -> None:
        rows, cols = free.structure.shape
        o = f // 2
        st, base = free.structure, free.base
        if f > 1:
            st, base = _subset_geometry(st, base, f)
        self.st: Structure = dataclasses.replace(st, roi=None, masks=())
        self.free = _cast(FreeTensors(self.st, base, free.params, free.fixed), dtype)
        r, c = np.arange(o, rows, f)[:, None], np.arange(o, cols, f)[None, :]
        pixels = (r * cols + c).reshape(-1)
        d = data.reshape(-1)[pixels]
        keep = np.isfinite(d)
        self.pixels = torch.from_numpy(pixels[keep])
        self.source = torch.from_numpy(np.flatnonzero(keep))
        self.c = floor
        self.logd = torch.log(torch.from_numpy(d[keep]).clamp_min(0) + floor).to(dtype)
        self.dtype = dtype
        self.objective = objective  # deepgisas.fit.objectives.terms
        self.data = torch.from_numpy(d[keep]).double()
        self.variance = (None if variance is None else
                         torch.from_numpy(variance.reshape(-1)[pixels][keep]).double())

    def simulate(self, theta: Tensor) -> Tensor:
        """[B, N] over the fitted pixels for normalised theta [B, P]."""
        return self.pick(self.free(theta.to(self.dtype)))

    def simulate_tensors(self, params: dict[str, Tensor]) -> Tensor:
        return simulate_tensors(self.st, params)

    def pick(self, images: Tensor) -> Tensor:
        """The fitted pixels [B, N] of simulated images [B, *st.shape]."""
        return images.reshape(images.shape[0], -1)[:, self.source]


def _cast(free: FreeTensors, dtype: torch.dtype) -> FreeTensors:
    cdt = torch.complex64 if dtype == torch.float32 else torch.complex128
    return FreeTensors(free.structure, {k: (v.to(cdt) if v.is_complex() else v.to(dtype))
                                        for k, v in free.base.items()}, free.params,
                       free.fixed)


def admissible(template: Template, free: FreeTensors, theta: np.ndarray) -> np.ndarray:
    """Which rows of normalised values ``theta`` [S, P] the template's draws could give
    (:meth:`~deepgisas.templates.Template.accepts`: its constraints hold and the particles do
    not overfill their slice; parameters held at their value, the others not fitted at their
    prior's centre), [S] bool."""
    draws: dict[str, Any] = {q.path: np.atleast_1d(q.prior.from_unit(theta[:, i]))
                             for i, q in enumerate(free.params)}
    draws.update({p: [v] * len(theta) for p, v in free.fixed.items()})
    return template.accepts(draws, len(theta))


def prior_points(template: Template, free: FreeTensors, n: int, seed: int) -> np.ndarray:
    """The prior centre and n - 1 scrambled Sobol points of the unit box [n, P], restricted to
    where the template's draws could lie (:func:`admissible`): the first admissible ones of
    the same Sobol sequence (all of them when none is)."""
    p = len(free.params)
    sobol = qmc.Sobol(p, scramble=True, seed=seed)
    rows = np.concatenate([np.full((1, p), 0.5), sobol.random(n)[:n - 1]]) if n > 1 else \
        np.full((1, p), 0.5)
    ok = admissible(template, free, rows)
    if ok.all():
        return rows
    more = np.concatenate([rows[:1], qmc.Sobol(p, scramble=True, seed=seed).random(
        1 << int(np.ceil(np.log2(8 * n))))])
    keep = more[admissible(template, free, more)][:n]
    return keep if len(keep) else rows


def starts(template: Template, free: FreeTensors, start: Start | Sequence[Start] | None,
            cfg: FitConfig) -> np.ndarray:
    """Normalised starts [S, P]. Without ``start``: the prior centre and n_starts - 1 seeded
    prior draws. With starts (one dict or a list): each start once per fill, the names it
    lacks (e.g. nuisance a network does not predict) taken from the first n_fill of those
    prior points (the centre first); a start that lacks nothing appears once."""
    n = max(cfg.n_starts, cfg.n_fill, 1)
    prior = prior_points(template, free, n, cfg.seed)
    if start is None:
        return prior[:max(cfg.n_starts, 1)]
    given = [start] if isinstance(start, Mapping) else list(start)
    index = {**{q.name: i for i, q in enumerate(free.params)},
             **{q.path: i for i, q in enumerate(free.params)}}
    rows = []
    for s in given:
        known = {index[k]: float(free.params[index[k]].prior.to_unit(float(v)))
                 for k, v in s.items() if k in index}
        for k in range(max(cfg.n_fill, 1) if len(known) < len(free.params) else 1):
            row = prior[k].copy()
            for i, v in known.items():
                row[i] = v
            rows.append(row)
    return np.stack(rows)


def network_starts(network: dict[str, Any], template: Template,
                   config: FitConfig | None = None, n: int = 4) -> list[dict[str, float]]:
    """Starts from a parameter model's prediction: its mean, then its ``modes`` (a flow
    model's densest draws) if it gives them, then draws from the Gaussian (mean, std), n in
    all, clipped to the priors; the nuisance parameters it does not predict are filled in
    from prior points by :func:`fit_image`."""
    labels = LabelSpace.of(template)
    priors = {labels.short[p]: prior for p, prior in template.priors.items()}
    rng = np.random.default_rng((config or FitConfig()).seed)
    mean, std = network["parameters"], network.get("std", {})

    def clip(k: str, x: float) -> float:
        prior = priors.get(k)
        if isinstance(prior, Uniform | LogUniform):
            return float(np.clip(x, prior.lo, prior.hi))
        return float(x)

    out = [{k: clip(k, v) for k, v in mean.items()}]
    out += [{k: clip(k, v) for k, v in mode.items()} for mode in network.get("modes", [])]
    out = out[:max(n, 1)]
    for _ in range(n - len(out)):
        out.append({k: clip(k, v + std.get(k, 0.0) * rng.standard_normal())
                    for k, v in mean.items()})
    return out


def is_counts(data: np.ndarray) -> bool:
    """True when the finite values of ``data`` are non-negative integers (detector counts)."""
    d = data[np.isfinite(data)]
    return bool(d.size) and bool((d >= 0).all()) and bool(np.all(d == np.round(d)))


def choose_objective(data: np.ndarray, asked: str) -> tuple[str, str]:
    """The objective for ``data`` and why: "auto" is "poisson" for counts, "gaussian" (one
    variance estimated from the residuals) for data with negative values (background-subtracted,
    kept with ``keep_negative``) and "log" otherwise (scaled or resampled data); "poisson" on
    data that are not counts is a UserError."""
    counts = is_counts(data)
    finite = data[np.isfinite(data)]
    if asked == "auto" and (finite < 0).any():
        return "gaussian", ("the image has negative values (background-subtracted): chi^2 "
                            "with one variance estimated from the residuals")
    if asked == "auto":
        return (("poisson", "the image holds counts (non-negative integers)") if counts else
                ("log", "the image does not hold counts (scaled, resampled or "
                        "background-subtracted): the robust log misfit"))
    if asked == "poisson" and not counts:
        d = data[np.isfinite(data)]
        what = ("negative values" if (d < 0).any() else "values that are not integers")
        raise UserError(f"the Poisson objective needs counts, and the image has {what} "
                        "(resampled through an instrument, scaled or background-subtracted?):"
                        " use --objective gaussian or log")
    return asked, "asked for"


AT_BOUND = 0.01  # a fitted value this close to a prior's bound (fraction of its width) is flagged


def flag_bounds(result: FitResult, free: FreeTensors,
                template: Template | None = None) -> FitResult:
    """Mark every parameter within ``AT_BOUND`` of its prior's bound in
    ``result.extra["at_bound"]`` (:func:`deepgisas.priors.bound_flag`) and set its std to NaN
    (null in the JSON): the optimum sits on the edge of the box, where the curvature does not
    give an error; the value is a limit, not a measurement.

    With ``template``: an answer outside the template's draws is marked too (the search is not
    constrained): ``extra["outside_constraints"]``, the constraints it breaks, and
    ``extra["overfilled"]``, the volume fraction of particles that overfill their slice
    (BornAgain 25 refuses such a sample, :mod:`deepgisas.fill`)."""
    if template is not None and len(result.theta) == len(free.params):
        flag_outside(result, free, template)
    at = {}
    for q in free.params:
        flag = bound_flag(q.prior, result.parameters[q.name], AT_BOUND)
        if flag is not None:
            at[q.name] = flag
            result.std[q.name] = float("nan")
    if at:
        result.extra["at_bound"] = at
    return result


def masked(template: Template, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """A float64 copy of ``image`` with NaN wherever it is not fitted: outside the template's
    ROI, under its masks, where ``mask`` is False, and where the image is not finite. An image
    of another shape than the template's detector is a UserError."""
    data = np.array(image, dtype=np.float64)
    if data.shape != template.base.detector.shape:
        raise UserError(f"image is {data.shape[0]} x {data.shape[1] if data.ndim > 1 else 1}, "
                        f"the template's detector is {template.base.detector.shape[0]} x "
                        f"{template.base.detector.shape[1]}")
    keep = detector_mask(template.base) & np.isfinite(data)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    data[~keep] = np.nan
    return data



def flag_outside(result: FitResult, free: FreeTensors, template: Template) -> None:
    """Record in ``result.extra`` the constraints the fitted values break and their volume
    fraction when they overfill the particles' slice (see :func:`flag_bounds`)."""
    theta = np.asarray(result.theta, dtype=np.float64)[None, :]
    if bool(admissible(template, free, theta)[0]):
        return
    draws: dict[str, Any] = {q.path: [float(q.prior.from_unit(theta[0, i]))]
                             for i, q in enumerate(free.params)}
    draws.update({p: [v] for p, v in free.fixed.items()})
    values = template.constraint_inputs(draws, 1)
    broken = [c.text for c in template.constraints if not bool(np.all(c.holds(values)))]
    if broken:
        result.extra["outside_constraints"] = broken
    if bool(overfilled(template.base, draws, 1)[0]):
        f = volume_fractions(template.base, draws, 1)
        assert f is not None
        result.extra["overfilled"] = float(f[0])
