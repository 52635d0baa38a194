"""The model card: what a model directory's ``card.json`` holds, validated at construction.

The card names the architecture, its input channels and outputs, the head, the input
transform (:class:`~deepgisas.data.preprocess.InputSpec`'s dict), the template it was trained
for and the label space, and records how it was trained and validated. Unknown keys are
refused; every card written since the format began reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from deepgisas.errors import UserError, unknown_key
from deepgisas.models.heads import flow_config

FORMAT = "deepgisas-model/1"
HeadKind = Literal["distribution", "gaussian", "flow"]
HEADS: tuple[str, ...] = get_args(HeadKind)
REQUIRED = ("arch", "in_chans", "num_outputs", "head", "input", "template")


@dataclass(frozen=True)
class ModelCard:
    """A model's card. ``head``: "distribution" (an orientation model's softmax over the xi
    bins), "gaussian" or "flow" (parameter models; a flow has its ``flow`` section).
    ``training`` and ``validation`` are the run's records (JSON objects)."""

    arch: str
    in_chans: int
    num_outputs: int
    head: HeadKind
    input: dict[str, Any]
    template: dict[str, Any]
    flow: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise UserError(f"unknown head {self.head!r} in the card")
        if (self.flow is not None) != (self.head == "flow"):
            raise UserError("a flow head and the card's 'flow' section go together")
        for key in ("in_chans", "num_outputs"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserError(f"{key} must be a positive integer, got {v!r}")
        if not isinstance(self.arch, str):
            raise UserError(f"arch must be a name, got {self.arch!r}")
        for key in ("input", "template", "training", "validation"):
            if not isinstance(getattr(self, key), dict):
                raise UserError(f"the card's {key!r} must be a JSON object")
        if self.flow is not None:
            flow_config(self.flow)

    @classmethod
    def from_dict(cls, d: Any, where: str = "card.json") -> ModelCard:
        """A card from its JSON object: the format, the keys it must have, no unknown key."""
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            raise UserError(f"not a {FORMAT} card", where)
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise UserError(f"the card has no {missing[0]!r}", where)
        known = {f.name for f in fields(cls)} | {"format"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(unknown_key(unknown[0], sorted(known), " in the card"), where)
        try:
            return cls(**{k: v for k, v in d.items() if k != "format"})
        except UserError as exc:
            raise exc.located(where) from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (``format`` first; empty optional sections left out)."""
        out: dict[str, Any] = {"format": FORMAT}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = v
        return out
