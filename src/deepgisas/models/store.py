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
from typing import Any

import torch

from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write
from deepgisas.io.text import read_json
from deepgisas.models.heads import attach_head
from deepgisas.models.nets import Net
from deepgisas.models.registry import create_model

WEIGHTS, CARD = "model.safetensors", "card.json"
FORMAT = "deepgisas-model/1"


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


def save_model(folder: str | Path, net: Net, card: dict[str, Any]) -> None:
    """Write the weights and the card atomically (the card last)."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    blob = save(state)
    atomic_write(folder / WEIGHTS, lambda f: f.write(blob))
    text = json.dumps({"format": FORMAT, **card}, indent=1).encode()
    atomic_write(folder / CARD, lambda f: f.write(text))


# every key a card has had: unknown ones are refused (a card from elsewhere, or a typo)
CARD_KEYS = frozenset({"format", "name", "arch", "in_chans", "num_outputs", "head", "flow",
                       "input", "template", "labels", "training", "validation"})


def read_card(folder: str | Path) -> dict[str, Any]:
    """The card of a model directory, checked: its format, the keys it must have, no unknown
    key, a known head (with its ``flow`` section exactly when it is a flow) and positive
    channel and output counts."""
    p = Path(folder) / CARD
    card = read_json(p, "model card", "not a model directory (no card.json)", str(folder))
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise UserError(f"not a {FORMAT} card", str(p))
    for key in ("arch", "in_chans", "num_outputs", "input", "head", "template"):
        if key not in card:
            raise UserError(f"the card has no {key!r}", str(p))
    unknown = sorted(set(card) - CARD_KEYS)
    if unknown:
        raise UserError(f"unknown key {unknown[0]!r} in the card (known: "
                        f"{', '.join(sorted(CARD_KEYS))})", str(p))
    if card["head"] not in ("distribution", "gaussian", "flow"):
        raise UserError(f"unknown head {card['head']!r} in the card", str(p))
    if ("flow" in card) != (card["head"] == "flow"):
        raise UserError("a flow head and the card's 'flow' section go together", str(p))
    for key in ("in_chans", "num_outputs"):
        if isinstance(card[key], bool) or not isinstance(card[key], int) or card[key] < 1:
            raise UserError(f"{key} must be a positive integer, got {card[key]!r}", str(p))
    return card


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[Net, dict[str, Any]]:
    """A trained network (in eval mode) and its card, from a directory or a bundled name."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    folder = model_dir(name_or_path)
    card = read_card(folder)
    net = create_model(card["arch"], card["in_chans"], card["num_outputs"])
    attach_head(net, card)
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
        raise UserError(f"the weights do not fit architecture {card['arch']!r}", str(p)) from None
    return net.to(device).eval(), card
