"""Model directories: safetensors weights and a JSON card; loading never unpickles anything.

A model directory holds ``model.safetensors`` (the network's state dict) and ``card.json``
(architecture, input specification, labels, template, training figures). Bundled models live
in the package under ``deepgisas/models/bundled/NAME``.
"""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path

import torch

from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write
from deepgisas.io.text import read_json
from deepgisas.models.card import ModelCard
from deepgisas.models.heads import attach_head
from deepgisas.models.nets import Net
from deepgisas.models.registry import create_model

WEIGHTS, CARD = "model.safetensors", "card.json"


def bundled_models() -> list[str]:
    folder = resources.files("deepgisas") / "models" / "bundled"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


_SHADOWED: set[str] = set()  # bundled names already warned about in this process


def model_dir(name_or_path: str | Path) -> Path:
    """The folder of a bundled model name or a model directory path."""
    s = str(name_or_path)
    if s in bundled_models() and not Path(s).exists():
        return Path(str(resources.files("deepgisas") / "models" / "bundled" / s))
    p = Path(s)
    if s in bundled_models() and p.is_dir() and s not in _SHADOWED:
        _SHADOWED.add(s)
        warnings.warn(f"{s}: using the model directory ./{s}, not the bundled model {s!r} "
                      f"(give ./{s} to silence this, or run elsewhere)", stacklevel=2)
    if not p.is_dir():
        known = ", ".join(bundled_models()) or "none"
        raise UserError(f"no such model directory, and not a bundled model ({known})", s)
    return p


def save_model(folder: str | Path, net: Net, card: ModelCard) -> None:
    """Write the weights and the card atomically (the card last)."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    blob = save(state)
    atomic_write(folder / WEIGHTS, lambda f: f.write(blob))
    text = json.dumps(card.to_dict(), indent=1).encode()
    atomic_write(folder / CARD, lambda f: f.write(text))


def read_card(folder: str | Path) -> ModelCard:
    """The card of a model directory, validated (:class:`~deepgisas.models.card.ModelCard`)."""
    p = Path(folder) / CARD
    data = read_json(p, "model card", "not a model directory (no card.json)", str(folder))
    return ModelCard.from_dict(data, str(p))


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[Net, ModelCard]:
    """A trained network (in eval mode) and its card, from a directory or a bundled name."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    folder = model_dir(name_or_path)
    card = read_card(folder)
    net = create_model(card.arch, card.in_chans, card.num_outputs)
    try:
        attach_head(net, card.head, card.flow)
    except UserError as exc:
        raise exc.located(str(folder / CARD)) from None
    p = folder / WEIGHTS
    try:
        state = load(p.read_bytes())
    except FileNotFoundError:
        raise UserError("missing weights", str(p)) from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"corrupt weights ({exc.__class__.__name__})", str(p)) from None
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise UserError(f"the weights do not fit architecture {card.arch!r}", str(p)) from None
    return net.to(device).eval(), card
