"""Heads: what a network's raw outputs say about its labels, chosen once from the label
space (:func:`head_for`).

Every head has the :class:`Head` interface: the batch key of its labels (``target``: "dist"
or "theta"), its training ``loss(out, batch)``, its validation ``figures(out, truth)`` and
what it says of each image, ``decode(out)``.

- :class:`DistributionHead` (card ``head: distribution``): an orientation model's softmax
  over the xi bins; loss KL(true || predicted) or the circular earth mover's distance.

A parameter model's head turns the outputs into a posterior over the labels in the unit box
(``LabelSpace.encode``), with ``nll(out, theta)`` (per sample), ``sample(out, n)`` and
``mean_std(out)`` besides:

- :class:`GaussianHead` (card ``head: gaussian``): the outputs are a mean and a log-std per
  label, independent Gaussians. Cheap, but it cannot show correlated or two-valued answers.
- :class:`FlowHead` (card ``head: flow``): the outputs are a context vector that conditions a
  neural spline flow (zuko's ``NSF``; Durkan et al. 2019) over all labels jointly, as in
  neural posterior estimation (sbi; Zhdanov et al. 2022 for GISAXS). Its weights are part
  of the model's state dict (``posterior.*``) and its shape is in the card (``flow``), so
  loading builds it from numbers and never runs stored code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from deepgisas.errors import UserError
from deepgisas.models.losses import circular_emd, coverage, distribution_figures, kl_divergence

SAMPLES = 256  # draws behind a flow's mean and std
FLOW_DEFAULTS: dict[str, Any] = {"context": 32, "transforms": 3, "hidden": [64, 64]}
LOG_STD_MIN, LOG_STD_MAX = -7.0, 2.0  # std of a unit-box parameter: 1e-3 to 7


def split_gaussian(out: Tensor) -> tuple[Tensor, Tensor]:
    """Raw head outputs [B, 2P] -> (mean [B, P], std [B, P]) in the unit box."""
    mean, log_std = out.chunk(2, dim=-1)
    return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()


def gaussian_nll(out: Tensor, target: Tensor) -> Tensor:
    """Gaussian negative log-likelihood per sample [B], summed over parameters."""
    mean, std = split_gaussian(out)
    z = (target - mean) / std
    return torch.sum(0.5 * z * z + torch.log(std) + 0.5 * math.log(2 * math.pi), dim=-1)


class Head(Protocol):
    """What a network's outputs mean: ``kind`` (the card's ``head``), ``target`` (the batch
    key of the labels it learns), the training loss (a scalar, the batch mean), the
    validation figures of outputs ``out`` [N, outputs] against labels ``truth``, and the
    decoded outputs (its ``target`` key, and "std" for a posterior)."""

    kind: str
    target: str

    def loss(self, out: Tensor, batch: Mapping[str, Tensor]) -> Tensor: ...

    def figures(self, out: Tensor, truth: Tensor) -> dict[str, float]: ...

    def decode(self, out: Tensor) -> dict[str, Tensor]: ...


class DistributionHead:
    """An orientation model's head: a softmax over the xi bins. ``loss``: "kl"
    (KL(true || predicted)) or "emd" (circular earth mover's distance, deg)."""

    kind = "distribution"
    target = "dist"

    def __init__(self, loss: str = "kl") -> None:
        self.metric = loss

    def loss(self, out: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        logp = torch.log_softmax(out, -1)
        if self.metric == "emd":
            return circular_emd(logp.exp(), batch["dist"]).mean()
        return kl_divergence(batch["dist"], logp).mean()

    def figures(self, out: Tensor, truth: Tensor) -> dict[str, float]:
        """KL, circular EMD (deg) and the KL of the folded distributions."""
        return distribution_figures(truth, torch.softmax(out, -1))

    def decode(self, out: Tensor) -> dict[str, Tensor]:
        """``{"dist": [B, bins]}``: the probabilities."""
        return {"dist": torch.softmax(out, -1)}


class _Posterior:
    """What the parameter heads share: the Gaussian NLL-style loss and figures from ``nll``
    and ``mean_std``."""

    target = "theta"

    def nll(self, out: Tensor, theta: Tensor) -> Tensor:
        raise NotImplementedError

    def mean_std(self, out: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def loss(self, out: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        return self.nll(out, batch["theta"]).mean()

    def figures(self, out: Tensor, truth: Tensor) -> dict[str, float]:
        """NLL, mean absolute error in the unit box and the coverage of +-1 and +-2 std (a
        flow's mean and std from draws)."""
        mean, std = self.mean_std(out)
        return {"nll": self.nll(out, truth).mean().item(),
                "mae_unit": (mean - truth).abs().mean().item(),
                "within_1std": coverage(mean, std, truth, 1.0).mean().item(),
                "within_2std": coverage(mean, std, truth, 2.0).mean().item()}

    def decode(self, out: Tensor) -> dict[str, Tensor]:
        """``{"theta": [B, P], "std": [B, P]}``: the posterior mean and std (unit box)."""
        mean, std = self.mean_std(out)
        return {"theta": mean, "std": std}


class GaussianHead(_Posterior):
    """Independent Gaussians: outputs [B, 2P] = (mean, log std)."""

    kind = "gaussian"

    def nll(self, out: Tensor, theta: Tensor) -> Tensor:
        return gaussian_nll(out, theta)

    def mean_std(self, out: Tensor) -> tuple[Tensor, Tensor]:
        return split_gaussian(out)

    def sample(self, out: Tensor, n: int) -> Tensor:
        """[n, B, P] draws."""
        mean, std = split_gaussian(out)
        return mean + std * torch.randn((n, *mean.shape), dtype=mean.dtype,
                                        device=mean.device)


class FlowHead(_Posterior, nn.Module):
    """A conditional neural spline flow over the P labels given the context [B, C].

    The unit box is mapped to [-2, 2] (x = 4 (theta - 1/2)), inside the splines' domain."""

    kind = "flow"

    def __init__(self, features: int, context: int, transforms: int = 3,
                 hidden: tuple[int, ...] | list[int] = (64, 64)) -> None:
        super().__init__()
        import zuko

        self.features, self.context = features, context
        self.flow = zuko.flows.NSF(features, context, transforms=transforms,
                                   hidden_features=tuple(hidden))

    def nll(self, out: Tensor, theta: Tensor) -> Tensor:
        x = 4.0 * (theta - 0.5)
        return -(self.flow(out).log_prob(x) + self.features * math.log(4.0))

    def sample(self, out: Tensor, n: int) -> Tensor:
        """[n, B, P] draws (torch's global generator: fork and seed it for repeatable ones)."""
        return self.flow(out).sample((n,)) / 4.0 + 0.5

    def sample_and_log_prob(self, out: Tensor, n: int,
                            base: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """[n, B, P] draws and their log density [n, B] in the unit box, from one pass (without
        the second pass through the flow that :meth:`log_prob` would take). Without ``base``:
        the same draws as :meth:`sample` from the same generator state. With ``base`` [n, P]
        (standard normal draws): every image maps the same base draws, so an image's answer
        does not depend on the batch it came in."""
        dist = self.flow(out)
        if base is None:
            x, logp = dist.rsample_and_log_prob((n,))
        else:
            if base.shape != (n, self.features):
                raise ValueError(f"base draws must be [{n}, {self.features}], not "
                                 f"{list(base.shape)}")
            z = base.to(out.device, out.dtype)[:, None].expand(n, out.shape[0], self.features)
            x, ladj = dist.transform.inv.call_and_ladj(z)
            if ladj.dim() > 2:  # per-feature terms (zuko's "reinterpreted" dimensions)
                ladj = ladj.flatten(2).sum(-1)
            logp = dist.base.log_prob(z) - ladj
        return x / 4.0 + 0.5, logp + self.features * math.log(4.0)

    def log_prob(self, out: Tensor, theta: Tensor) -> Tensor:
        """log density of theta [..., B, P] in the unit box."""
        return self.flow(out).log_prob(4.0 * (theta - 0.5)) + self.features * math.log(4.0)

    def mean_std(self, out: Tensor, n: int = SAMPLES) -> tuple[Tensor, Tensor]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            s = self.sample(out, n)
        return s.mean(0), s.std(0)


def flow_config(flow: Mapping[str, Any] | None) -> dict[str, Any]:
    """The flow's shape from a card's ``flow`` section (defaults filled in), checked."""
    cfg = {**FLOW_DEFAULTS, **(flow if isinstance(flow, Mapping) else {})}
    ok = (isinstance(cfg["context"], int) and cfg["context"] > 0
          and isinstance(cfg["transforms"], int) and cfg["transforms"] > 0
          and isinstance(cfg["hidden"], list) and all(isinstance(h, int) and h > 0
                                                       for h in cfg["hidden"]))
    if not ok or not isinstance(cfg.get("features"), int) or cfg["features"] < 1:
        raise UserError(f"the card's flow is malformed: {flow!r}")
    return cfg


def attach_head(net: nn.Module, head: str, flow: Mapping[str, Any] | None = None) -> None:
    """Give ``net`` the posterior module of its ``head`` (a flow: ``net.posterior``, shaped by
    the card's ``flow`` section)."""
    if head == "flow":
        cfg = flow_config(flow)
        net.posterior = FlowHead(cfg["features"], cfg["context"], cfg["transforms"],
                                 cfg["hidden"])


def head_of(net: nn.Module, head: str) -> GaussianHead | FlowHead:
    """The posterior head of a parameter model (``head``: "gaussian" or "flow")."""
    if head == "flow":
        posterior = getattr(net, "posterior", None)
        if not isinstance(posterior, FlowHead):
            raise UserError("a flow model without its flow")
        return posterior
    return GaussianHead()


def head_for(net: nn.Module, head: str, loss: str = "kl") -> Head:
    """The head of a network whose card names ``head`` (an orientation model's with its
    training ``loss``, "kl" or "emd")."""
    return DistributionHead(loss) if head == "distribution" else head_of(net, head)
