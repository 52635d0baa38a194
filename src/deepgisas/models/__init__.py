"""Networks built by name: ``create_model(name, in_chans, num_outputs)``."""

from deepgisas.models import zoo as _zoo  # noqa: F401  (registers the architectures)
from deepgisas.models.nets import Net
from deepgisas.models.registry import create_model, list_models, register_model

__all__ = ["Net", "create_model", "list_models", "register_model"]
