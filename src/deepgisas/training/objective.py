"""What a training run optimises and reports, by head: the head's kind and output count from
the label space, the batch loss and the validation figures."""

from __future__ import annotations

import torch

from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.models import Net
from deepgisas.models.card import Head
from deepgisas.models.heads import FLOW_DEFAULTS, FlowHead, GaussianHead
from deepgisas.training.evaluation import dist_figures
from deepgisas.training.losses import circular_emd, coverage, kl_divergence


def head_kind(labels: LabelSpace, head: str = "auto") -> tuple[Head, int]:
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


def batch_loss(kind: str, loss: str, out: torch.Tensor, batch: dict,
               head: GaussianHead | FlowHead | None = None) -> torch.Tensor:
    if kind == "distribution":
        logp = torch.log_softmax(out, -1)
        if loss == "emd":
            return circular_emd(logp.exp(), batch["dist"]).mean()
        return kl_divergence(batch["dist"], logp).mean()
    return (head or GaussianHead()).nll(out, batch["theta"]).mean()


@torch.no_grad()
def evaluate(net: Net, kind: str, batches: list[dict],
             head: GaussianHead | FlowHead | None = None) -> dict[str, float]:
    """Validation figures: KL, circular EMD (deg) and folded KL; or NLL, mean absolute error
    in the unit box and the coverage of +-1 and +-2 std (a flow's mean and std from draws)."""
    net.eval()
    outs = torch.cat([net(b["x"]) for b in batches])
    if kind == "distribution":
        return dist_figures(torch.cat([b["dist"] for b in batches]), torch.softmax(outs, -1))
    head = head or GaussianHead()
    truth = torch.cat([b["theta"] for b in batches])
    mean, std = head.mean_std(outs)
    return {"nll": head.nll(outs, truth).mean().item(),
            "mae_unit": (mean - truth).abs().mean().item(),
            "within_1std": coverage(mean, std, truth, 1.0).mean().item(),
            "within_2std": coverage(mean, std, truth, 2.0).mean().item()}
