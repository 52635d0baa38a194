"""The head a training run learns, from the label space, and its validation figures."""

from __future__ import annotations

import torch

from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.models import Net
from deepgisas.models.card import HeadKind
from deepgisas.models.heads import FLOW_DEFAULTS, Head


def head_kind(labels: LabelSpace, head: str = "auto") -> tuple[HeadKind, int]:
    """("distribution", bins), ("gaussian", 2 P) or ("flow", context size)."""
    if labels.orientation is not None and labels.numeric:
        raise UserError("labels mix an orientation and numbers; name one kind in `labels:`")
    if labels.orientation is not None:
        if head == "flow":
            raise UserError("a flow head is for parameter labels, not an orientation")
        return "distribution", labels.bins
    if labels.numeric:
        if head == "flow":
            return "flow", int(FLOW_DEFAULTS["context"])
        return "gaussian", 2 * len(labels.numeric)
    raise UserError("the template has no labels to learn")


@torch.no_grad()
def evaluate(net: Net, head: Head, batches: list[dict]) -> dict[str, float]:
    """The validation figures (:meth:`Head.figures`) of ``net`` on ``batches``."""
    net.eval()
    outs = torch.cat([net(b["x"]) for b in batches])
    return head.figures(outs, torch.cat([b[head.target] for b in batches]))
