"""A model's input: how detector images become network input, in one place.

The same :class:`InputSpec` makes the training augmentation, the validation transform (the
same random steps, seeded, with a centre crop) and the prediction transform for measured
images (log, centre crop, downsample, standardise: no noise added). It is stored in the model
card, so a trained model always sees its images the way it was trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from deepgisas.data.augment import (
    Compose,
    Downsample,
    Log,
    RandomCrop,
    Standardize,
    detector_pipeline,
    talk_pipeline,
)
from deepgisas.errors import UserError

PIPELINES = ("talk", "detector")


@dataclass(frozen=True)
class InputSpec:
    """``augment``: the training augmentation ("talk" or "detector"); ``crop``: window
    (rows, cols) taken from the detector image; ``downsample``: block averaging after the crop;
    ``mask_channel``: a second input channel marking measured pixels."""

    augment: str = "talk"
    crop: tuple[int, int] = (224, 224)
    downsample: tuple[int, int] = (1, 1)
    mask_channel: bool = True

    def __post_init__(self) -> None:
        if self.augment not in PIPELINES:
            raise UserError(f"unknown augmentation {self.augment!r} ({', '.join(PIPELINES)})")
        for name in ("crop", "downsample"):
            v = tuple(int(a) for a in getattr(self, name))
            if len(v) != 2 or min(v) < 1:
                raise UserError(f"{name} must be two positive integers, got {v}")
            object.__setattr__(self, name, v)
        if self.crop[0] % self.downsample[0] or self.crop[1] % self.downsample[1]:
            raise UserError(f"crop {self.crop} is not a multiple of downsample {self.downsample}")

    @property
    def in_chans(self) -> int:
        return 2 if self.mask_channel else 1

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.crop[0] // self.downsample[0], self.crop[1] // self.downsample[1])

    def _tail(self) -> tuple:
        return (Downsample(self.downsample),) if self.downsample != (1, 1) else ()

    def train(self, center: bool = False) -> Compose:
        """The training augmentation (``center``: centre crop, for the validation set)."""
        make = talk_pipeline if self.augment == "talk" else detector_pipeline
        steps = make(crop=self.crop, center_crop=center).steps
        return Compose((*steps[:-1], *self._tail(), steps[-1]))  # downsample, then standardise

    def predict(self) -> Compose:
        """Measured images: centre crop, log(x + 0.1), downsample, standardise (the crop goes
        first: the log is per pixel, so this equals the training order, on fewer pixels)."""
        return Compose((RandomCrop(self.crop, center=True), Log(), *self._tail(), Standardize()))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Any) -> InputSpec:
        if not isinstance(d, dict) or set(d) - {"augment", "crop", "downsample", "mask_channel"}:
            raise UserError(f"not an input specification: {d!r}")
        base = cls()
        return cls(str(d.get("augment", base.augment)), tuple(d.get("crop", base.crop)),
                   tuple(d.get("downsample", base.downsample)),
                   bool(d.get("mask_channel", base.mask_channel)))


def default_input(shape: tuple[int, int], arch: str, crop: Any = None, downsample: Any = None,
                  augment: str = "talk", mask_channel: bool = True) -> InputSpec:
    """An input specification for a detector ``shape`` and an architecture: a crop of 7/8 of
    the image (the talk's 256 -> 224), averaged down to about the architecture's designed
    input size; ``crop`` and ``downsample`` override."""
    from deepgisas.models import create_model

    rows, cols = shape
    target = create_model(arch, 1, 1).input_size
    if crop is None:
        crop = (rows - rows // 8, cols - cols // 8)
    crop = (int(crop[0]), int(crop[1]))
    if crop[0] > rows or crop[1] > cols:
        raise UserError(f"crop {crop} is larger than the detector {shape}")
    if downsample is None:
        downsample = (max(1, round(crop[0] / target[0])), max(1, round(crop[1] / target[1])))
    downsample = (int(downsample[0]), int(downsample[1]))
    crop = (crop[0] - crop[0] % downsample[0], crop[1] - crop[1] % downsample[1])
    return InputSpec(augment, crop, downsample, mask_channel)
