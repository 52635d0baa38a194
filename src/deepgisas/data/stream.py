"""On-the-fly training data: batches simulated from a template's priors while training runs.

Seeding: global batch ``g`` draws from ``SeedSequence(seed, spawn_key=(0, g))``. With ``S``
streams (DataLoader workers x distributed ranks), stream ``s`` makes batches ``start + s``,
``start + s + S``, ..., so every worker and rank sees its own data, a DataLoader yields the
batches in order, and a run resumed at batch ``start`` continues exactly. The validation set
draws from ``SeedSequence(H, (1, i))``, where ``H`` is a hash of the template: the same
template gives the same validation set in every run, and it never coincides with training data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from deepgisas.data.augment import to_network_input
from deepgisas.data.labels import LabelSpace, record
from deepgisas.errors import UserError
from deepgisas.simulation import simulate_batch
from deepgisas.templates import Template, draw_parameters, instantiate

Augment = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def template_hash(template: Template) -> int:
    """A stable 63-bit integer from the template's canonical JSON (for validation seeds)."""
    text = json.dumps(template.to_dict(), sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


@dataclass(frozen=True)
class Clean:
    """Simulated, un-augmented patterns with their draws and labels."""

    intensity: np.ndarray  # float32 [n, H, W], NaN where the detector is masked
    draws: dict[str, list]  # path -> drawn values (templates.draw_parameters)
    labels: dict[str, np.ndarray]  # LabelSpace.encode: "dist" [n, bins] and/or "theta" [n, P]


def simulate_draws(template: Template, n: int, seed: np.random.SeedSequence | int,
                   labels: LabelSpace | None = None, dtype: torch.dtype = torch.float64,
                   device: str | torch.device = "cpu") -> Clean:
    """Draw ``n`` experiments from ``template`` with ``seed``, simulate them and label them."""
    labels = labels or LabelSpace.of(template)
    draws = draw_parameters(template, n, seed)
    exps = instantiate(template, draws) if draws else [template.base] * n
    inten = simulate_batch(exps, device=device, dtype=dtype).astype(np.float32)
    return Clean(inten, draws, labels.encode(draws))


def to_batch(intensity: np.ndarray, labels: dict[str, np.ndarray],
             params: dict[str, np.ndarray], augment: Augment | None, gen: torch.Generator,
             device: str | torch.device = "cpu", mask_channel: bool = True
             ) -> dict[str, torch.Tensor]:
    """A training batch from clean intensities [n, H, W] (NaN = masked pixel).

    Returns ``x`` float32 [n, C, H', W']: the augmented image, and with ``mask_channel`` the
    mask (1 = measured) as a second channel (an augmentation may also return [n, C, H', W']
    itself); the labels (``dist``, ``theta``); and every drawn number as ``p:PATH``.
    """
    x = torch.from_numpy(np.ascontiguousarray(intensity, dtype=np.float32)).to(device)
    mask = torch.isfinite(x)
    x = torch.where(mask, x, 0.0)
    if augment is not None:
        x, mask = augment(x, mask, gen)
    if x.dim() == 3:
        x = to_network_input(x, mask, mask_channel)
    batch = {"x": x.float()}
    batch.update({k: torch.from_numpy(v).to(device) for k, v in labels.items()})
    batch.update({f"p:{k}": torch.from_numpy(v).to(device) for k, v in params.items()})
    return batch


def stream_id() -> tuple[int, int]:
    """(this stream's index, number of streams) over distributed ranks x DataLoader workers."""
    info = get_worker_info()
    wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
    rank, world = 0, 1
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    return rank * nw + wid, world * nw


def generator(ss: np.random.SeedSequence, device: str | torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(int(ss.generate_state(1, np.uint64)[0]))
    return gen


class SimulatedStream(IterableDataset):
    """An endless (or ``n_batches`` long) stream of simulated, augmented, labelled batches.

    With ``repeats`` = k, a batch holds batch_size / k simulations, each augmented k times
    (different noise, crop, beam stop, ...): k times less simulation per image, for training
    that outruns the simulator. ``params=False`` leaves out the drawn numbers (``p:PATH``),
    which training does not use: 2 tensors to hand over from a worker instead of about 10.

    Use it with ``DataLoader(stream, batch_size=None, num_workers=K)``: it yields whole
    batches, each worker and each distributed rank its own stream.
    """

    def __init__(self, template: Template, batch_size: int = 16, seed: int = 0,
                 augment: Augment | None = None, n_batches: int | None = None,
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu",
                 mask_channel: bool = True, start: int = 0, repeats: int = 1,
                 params: bool = True) -> None:
        super().__init__()
        if repeats < 1:
            raise UserError(f"repeats must be >= 1, got {repeats}")
        self.mask_channel, self.start, self.repeats = mask_channel, start, repeats
        self.params = params
        self.template, self.batch_size, self.seed = template, batch_size, seed
        self.augment, self.n_batches, self.dtype, self.device = augment, n_batches, dtype, device
        self.labels = LabelSpace.of(template)

    def batch(self, ss: np.random.SeedSequence) -> dict[str, torch.Tensor]:
        n = -(-self.batch_size // self.repeats)
        clean = simulate_draws(self.template, n, ss, self.labels, self.dtype, self.device)

        def tile(a: np.ndarray) -> np.ndarray:
            return np.repeat(a, self.repeats, axis=0)[: self.batch_size]

        return to_batch(tile(clean.intensity), {k: tile(v) for k, v in clean.labels.items()},
                        {k: tile(v) for k, v in record(clean.draws).items()} if self.params
                        else {}, self.augment,
                        generator(ss.spawn(1)[0], self.device), self.device,
                        self.mask_channel)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        sid, n_streams = stream_id()
        g = self.start + sid  # n_batches counts from batch 0, over all streams
        while self.n_batches is None or g < self.n_batches:
            yield self.batch(np.random.SeedSequence(self.seed, spawn_key=(0, g)))
            g += n_streams


def validation_batches(template: Template, n: int, batch_size: int = 64,
                       augment: Augment | None = None, dtype: torch.dtype = torch.float64,
                       device: str | torch.device = "cpu", mask_channel: bool = True
                       ) -> list[dict[str, torch.Tensor]]:
    """The fixed validation set of a template: ``n`` patterns in batches, identical in every
    run of the same template (seeded by its hash), augmentation included."""
    labels = LabelSpace.of(template)
    h = template_hash(template)
    out = []
    for i, start in enumerate(range(0, n, batch_size)):
        ss = np.random.SeedSequence(h, spawn_key=(1, i))
        clean = simulate_draws(template, min(batch_size, n - start), ss, labels, dtype, device)
        out.append(to_batch(clean.intensity, clean.labels, record(clean.draws), augment,
                            generator(ss.spawn(1)[0], device), device, mask_channel))
    return out
