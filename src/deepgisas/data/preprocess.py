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
    BeamStop,
    Compose,
    DeadStrip,
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
    ``mask_channel``: a second input channel marking measured pixels; ``bin_counts``: crop and
    bin the counts (sum over ``downsample`` blocks) *first*, then scale, count (Poisson), stop
    and log at the binned resolution.

    ``bin_counts`` is what a detector with bigger pixels records: Poisson noise of a block sum is
    exact, the log sees counts summed over the block (less noise than the mean of per-pixel
    logs at low counts), and the augmentation draws 8x fewer Poisson numbers for a 4 x 2 block.
    The beam stop and dead strip shrink with the blocks. Only the talk's pipeline supports it.
    ``scale``: the log10 range of the intensity scale (exposure x flux) drawn per image, the
    talk's (-2, 2) by default. ``jitter``: the training crop stays within this many pixels of
    the centre window (None: anywhere, as in the talk; see :class:`RandomCrop`).
    """

    augment: str = "talk"
    crop: tuple[int, int] = (224, 224)
    downsample: tuple[int, int] = (1, 1)
    mask_channel: bool = True
    bin_counts: bool = False
    scale: tuple[float, float] = (-2.0, 2.0)
    jitter: int | None = None

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
        object.__setattr__(self, "bin_counts", bool(self.bin_counts))
        sc = tuple(float(a) for a in self.scale)
        if len(sc) != 2 or not sc[0] <= sc[1] or not all(abs(a) < 30 for a in sc):
            raise UserError(f"scale must be a log10 range LO <= HI, got {self.scale}")
        object.__setattr__(self, "scale", sc)
        if self.jitter is not None:
            if isinstance(self.jitter, bool) or int(self.jitter) != self.jitter or self.jitter < 0:
                raise UserError(f"jitter must be an integer >= 0, got {self.jitter!r}")
            object.__setattr__(self, "jitter", int(self.jitter))
        if self.bin_counts and self.augment != "talk":
            raise UserError(f"bin_counts works with the talk augmentation, not {self.augment!r}")

    @property
    def in_chans(self) -> int:
        return 2 if self.mask_channel else 1

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.crop[0] // self.downsample[0], self.crop[1] // self.downsample[1])

    def _tail(self) -> tuple:
        return (Downsample(self.downsample),) if self.downsample != (1, 1) else ()

    def _binned(self, steps: tuple, center: bool) -> Compose:
        fr, fc = self.downsample

        def shrink(rng: tuple[int, int], f: int) -> tuple[int, int]:  # floor, ceil
            return (max(1, rng[0] // f), max(1, -(-rng[1] // f)))

        out: list = [RandomCrop(self.crop, center=center, jitter=self.jitter),
                     Downsample(self.downsample, "sum")]
        for st in steps:
            if isinstance(st, RandomCrop):
                continue
            if isinstance(st, BeamStop):
                st = BeamStop(shrink(st.width_px, fc), shrink(st.height_px, fr))
            elif isinstance(st, DeadStrip):
                st = DeadStrip(shrink(st.width_px, fc))
            out.append(st)
        return Compose(tuple(out))

    def train(self, center: bool = False) -> Compose:
        """The training augmentation (``center``: centre crop, for the validation set)."""
        make = talk_pipeline if self.augment == "talk" else detector_pipeline
        if self.bin_counts:
            return self._binned(make(crop=None, scale=self.scale).steps, center)
        steps = make(crop=self.crop, center_crop=center, scale=self.scale).steps
        steps = tuple(RandomCrop(st.size, st.center, self.jitter) if isinstance(st, RandomCrop)
                      else st for st in steps)
        return Compose((*steps[:-1], *self._tail(), steps[-1]))  # downsample, then standardise

    def predict(self) -> Compose:
        """Measured images: centre crop, log(x + 0.1), downsample, standardise (the crop goes
        first: the log is per pixel, so this equals the training order, on fewer pixels)."""
        if self.bin_counts:
            return Compose((RandomCrop(self.crop, center=True), Downsample(self.downsample, "sum"),
                            Log(), Standardize()))
        return Compose((RandomCrop(self.crop, center=True), Log(), *self._tail(), Standardize()))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Any) -> InputSpec:
        keys = {"augment", "crop", "downsample", "mask_channel", "bin_counts", "scale",
                "jitter"}
        if not isinstance(d, dict) or set(d) - keys:
            raise UserError(f"not an input specification: {d!r}")
        base = cls()
        return cls(str(d.get("augment", base.augment)), tuple(d.get("crop", base.crop)),
                   tuple(d.get("downsample", base.downsample)),
                   bool(d.get("mask_channel", base.mask_channel)),
                   bool(d.get("bin_counts", base.bin_counts)),
                   tuple(d.get("scale", base.scale)), d.get("jitter", base.jitter))


def default_input(shape: tuple[int, int], arch: str, crop: Any = None, downsample: Any = None,
                  augment: str = "talk", mask_channel: bool = True, bin_counts: bool = False,
                  scale: Any = (-2.0, 2.0), jitter: int | None = None) -> InputSpec:
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
    return InputSpec(augment, crop, downsample, mask_channel, bin_counts, tuple(scale), jitter)
