"""The model registry: models are built by name, and all share one interface.

Each registered function returns a :class:`~deepgisas.models.nets.Net` built from a small set
of architecture arguments; ``create_model(name, in_chans, num_outputs)`` builds one.
"""

from __future__ import annotations

from collections.abc import Callable

from deepgisas.errors import UserError
from deepgisas.models.nets import Net

_MODELS: dict[str, Callable[..., Net]] = {}


def register_model(fn: Callable[..., Net]) -> Callable[..., Net]:
    """Decorator: register ``fn(in_chans, num_outputs) -> Net`` under its name."""
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, in_chans: int = 1, num_outputs: int = 120) -> Net:
    """Build the registered model ``name`` for ``in_chans`` input channels and ``num_outputs``
    outputs (no pretrained weights)."""
    if name not in _MODELS:
        raise UserError(f"unknown architecture {name!r} (known: {', '.join(list_models())})")
    return _MODELS[name](in_chans=in_chans, num_outputs=num_outputs)
