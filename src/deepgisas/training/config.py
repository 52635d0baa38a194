"""The configuration of a training run, validated at construction, and its learning-rate
schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, get_args, get_origin, get_type_hints

from deepgisas.data.preprocess import InputSpec
from deepgisas.errors import UserError
from deepgisas.models import list_models


@dataclass(frozen=True)
class TrainConfig:
    """A training run's settings; a ``Literal`` field takes only its listed values."""

    arch: str = "compact"
    minutes: float = 10.0
    max_steps: int | None = None  # stop earlier after this many steps
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    steps_per_epoch: int = 25
    val_size: int = 128
    loss: Literal["kl", "emd"] = "kl"  # orientation labels
    head: Literal["auto", "gaussian", "flow"] = "auto"  # numeric labels ("auto" = "gaussian")
    targets: Literal["labels", "posterior"] = "labels"  # orientation: the true labels, or
    # their posteriors given the counts (data/posterior_targets.py; on the fly, binned counts)
    seed: int = 0
    workers: int = 1
    repeats: int = 4  # augmented views per simulation (on-the-fly data)
    buffer: int | None = None  # on the fly from a replay buffer of this many patterns per
    # data stream (data/replay.py): no waiting, a reported reuse factor, no bit-for-bit resume
    precision: Literal["float32", "float64"] = "float32"  # of the on-the-fly simulation (both
    # match BornAgain to 1e-3)
    checkpoint_minutes: float = 5.0
    data: str | None = None  # a generation folder (shards) instead of simulation on the fly
    init_from: str | None = None  # a model (dir or bundled name): start from its backbone
    init_head: bool = False  # ... and from its head too (a curriculum stage; same outputs)
    input: InputSpec = field(default_factory=InputSpec)

    def __post_init__(self) -> None:
        if self.arch not in list_models():
            raise UserError(f"unknown architecture {self.arch!r} (known: "
                            f"{', '.join(list_models())})")
        for name, hint in get_type_hints(TrainConfig).items():
            if get_origin(hint) is Literal and getattr(self, name) not in get_args(hint):
                choices = " or ".join(str(c) for c in get_args(hint))
                raise UserError(f"{name} must be {choices}, got {getattr(self, name)!r}",
                                setting=name)
        if self.targets == "posterior" and (self.data is not None or self.buffer is not None):
            raise UserError("posterior targets are made on the fly, not from shards or a "
                            "replay buffer")
        if self.minutes <= 0 or self.batch_size < 1 or self.steps_per_epoch < 1:
            raise UserError("minutes, batch size and steps per epoch must be positive")
        if self.buffer is not None:
            if self.data is not None:
                raise UserError("a replay buffer is for data made on the fly, not shards")
            if self.buffer < self.batch_size:
                raise UserError(f"the buffer ({self.buffer}) must hold at least a batch "
                                f"({self.batch_size})")


def lr_at(step: int, cfg: TrainConfig, total: int) -> float:
    """Linear warm-up, then cosine decay to 1 % at ``total`` steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))
