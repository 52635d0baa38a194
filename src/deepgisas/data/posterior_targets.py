"""Orientation training batches whose targets are posteriors instead of the true labels.

A network trained with the KL loss against the true xi distribution w converges, at best, to
E[w | x], the posterior mean. The true label is a noisy draw around it: at the talk's counts
several bins fit a single-domain pattern about equally well, and the label picks one of them at
random. Any target t with E[t | x] = E[w | x] has the same optimum and less noise. This stream
gives such a target for every image, computed exactly from the counts that the network sees.

**The target.** For a mixture of K domains (bins j_k, weights w_k) at intensity scale s, the
Gibbs conditional of domain k's bin, given the counts n of the network's view (cropped and
binned), the nuisance, the weights and the other domains' bins, is

    p_k(j) ∝ exp(Σ_pixels n log mu_kj - Σ_pixels mu_kj),
    mu_kj = s (Σ_{i≠k} w_i B_{j_i} + w_k B_j),

with B_j the single-domain pattern of bin j. The target is Σ_k w_k p_k. Each term is a
conditional expectation of w_k δ_{j_k} given more than the network's input, so by the tower
property E[target | x] = E[w | x]: the optimum is unchanged, and only noise is removed. For one
domain p_1 is the exact Bayes posterior over the bins at the known nuisance. The beam stop and
dead strip are drawn after the counts, independently of the sample, so they do not bias it.

**The data.** The target needs the single-domain patterns B [bins, H, W] at the image's
nuisance: ``bins`` simulations. They are simulated once per nuisance draw (a *basis*) and
shared by many images. A pool of ``pool`` bases is live at a time; each batch takes
``batch_size / pool`` images from every live basis, each with its own xi distribution drawn from
the template's prior, its own crop, scale, counts and beam stop. Every ``refresh`` batches the
oldest basis is replaced. Mixing linear patterns, cropping and binning commute, so the counts are
distributed exactly as in :class:`~deepgisas.data.stream.SimulatedStream` with the talk's binned
augmentation.

Seeding: basis b draws from ``SeedSequence(seed, (2, b))``, batch g from
``SeedSequence(seed, (0, g))``; the live bases of batch g follow from g, so a run resumed at
batch ``start`` continues exactly, and several workers each keep the bases they need.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import IterableDataset

from deepgisas.data._augment_spatial import block_sum, center_window, rand, randint
from deepgisas.data.augment import Compose, Poisson, Scale, to_network_input
from deepgisas.data.labels import LabelSpace
from deepgisas.data.preprocess import InputSpec
from deepgisas.data.stream import generator, stream_id
from deepgisas.errors import UserError
from deepgisas.simulation import simulate_batch
from deepgisas.templates import Template, draw_parameters, instantiate


def gibbs_targets(counts: Tensor, view: Tensor, weights: Tensor, scale: float) -> Tensor:
    """The target Σ_k w_k p_k [bins] (float64) of one image.

    ``counts`` [P]: the image's counts; ``view`` [bins, P]: the single-domain patterns seen as
    the counts are (same crop and bins, intensity scale 1); ``weights`` [bins]: the true xi
    distribution; ``scale``: the intensity scale that multiplies the patterns.

    Each conditional is evaluated relative to the true mixture m = s Σ_i w_i B_{j_i}:
    log-likelihood(j) - log-likelihood(j_k) = Σ n log1p(s w_k (B_j - B_{j_k}) / m)
    - s w_k (T_j - T_{j_k}), T the patterns' totals. The terms vanish near the truth, so float32
    is exact enough where the posterior has its mass (to about 1e-5 in probability).
    """
    w = weights.to(torch.float64)
    idx = torch.nonzero(w > 0).flatten()
    seen = counts > 0  # pixels without counts enter through the totals only
    n, b = counts[seen].float(), view[:, seen].float()
    total = view.to(torch.float64).sum(1)  # [bins]
    mix = scale * (w[idx] @ b[idx].double())  # [P'], > 0 where counts were drawn
    out = torch.zeros(view.shape[0], dtype=torch.float64, device=view.device)
    for j, wk in zip(idx.tolist(), w[idx].tolist(), strict=True):
        f = (scale * wk / mix).float()
        a = (b - b[j]).mul_(f).clamp_(min=-1.0)
        ll = torch.log1p_(a) @ n
        ll = ll.double() - scale * wk * (total - total[j])
        out += wk * torch.softmax(ll, 0)
    return out


class PosteriorStream(IterableDataset):
    """An endless (or ``n_batches`` long) stream of orientation batches: ``x`` as in training,
    and ``dist`` the posterior targets of the module docstring. With ``labels=True`` also
    ``label`` (the true xi distributions), ``counts`` (before the beam stop) and ``scale``.
    Use it as :class:`SimulatedStream` is used."""

    def __init__(self, template: Template, spec: InputSpec, batch_size: int = 32,
                 seed: int = 0, pool: int = 16, refresh: int = 8,
                 n_batches: int | None = None, dtype: torch.dtype = torch.float32,
                 start: int = 0, labels: bool = False) -> None:
        super().__init__()
        self.space = LabelSpace.of(template)
        if self.space.orientation is None or self.space.numeric:
            raise UserError("posterior targets are for orientation labels only")
        self.path: str = self.space.orientation
        if not spec.bin_counts or spec.augment != "talk":
            raise UserError("posterior targets need the talk augmentation with binned counts "
                            "(--bin-counts)")
        if pool < 1 or refresh < 1 or batch_size < pool:
            raise UserError(f"need 1 <= pool <= batch size and refresh >= 1, got pool {pool}, "
                            f"refresh {refresh}, batch size {batch_size}")
        steps = spec.train().steps
        i = next(k for k, st in enumerate(steps) if isinstance(st, Poisson))
        if not isinstance(steps[i - 1], Scale):
            raise AssertionError("the binned talk pipeline scales just before counting")
        self.tail = Compose(tuple(steps[i + 1:]))  # beam stop, dead strip, log, standardise
        self.template, self.spec, self.batch_size, self.seed = template, spec, batch_size, seed
        self.pool, self.refresh, self.n_batches, self.dtype = pool, refresh, n_batches, dtype
        self.start, self.labels = start, labels
        self._bases: dict[int, Tensor] = {}
        self._binned: dict[tuple[int, int, int], Tensor] = {}

    def live(self, g: int) -> list[int]:
        """Ids of the bases live at batch ``g``."""
        last = self.pool - 1 + g // self.refresh
        return list(range(last - self.pool + 1, last + 1))

    def basis(self, b: int) -> Tensor:
        """Single-domain patterns [bins, H, W] (float32) of basis ``b``'s nuisance draw."""
        if b not in self._bases:
            draws = draw_parameters(self.template, 1, np.random.SeedSequence(
                self.seed, spawn_key=(2, b)))
            one = {k: v * self.space.bins for k, v in draws.items()}
            one[self.path] = [{"xi_deg": [float(x)], "weights": [1.0]}
                              for x in self.space.xi_deg()]
            mu = simulate_batch(instantiate(self.template, one), dtype=self.dtype)
            if not np.isfinite(mu).all():
                raise UserError("posterior targets need a detector without masked pixels")
            self._bases[b] = torch.from_numpy(mu.astype(np.float32))
        return self._bases[b]

    def binned(self, b: int, row: int, col: int) -> Tensor:
        """Basis ``b`` summed over the input's blocks, the blocks starting at pixel (row, col):
        a crop whose corner lies on that phase is a slice of it."""
        key = (b, row, col)
        if key not in self._binned:
            fr, fc = self.spec.downsample
            full = self.basis(b)[:, row:, col:]
            h, w = full.shape[-2] // fr * fr, full.shape[-1] // fc * fc
            self._binned[key] = block_sum(full[:, :h, :w], fr, fc)
        return self._binned[key]

    def batch(self, g: int) -> dict[str, Tensor]:
        ids = self.live(g)
        for b in [b for b in self._bases if b not in ids]:
            del self._bases[b]
        for key in [key for key in self._binned if key[0] not in ids]:
            del self._binned[key]
        ss = np.random.SeedSequence(self.seed, spawn_key=(0, g))
        orient = draw_parameters(self.template, self.batch_size, ss)[self.path]
        truth = torch.from_numpy(self.space.encode({self.path: orient})["dist"])
        gen = generator(ss.spawn(1)[0], "cpu")
        (ch, cw), (fr, fc), (h, w) = (self.spec.crop, self.spec.downsample,
                                      self.basis(ids[0]).shape[-2:])
        if ch > h or cw > w:
            raise UserError(f"crop {ch} x {cw} is larger than the image {h} x {w}")
        n, cpu = self.batch_size, torch.device("cpu")
        rs, cs = center_window((h, w), (ch, cw))
        j = self.spec.jitter
        top = (randint(gen, n, 0, h - ch, cpu) if j is None
               else randint(gen, n, max(0, rs.start - j), min(h - ch, rs.start + j), cpu))
        left = (randint(gen, n, 0, w - cw, cpu) if j is None
                else randint(gen, n, max(0, cs.start - j), min(w - cw, cs.start + j), cpu))
        lo, hi = self.spec.scale
        scale = 10.0 ** (rand(gen, n, cpu, torch.float64) * (hi - lo) + lo)
        counts, targets = [], []
        for i in range(n):
            t, lf = int(top[i]), int(left[i])
            view = self.binned(ids[i % self.pool], t % fr, lf % fc)[
                :, t // fr:(t + ch) // fr, lf // fc:(lf + cw) // fc].reshape(self.space.bins, -1)
            clean = truth[i] @ view
            c = torch.poisson((float(scale[i]) * clean.double()).float(), generator=gen)
            counts.append(c)
            targets.append(gibbs_targets(c, view, truth[i], float(scale[i])))
        raw = torch.stack(counts).reshape(n, ch // fr, cw // fc)
        x, mask = self.tail(raw, torch.ones_like(raw, dtype=torch.bool), gen)
        out = {"x": to_network_input(x, mask, self.spec.mask_channel).float(),
               "dist": torch.stack(targets).float()}
        if self.labels:
            out.update(label=truth, counts=raw, scale=scale)
        return out

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        sid, n_streams = stream_id()
        g = self.start + sid
        while self.n_batches is None or g < self.n_batches:
            yield self.batch(g)
            g += n_streams
