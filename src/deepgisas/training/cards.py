"""The records a training run keeps of where its model comes from and what it is: starting
from another model's weights, and the model card written at the end."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from deepgisas.data.labels import LabelSpace
from deepgisas.errors import UserError
from deepgisas.models import Net
from deepgisas.models.card import HeadKind, ModelCard
from deepgisas.models.zoo import GROW
from deepgisas.templates import Template
from deepgisas.training.config import TrainConfig
from deepgisas.training.curves import mean_data_wait


def make_card(cfg: TrainConfig, n_out: int, head: HeadKind, flow: dict[str, Any] | None,
              template: Template, labels: LabelSpace, command: str, world: int,
              state: dict[str, Any], last: dict[str, Any]) -> ModelCard:
    """The model card of a finished run (without the validation figures, which need the
    network): architecture, head, input, template, labels, how it was trained, and the last
    epoch's validation row ``last`` (empty on ranks other than 0)."""
    training = {"command": command, "config": _config_dict(cfg), "world_size": world,
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "steps": state["step"], "images": state["step"] * cfg.batch_size * world,
                "seconds": round(state["seconds"], 1), "init_history": _init_history(cfg)}
    if "data_wait" in last:
        training["data_wait"] = mean_data_wait(state["curve"])
    if "reuse" in last:
        training["reuse"] = last["reuse"]
    return ModelCard(
        arch=cfg.arch, in_chans=cfg.input.in_chans, num_outputs=n_out, head=head,
        input=cfg.input.to_dict(), template=template.to_dict(), flow=flow,
        labels={"orientation": labels.orientation, "bins": labels.bins,
                "numeric": list(labels.numeric), "names": labels.names},
        training=training,
        validation={"n": cfg.val_size, **{k: v for k, v in last.items()
                                          if k not in ("data_wait", "reuse")}})


def init_backbone(net: Net, cfg: TrainConfig) -> None:
    """Copy the backbone of model ``cfg.init_from`` into ``net`` (same architecture and input
    channels, or an architecture that grows from it: ``GROW``); ``net`` keeps its own, freshly
    initialised head (transfer learning), or with ``init_head`` takes the model's."""
    from deepgisas.models.store import load_model

    assert cfg.init_from is not None
    source, card = load_model(cfg.init_from)
    grow = GROW.get((card.arch, cfg.arch))
    if (card.arch != cfg.arch and grow is None) or card.in_chans != cfg.input.in_chans:
        raise UserError(f"cannot start from a {card.arch} with {card.in_chans} input "
                        f"channels: training a {cfg.arch} with {cfg.input.in_chans}",
                        cfg.init_from)
    if cfg.init_head:
        if card.num_outputs != net.head.out_features or (
                card.head == "flow") != hasattr(net, "posterior"):
            raise UserError(f"init_head: the model's head ({card.head}, "
                            f"{card.num_outputs} outputs) is not the one trained here",
                            cfg.init_from, setting="init_head")
        if grow is not None:
            grow(source, net, True)
        else:
            net.load_state_dict(source.state_dict())
        return
    if grow is not None:
        grow(source, net, False)
        net.reset_head(net.head.out_features)
        return
    state = {k: v for k, v in source.state_dict().items()
             if not k.startswith(("head.", "posterior."))}
    net.load_state_dict(state, strict=False)
    net.reset_head(net.head.out_features)


def _init_history(cfg: TrainConfig) -> list[dict[str, Any]]:
    """The training records of the model a run starts from, and of its own start, oldest
    first: a curriculum's full recipe stays in the final card."""
    if cfg.init_from is None:
        return []
    from deepgisas.models.store import model_dir, read_card

    card = read_card(model_dir(cfg.init_from))  # the card only: no weights to load again
    tr = card.training
    own = {k: tr.get(k) for k in ("command", "steps", "images", "seconds", "date")}
    own["input"] = card.input
    return [*tr.get("init_history", []), own]


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["input"] = cfg.input.to_dict()
    return d
