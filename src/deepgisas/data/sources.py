"""Where a training run's batches come from: shards on disk, posterior targets, a replay
buffer of simulations, or simulations made on the fly."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import IterableDataset

from deepgisas.data.posterior_targets import PosteriorStream
from deepgisas.data.preprocess import InputSpec
from deepgisas.data.replay import BufferedStream
from deepgisas.data.shard_dataset import ShardDataset
from deepgisas.data.stream import SimulatedStream
from deepgisas.errors import UserError
from deepgisas.templates import Template


def training_stream(template: Template, spec: InputSpec, batch_size: int, seed: int,
                    start: int, dtype: torch.dtype, data: str | Path | None = None,
                    targets: str = "labels", buffer: int | None = None,
                    repeats: int = 1, orientation: bool = False) -> IterableDataset:
    """The stream of training batches, from batch ``start`` on (a resumed run's): the shards
    in ``data`` (a resumed run starts a new order), posterior targets (orientation labels
    only), a replay ``buffer`` of simulations, or simulations made on the fly; batches carry
    labels without every drawn number (fewer tensors to hand over)."""
    if data is not None:
        stream = ShardDataset(data, batch_size, augment=spec.train(), seed=seed + start,
                              epochs=None, mask_channel=spec.mask_channel, params=False)
        if stream.template != template:
            raise UserError("the shards were made from another template", str(data))
        return stream
    if targets == "posterior":
        if not orientation:
            raise UserError("posterior targets are for orientation labels only")
        return PosteriorStream(template, spec, batch_size, seed, pool=min(16, batch_size),
                               start=start, dtype=dtype)
    if buffer is not None:
        return BufferedStream(template, buffer, batch_size, seed, augment=spec.train(),
                              dtype=dtype, mask_channel=spec.mask_channel, start=start,
                              params=False)
    return SimulatedStream(template, batch_size, seed, augment=spec.train(),
                           mask_channel=spec.mask_channel, start=start, repeats=repeats,
                           dtype=dtype, params=False)
