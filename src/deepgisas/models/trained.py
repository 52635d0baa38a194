"""A trained model as one object: its network, its card, and what the card implies (the
template, the labels, the input transform, the head)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepgisas.data.labels import LabelSpace
from deepgisas.data.preprocess import InputSpec
from deepgisas.models.card import ModelCard
from deepgisas.models.heads import Head, head_for
from deepgisas.models.nets import Net
from deepgisas.models.store import load_model
from deepgisas.templates import Template, parse_template


@dataclass(frozen=True)
class TrainedModel:
    """A trained network with its card and what the card implies. ``kind``:
    "distribution" (an orientation model), "gaussian" or "flow" (parameter models)."""

    net: Net
    card: ModelCard
    template: Template
    labels: LabelSpace
    spec: InputSpec
    name: str

    @property
    def kind(self) -> str:
        return self.card.head

    @property
    def head(self) -> Head:
        """The model's head (:class:`~deepgisas.models.heads.Head`): its label key, loss and
        figures; a parameter model's posterior besides."""
        return head_for(self.net, self.kind)

    @classmethod
    def load(cls, name_or_dir: str | Path,
             net_and_card: tuple[Net, ModelCard] | None = None) -> TrainedModel:
        """A bundled model by name or a model directory (or its already loaded network and
        card)."""
        net, card = net_and_card or load_model(name_or_dir)
        template = parse_template(card.template, "model card")
        return cls(net, card, template, LabelSpace.of(template), InputSpec.from_dict(card.input),
                   card.name or Path(str(name_or_dir)).name)
