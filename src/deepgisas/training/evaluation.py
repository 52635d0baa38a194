"""The figures a model card reports on its fixed validation set, with baselines.

Orientation models: mean KL(true || predicted), circular EMD (deg) and KL of the folded
distributions, against two baselines that ignore the image: the uniform distribution and the
mean training label (the average of labels drawn from the prior).
Parameter models: per parameter, the median relative error in physical units, the mean absolute
error in the unit box, and the coverage of +-1 std and +-2 std (0.683 and 0.954 if calibrated).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from deepgisas.data.labels import LabelSpace, xi_histogram
from deepgisas.models import Net
from deepgisas.models.heads import FlowHead, GaussianHead, Head
from deepgisas.models.losses import coverage, distribution_figures
from deepgisas.templates import Template, draw_parameters


@torch.no_grad()
def card_figures(net: Net, template: Template, batches: list[dict],
                 head: Head, n_prior: int = 4000) -> dict[str, Any]:
    """Validation figures of ``net`` (whose head is ``head``) on ``batches`` (from
    ``validation_batches``)."""
    net.eval()
    labels = LabelSpace.of(template)
    outs = torch.cat([net(b["x"]) for b in batches]).double()
    if labels.orientation is not None:
        truth = torch.cat([b["dist"] for b in batches]).double()
        p = torch.softmax(outs, -1)
        uniform = torch.full_like(truth, 1.0 / truth.shape[1])
        drawn = draw_parameters(template, n_prior, seed=12345)[labels.orientation]
        mean_label = torch.from_numpy(xi_histogram(drawn, labels.bins).mean(0)).double()
        return {"model": distribution_figures(truth, p),
                "baseline_uniform": distribution_figures(truth, uniform),
                "baseline_mean_label": distribution_figures(truth, mean_label.expand_as(truth))}
    truth = torch.cat([b["theta"] for b in batches]).double()
    assert isinstance(head, GaussianHead | FlowHead)
    mean, std = head.mean_std(outs.float())
    mean, std = mean.double(), std.double()
    phys_true = labels.decode(truth.numpy())
    phys_pred = labels.decode(mean.numpy())
    out: dict[str, Any] = {}
    c1, c2 = coverage(mean, std, truth, 1.0), coverage(mean, std, truth, 2.0)
    for i, name in enumerate(labels.names):
        rel = np.abs(phys_pred[name] - phys_true[name]) / np.abs(phys_true[name])
        prior_rel = np.abs(np.median(phys_true[name]) - phys_true[name]) / np.abs(phys_true[name])
        out[name] = {"median_relative_error": float(np.median(rel)),
                     "baseline_median_relative_error": float(np.median(prior_rel)),
                     "mae_unit": float((mean[:, i] - truth[:, i]).abs().mean()),
                     "within_1std": float(c1[i]), "within_2std": float(c2[i])}
    return out
