"""The registered architectures (small dicts of architecture arguments)."""

from __future__ import annotations

from deepgisas.models.nets import Net, compact_net, densenet, resnet
from deepgisas.models.registry import register_model


@register_model
def densenet169(in_chans: int = 1, num_outputs: int = 120) -> Net:
    """The talk's network: DenseNet169 (12.5M parameters), 224 x 224 input."""
    return densenet(169, in_chans, num_outputs)


@register_model
def densenet121(in_chans: int = 1, num_outputs: int = 120) -> Net:
    return densenet(121, in_chans, num_outputs)


@register_model
def resnet18(in_chans: int = 1, num_outputs: int = 120) -> Net:
    return resnet(18, in_chans, num_outputs)


@register_model
def compact(in_chans: int = 1, num_outputs: int = 120) -> Net:
    """A small CNN for CPU speed (0.3M parameters), anisotropic 56 x 112 input."""
    return compact_net(in_chans, num_outputs)


@register_model
def rodnet(in_chans: int = 1, num_outputs: int = 120) -> Net:
    """The compact backbone with a head that pools along the Bragg rods (rows) only and keeps
    the 14 feature columns: it sees where in q_y the rods and tails lie (0.5M parameters;
    docs/training.md)."""
    return compact_net(in_chans, num_outputs, pool="rows")
