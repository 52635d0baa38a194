"""The registered architectures (small dicts of architecture arguments)."""

from __future__ import annotations

from collections.abc import Callable

from deepgisas.models.logq import logq_net
from deepgisas.models.nets import (
    Net,
    compact_net,
    densenet,
    grow_rodprofile,
    resnet,
    rodprofile_net,
)
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
    docs/notes/training-log.md)."""
    return compact_net(in_chans, num_outputs, pool="rows")


@register_model
def rodprofile(in_chans: int = 1, num_outputs: int = 120) -> Net:
    """rodnet plus a branch that keeps the q_y profile at every input column, and a residual
    MLP head (5.9M parameters; docs/notes/training-log.md). Starts from a trained rodnet with
    ``--init-from``."""
    return rodprofile_net(in_chans, num_outputs)


@register_model
def logq(in_chans: int = 1, num_outputs: int = 120) -> Net:
    """Reads the rods on a logarithmic q_y axis, where a change of lattice spacing, particle
    size or wavelength is a translation (0.2M parameters; :mod:`deepgisas.models.logq`)."""
    return logq_net(in_chans, num_outputs)


# (trained architecture, new architecture) -> grow(source, target, head): start the new one
# from the trained one (``train --init-from``), exactly equal in its outputs with ``head``
GROW: dict[tuple[str, str], Callable[[Net, Net, bool], None]] = {
    ("rodnet", "rodprofile"): grow_rodprofile}
