"""Training on simulations made on the fly: a time budget, validation every epoch, learning
curves (CSV + PNG), atomic checkpoints, and a model directory at the end.

The head follows the template's labels: a softmax over the xi bins (loss KL or circular EMD)
for an orientation label; for numeric labels a mean and a log-std per label (Gaussian NLL), or
with ``head="flow"`` a context vector and a conditional normalising flow over all labels
(its negative log-likelihood; deepgisas.models.heads).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from deepgisas.data.labels import LabelSpace
from deepgisas.data.prefetch import Prefetcher
from deepgisas.data.preprocess import InputSpec
from deepgisas.data.replay import take_counts
from deepgisas.data.sources import training_stream
from deepgisas.data.stream import validation_batches
from deepgisas.errors import UserError
from deepgisas.models import Net, create_model, list_models
from deepgisas.models.heads import FLOW_DEFAULTS, FlowHead, GaussianHead, attach_head, head_of
from deepgisas.models.store import save_model
from deepgisas.models.zoo import GROW
from deepgisas.templates import Template
from deepgisas.training.callbacks import (
    Callback,
    Checkpointer,
    CurveWriter,
    ProgressBar,
    TensorBoardLogger,
)
from deepgisas.training.checkpoint import load_checkpoint
from deepgisas.training.curves import mean_data_wait
from deepgisas.training.evaluation import card_figures, dist_figures
from deepgisas.training.losses import circular_emd, coverage, kl_divergence


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "compact"
    minutes: float = 10.0
    max_steps: int | None = None  # stop earlier after this many steps
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    steps_per_epoch: int = 25
    val_size: int = 128
    loss: str = "kl"  # orientation labels: "kl" or "emd"
    head: str = "auto"  # numeric labels: "auto" (= "gaussian") or "flow"
    targets: str = "labels"  # orientation: the true labels, or their posteriors given the
    # counts (data/posterior_targets.py; on the fly, binned counts)
    seed: int = 0
    workers: int = 1
    repeats: int = 4  # augmented views per simulation (on-the-fly data)
    buffer: int | None = None  # on the fly from a replay buffer of this many patterns per
    # data stream (data/replay.py): no waiting, a reported reuse factor, no bit-for-bit resume
    precision: str = "float32"  # of the on-the-fly simulation (both match BornAgain to 1e-3)
    checkpoint_minutes: float = 5.0
    data: str | None = None  # a generation folder (shards) instead of simulation on the fly
    init_from: str | None = None  # a model (dir or bundled name): start from its backbone
    init_head: bool = False  # ... and from its head too (a curriculum stage; same outputs)
    input: InputSpec = field(default_factory=InputSpec)

    def __post_init__(self) -> None:
        if self.arch not in list_models():
            raise UserError(f"unknown architecture {self.arch!r} (known: "
                            f"{', '.join(list_models())})")
        if self.precision not in ("float32", "float64"):
            raise UserError(f"precision must be float32 or float64, got {self.precision!r}")
        if self.loss not in ("kl", "emd"):
            raise UserError(f"loss must be kl or emd, got {self.loss!r}")
        if self.head not in ("auto", "gaussian", "flow"):
            raise UserError(f"head must be auto, gaussian or flow, got {self.head!r}")
        if self.targets not in ("labels", "posterior"):
            raise UserError(f"targets must be labels or posterior, got {self.targets!r}")
        if self.targets == "posterior" and (self.data is not None or self.buffer is not None):
            raise UserError("posterior targets are made on the fly, not from shards or a "
                            "replay buffer")
        if self.minutes <= 0 or self.batch_size < 1 or self.steps_per_epoch < 1:
            raise UserError("minutes, batch size and steps per epoch must be positive")
        if self.buffer is not None:
            if self.data is not None:
                raise UserError("a replay buffer is for data made on the fly, not shards")
            if self.buffer < self.batch_size:
                raise UserError(f"the buffer ({self.buffer}) must hold at least a batch "
                                f"({self.batch_size})")


def head_kind(labels: LabelSpace, head: str = "auto") -> tuple[str, int]:
    """("distribution", bins), ("gaussian", 2 P) or ("flow", context size)."""
    if labels.orientation is not None and labels.numeric:
        raise UserError("labels mix an orientation and numbers; name one kind in `labels:`")
    if labels.orientation is not None:
        if head == "flow":
            raise UserError("a flow head is for parameter labels, not an orientation")
        return "distribution", labels.bins
    if labels.numeric:
        if head == "flow":
            return "flow", int(FLOW_DEFAULTS["context"])
        return "gaussian", 2 * len(labels.numeric)
    raise UserError("the template has no labels to learn")


def batch_loss(kind: str, loss: str, out: torch.Tensor, batch: dict,
               head: GaussianHead | FlowHead | None = None) -> torch.Tensor:
    if kind == "distribution":
        logp = torch.log_softmax(out, -1)
        if loss == "emd":
            return circular_emd(logp.exp(), batch["dist"]).mean()
        return kl_divergence(batch["dist"], logp).mean()
    return (head or GaussianHead()).nll(out, batch["theta"]).mean()


@torch.no_grad()
def evaluate(net: Net, kind: str, batches: list[dict],
             head: GaussianHead | FlowHead | None = None) -> dict[str, float]:
    """Validation figures: KL, circular EMD (deg) and folded KL; or NLL, mean absolute error
    in the unit box and the coverage of +-1 and +-2 std (a flow's mean and std from draws)."""
    net.eval()
    outs = torch.cat([net(b["x"]) for b in batches])
    if kind == "distribution":
        return dist_figures(torch.cat([b["dist"] for b in batches]), torch.softmax(outs, -1))
    head = head or GaussianHead()
    truth = torch.cat([b["theta"] for b in batches])
    mean, std = head.mean_std(outs)
    return {"nll": head.nll(outs, truth).mean().item(),
            "mae_unit": (mean - truth).abs().mean().item(),
            "within_1std": coverage(mean, std, truth, 1.0).mean().item(),
            "within_2std": coverage(mean, std, truth, 2.0).mean().item()}


def lr_at(step: int, cfg: TrainConfig, total: int) -> float:
    """Linear warm-up, then cosine decay to 1 % at ``total`` steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def train_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, batches: Iterator[dict], cfg: TrainConfig,
                state: dict[str, Any], kind: str, head: Any, dev: torch.device,
                counts: dict[int, tuple[int, int]]) -> tuple[list[float], float]:
    """``cfg.steps_per_epoch`` optimiser steps on the next batches (the learning rate by
    :func:`lr_at`, AMP on CUDA), advancing ``state["step"]``; the replay counts of the batches
    go into ``counts``. Returns the losses and the share of the time spent waiting for data."""
    model.train()
    losses = []
    waited, t_epoch = 0.0, time.perf_counter()
    for _ in range(cfg.steps_per_epoch):
        total = state["total_steps"] or 10**9
        for g in opt.param_groups:
            g["lr"] = lr_at(state["step"], cfg, total)
        t_wait = time.perf_counter()
        raw = next(batches)
        waited += time.perf_counter() - t_wait
        take_counts(raw, counts)
        batch = {k: v.to(dev, non_blocking=True) for k, v in raw.items()}
        with torch.autocast(dev.type, enabled=dev.type == "cuda"):
            loss = batch_loss(kind, cfg.loss, model(batch["x"]).float(), batch, head)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
        state["step"] += 1
    return losses, waited / (time.perf_counter() - t_epoch)  # of the steps, not validation


def _distributed() -> tuple[int, int]:
    """(rank, world size); joins the process group that ``torchrun`` describes, if any."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not torch.distributed.is_available():
        return 0, 1
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return torch.distributed.get_rank(), world


def _agree(value: float, world: int, op: str = "max") -> float:
    """The same number on every rank (max over ranks, or rank 0's)."""
    if world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if op == "max":
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    else:
        torch.distributed.broadcast(t, 0)
    return float(t.item())


def train(template: Template, out: str | Path, cfg: TrainConfig, resume: bool = False,
          command: str = "", progress: bool = True, device: str | None = None
          ) -> dict[str, Any]:
    """Train a network for ``template``; returns the card written to ``out``.

    Under ``torchrun`` (WORLD_SIZE > 1) every rank trains on its own data stream with
    DistributedDataParallel, and rank 0 validates and writes files. AMP is used on CUDA.
    """
    out = Path(out)
    rank, world = _distributed()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", rank % torch.cuda.device_count())
    labels = LabelSpace.of(template)
    kind, n_out = head_kind(labels, cfg.head)
    torch.manual_seed(cfg.seed)
    net = create_model(cfg.arch, cfg.input.in_chans, n_out)
    head_card: dict[str, Any] = {"head": kind}
    if kind == "flow":
        head_card["flow"] = {**FLOW_DEFAULTS, "features": len(labels.numeric)}
        attach_head(net, head_card)
    head = head_of(net, head_card) if kind != "distribution" else None
    if kind == "flow" and world > 1:  # its weights live outside DistributedDataParallel's
        raise UserError("a flow head trains in one process (no torchrun)")
    if cfg.init_from is not None:
        init_backbone(net, cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state: dict[str, Any] = {"step": 0, "seconds": 0.0, "total_steps": cfg.max_steps,
                             "curve": []}
    if resume:
        state = load_checkpoint(out / "checkpoint", net, opt, state)
    net.to(dev)
    model: torch.nn.Module = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(net)
    scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        val = validation_batches(template, cfg.val_size, batch_size=64,
                                 augment=cfg.input.train(center=True),
                                 dtype=getattr(torch, cfg.precision),
                                 mask_channel=cfg.input.mask_channel)
        val = [{k: v.to(dev) for k, v in b.items()} for b in val]
    # shards start at the resumed step; streams at the batch this rank draws next
    stream = training_stream(template, cfg.input, cfg.batch_size, cfg.seed,
                             state["step"] if cfg.data is not None else state["step"] * world,
                             getattr(torch, cfg.precision), cfg.data, cfg.targets, cfg.buffer,
                             cfg.repeats, orientation=kind == "distribution")
    # a generator of its own keeps the loader from drawing on the global RNG (dropout), so a
    # resumed run continues exactly
    loader = DataLoader(stream, batch_size=None, num_workers=cfg.workers,
                        prefetch_factor=4 if cfg.workers else None,
                        generator=torch.Generator().manual_seed(cfg.seed))
    budget = cfg.minutes * 60.0
    t_start = time.perf_counter() - state["seconds"]
    bar = tqdm(total=int(budget), initial=int(state["seconds"]), unit="s",
               disable=not progress or rank != 0, desc=f"train {cfg.arch}")
    callbacks: list[Callback] = []
    if rank == 0:
        board = TensorBoardLogger.create(out)
        callbacks += [CurveWriter(out), *([board] if board is not None else []),
                      ProgressBar(bar, budget),
                      Checkpointer(out / "checkpoint", net, opt, cfg.checkpoint_minutes)]
    counts: dict[int, tuple[int, int]] = {}  # replay buffer: stream -> (simulated, drawn)
    before = state.get("buffer_counts", [0, 0])  # of the run before a resume
    done = bool(state["curve"]) and (state["seconds"] >= budget
                               or state["step"] >= (state["total_steps"] or 10**18))
    # with workers, a thread takes their batches over while the step runs (data/prefetch.py);
    # a run resumed after its end starts no workers and draws no batch
    batches: Iterator[dict] = (iter(()) if done else Prefetcher(loader) if cfg.workers
                               else iter(loader))
    try:
        while not done:  # (a run resumed after its last checkpoint only writes the model)
            losses, wait_share = train_epoch(model, opt, scaler, batches, cfg, state, kind,
                                             head, dev, counts)
            state["seconds"] = _agree(time.perf_counter() - t_start, world)
            if cfg.max_steps is None:  # fit the schedule to what is left of the time budget,
                # at the run's mean speed so far, so that it ends when the time does
                rate = state["step"] / max(state["seconds"], 1e-9)
                left = max(budget - state["seconds"], 0.0)
                state["total_steps"] = state["step"] + max(1, int(rate * left))
            done = state["seconds"] >= budget or state["step"] >= state["total_steps"]
            if rank == 0:
                figures = evaluate(net, kind, val, head)
                row = {"epoch": len(state["curve"]) + 1, "step": state["step"],
                       "images": state["step"] * cfg.batch_size * world,
                       "seconds": round(state["seconds"], 1), "lr": opt.param_groups[0]["lr"],
                       "train_loss": sum(losses) / len(losses), **figures,
                       "data_wait": round(wait_share, 4)}
                if counts:  # patterns drawn per pattern simulated, over the run so far
                    simulated, drawn = (before[i] + sum(c[i] for c in counts.values())
                                        for i in (0, 1))
                    state["buffer_counts"] = [simulated, drawn]
                    row["reuse"] = round(drawn / max(simulated, 1), 3)
                state["curve"].append(row)
                for callback in callbacks:
                    callback.on_epoch(row, state, done)
    finally:
        if isinstance(batches, Prefetcher):
            batches.close()
        for callback in callbacks:
            callback.close()
    bar.close()
    card = make_card(cfg, n_out, head_card, template, labels, command, world, state,
                     state["curve"][-1] if rank == 0 else {})
    if rank == 0:
        card["validation"]["figures"] = card_figures(net, template, val, head)
        save_model(out, net, card)
    if world > 1:
        torch.distributed.barrier()
    return card


def make_card(cfg: TrainConfig, n_out: int, head_card: dict[str, Any], template: Template,
              labels: LabelSpace, command: str, world: int, state: dict[str, Any],
              last: dict[str, Any]) -> dict[str, Any]:
    """The model card of a finished run (without the validation figures, which need the
    network): architecture, head, input, template, labels, how it was trained, and the last
    epoch's validation row ``last`` (empty on ranks other than 0)."""
    card: dict[str, Any] = {
        "arch": cfg.arch, "in_chans": cfg.input.in_chans, "num_outputs": n_out, **head_card,
        "input": cfg.input.to_dict(), "template": template.to_dict(),
        "labels": {"orientation": labels.orientation, "bins": labels.bins,
                   "numeric": list(labels.numeric), "names": labels.names},
        "training": {"command": command, "config": _config_dict(cfg), "world_size": world,
                     "date": datetime.now(UTC).isoformat(timespec="seconds"),
                     "steps": state["step"], "images": state["step"] * cfg.batch_size * world,
                     "seconds": round(state["seconds"], 1), "init_history": _init_history(cfg)},
        "validation": {"n": cfg.val_size, **{k: v for k, v in last.items()
                                             if k not in ("data_wait", "reuse")}}}
    if "data_wait" in last:
        card["training"]["data_wait"] = mean_data_wait(state["curve"])
    if "reuse" in last:
        card["training"]["reuse"] = last["reuse"]
    return card


def init_backbone(net: Net, cfg: TrainConfig) -> None:
    """Copy the backbone of model ``cfg.init_from`` into ``net`` (same architecture and input
    channels, or an architecture that grows from it: ``GROW``); ``net`` keeps its own, freshly
    initialised head (transfer learning), or with ``init_head`` takes the model's."""
    from deepgisas.models.store import load_model

    assert cfg.init_from is not None
    source, card = load_model(cfg.init_from)
    grow = GROW.get((card["arch"], cfg.arch))
    if (card["arch"] != cfg.arch and grow is None) or card["in_chans"] != cfg.input.in_chans:
        raise UserError(f"cannot start from a {card['arch']} with {card['in_chans']} input "
                        f"channels: training a {cfg.arch} with {cfg.input.in_chans}",
                        cfg.init_from)
    if cfg.init_head:
        if card["num_outputs"] != net.head.out_features or (
                card["head"] == "flow") != hasattr(net, "posterior"):
            raise UserError(f"init_head: the model's head ({card['head']}, "
                            f"{card['num_outputs']} outputs) is not the one trained here",
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
    tr = card.get("training", {})
    own = {k: tr.get(k) for k in ("command", "steps", "images", "seconds", "date")}
    own["input"] = card.get("input")
    return [*tr.get("init_history", []), own]


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["input"] = cfg.input.to_dict()
    return d
