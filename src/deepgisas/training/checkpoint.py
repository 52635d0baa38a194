"""Checkpoints: one safetensors file (weights, optimiser moments, RNG state) whose metadata
holds the JSON training state; written atomically, so a killed run leaves the last one whole.
Nothing is unpickled when a checkpoint is read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write

FILE = "checkpoint.safetensors"


def save_checkpoint(folder: Path, net: torch.nn.Module, opt: torch.optim.Optimizer,
                    state: dict[str, Any]) -> None:
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    osd = opt.state_dict()
    for idx, st in osd["state"].items():
        for name, v in st.items():
            tensors[f"opt.{idx}.{name}"] = torch.as_tensor(v).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"state": json.dumps(state), "param_groups": json.dumps(osd["param_groups"])}
    blob = save(tensors, metadata=meta)
    atomic_write(folder / FILE, lambda f: f.write(blob))


def load_checkpoint(folder: Path, net: torch.nn.Module, opt: torch.optim.Optimizer,
                    default: dict[str, Any]) -> dict[str, Any]:
    """Restore net, optimiser and RNG in place; return the training state."""
    from safetensors import SafetensorError, safe_open

    path = folder / FILE
    if not path.exists():
        raise UserError("no checkpoint to resume from", str(path))
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        state = json.loads(meta["state"])
        groups = json.loads(meta["param_groups"])
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise UserError(f"corrupt checkpoint ({exc.__class__.__name__})", str(path)) from None
    try:
        net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    except RuntimeError:
        raise UserError("the checkpoint does not fit this architecture", str(path)) from None
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, name = k.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": opt_state, "param_groups": groups})
    torch.set_rng_state(tensors["rng.torch"])
    return {**default, **state}
