"""Training on simulations made on the fly: a time budget, validation every epoch, learning
curves (CSV + PNG), atomic checkpoints, and a model directory at the end.

:class:`Trainer` holds one run: its set-up, one optimiser :meth:`~Trainer.step`, an
:meth:`~Trainer.epoch` of steps, :meth:`~Trainer.validate`, and :meth:`~Trainer.run` to the
budget; :func:`train` is ``Trainer(...).run()``. The head follows the template's labels: a
softmax over the xi bins (loss KL or circular EMD) for an orientation label; for numeric labels a
mean and a log-std per label (Gaussian NLL), or with ``head="flow"`` a context vector and a
conditional normalising flow over all labels (its negative log-likelihood;
deepgisas.models.heads).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from deepgisas.data.labels import LabelSpace
from deepgisas.data.prefetch import Prefetcher
from deepgisas.data.replay import take_counts
from deepgisas.data.sources import training_stream
from deepgisas.data.stream import validation_batches
from deepgisas.errors import UserError
from deepgisas.models import create_model
from deepgisas.models.card import ModelCard
from deepgisas.models.heads import FLOW_DEFAULTS, attach_head, head_for
from deepgisas.models.store import save_model
from deepgisas.templates import Template
from deepgisas.training.callbacks import (
    Callback,
    Checkpointer,
    CurveWriter,
    ProgressBar,
    TensorBoardLogger,
)
from deepgisas.training.cards import init_backbone, make_card
from deepgisas.training.checkpoint import load_checkpoint
from deepgisas.training.config import TrainConfig, lr_at
from deepgisas.training.evaluation import card_figures
from deepgisas.training.objective import evaluate, head_kind


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


class Trainer:
    """One training run of a network for ``template``, written to ``out``.

    Under ``torchrun`` (WORLD_SIZE > 1) every rank trains on its own data stream with
    DistributedDataParallel, and rank 0 validates and writes files. AMP is used on CUDA.
    ``state`` holds the step, the seconds spent, the planned total of steps and the learning
    curve (what a checkpoint keeps).
    """

    def __init__(self, template: Template, out: str | Path, cfg: TrainConfig,
                 resume: bool = False, command: str = "", progress: bool = True,
                 device: str | None = None) -> None:
        self.template, self.out, self.cfg, self.command = template, Path(out), cfg, command
        self.progress = progress
        self.rank, self.world = _distributed()
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dev.type == "cuda" and self.world > 1:
            dev = torch.device("cuda", self.rank % torch.cuda.device_count())
        self.dev = dev
        self.labels = LabelSpace.of(template)
        self.kind, self.n_out = head_kind(self.labels, cfg.head)
        torch.manual_seed(cfg.seed)
        self.net = net = create_model(cfg.arch, cfg.input.in_chans, self.n_out)
        self.flow = ({**FLOW_DEFAULTS, "features": len(self.labels.numeric)}
                     if self.kind == "flow" else None)
        attach_head(net, self.kind, self.flow)
        self.head = head_for(net, self.kind, cfg.loss)
        if self.kind == "flow" and self.world > 1:  # its weights live outside DDP's
            raise UserError("a flow head trains in one process (no torchrun)")
        if cfg.init_from is not None:
            init_backbone(net, cfg)
        self.opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        self.state: dict[str, Any] = {"step": 0, "seconds": 0.0,
                                      "total_steps": cfg.max_steps, "curve": []}
        if resume:
            self.state = load_checkpoint(self.out / "checkpoint", net, self.opt, self.state)
        net.to(dev)
        self.model: torch.nn.Module = net
        if self.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(net)
        self.scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda")
        self.val: list[dict] = []
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            val = validation_batches(template, cfg.val_size, batch_size=64,
                                     augment=cfg.input.train(center=True),
                                     dtype=getattr(torch, cfg.precision),
                                     mask_channel=cfg.input.mask_channel)
            self.val = [{k: v.to(dev) for k, v in b.items()} for b in val]
        self.counts: dict[int, tuple[int, int]] = {}  # replay: stream -> (simulated, drawn)

    def batches(self) -> DataLoader:
        """The run's training batches: shards start at the resumed step; streams at the batch
        this rank draws next. A generator of its own keeps the loader from drawing on the
        global RNG (dropout), so a resumed run continues exactly."""
        cfg, step = self.cfg, self.state["step"]
        stream = training_stream(self.template, cfg.input, cfg.batch_size, cfg.seed,
                                 step if cfg.data is not None else step * self.world,
                                 getattr(torch, cfg.precision), cfg.data, cfg.targets,
                                 cfg.buffer, cfg.repeats, orientation=self.kind == "distribution")
        return DataLoader(stream, batch_size=None, num_workers=cfg.workers,
                          prefetch_factor=4 if cfg.workers else None,
                          generator=torch.Generator().manual_seed(cfg.seed))

    def step(self, raw: dict) -> float:
        """One optimiser step on a batch (the learning rate by :func:`lr_at`, AMP on CUDA),
        advancing ``state["step"]``; the batch's replay counts go into ``counts``. Returns
        the loss."""
        state = self.state
        for g in self.opt.param_groups:
            g["lr"] = lr_at(state["step"], self.cfg, state["total_steps"] or 10**9)
        take_counts(raw, self.counts)
        batch = {k: v.to(self.dev, non_blocking=True) for k, v in raw.items()}
        with torch.autocast(self.dev.type, enabled=self.dev.type == "cuda"):
            out = self.model(batch["x"]).float()
            loss = self.head.loss(out, batch)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        state["step"] += 1
        return loss.item()

    def epoch(self, batches: Iterator[dict]) -> tuple[list[float], float]:
        """``cfg.steps_per_epoch`` steps on the next batches. Returns the losses and the share
        of the time spent waiting for data (of the steps, not validation)."""
        self.model.train()
        losses, waited, t_epoch = [], 0.0, time.perf_counter()
        for _ in range(self.cfg.steps_per_epoch):
            t_wait = time.perf_counter()
            raw = next(batches)
            waited += time.perf_counter() - t_wait
            losses.append(self.step(raw))
        return losses, waited / (time.perf_counter() - t_epoch)

    def validate(self) -> dict[str, float]:
        """The validation figures of the network now (:func:`evaluate`; rank 0's batches)."""
        return evaluate(self.net, self.head, self.val)

    def _row(self, losses: list[float], wait_share: float,
             before: list[int]) -> dict[str, Any]:
        """The learning curve's row of the epoch just done, with its validation figures."""
        state = self.state
        row = {"epoch": len(state["curve"]) + 1, "step": state["step"],
               "images": state["step"] * self.cfg.batch_size * self.world,
               "seconds": round(state["seconds"], 1), "lr": self.opt.param_groups[0]["lr"],
               "train_loss": sum(losses) / len(losses), **self.validate(),
               "data_wait": round(wait_share, 4)}
        if self.counts:  # patterns drawn per pattern simulated, over the run so far
            simulated, drawn = (before[i] + sum(c[i] for c in self.counts.values())
                                for i in (0, 1))
            state["buffer_counts"] = [simulated, drawn]
            row["reuse"] = round(drawn / max(simulated, 1), 3)
        return row

    def _finished(self, budget: float) -> bool:
        state = self.state
        return state["seconds"] >= budget or state["step"] >= (state["total_steps"] or 10**18)

    def run(self) -> ModelCard:
        """Train to the time budget (or ``max_steps``), validating every epoch; write the
        model directory and return its card."""
        cfg, state, budget = self.cfg, self.state, self.cfg.minutes * 60.0
        t_start = time.perf_counter() - state["seconds"]
        bar = tqdm(total=int(budget), initial=int(state["seconds"]), unit="s",
                   disable=not self.progress or self.rank != 0, desc=f"train {cfg.arch}")
        callbacks: list[Callback] = []
        if self.rank == 0:
            board = TensorBoardLogger.create(self.out)
            callbacks += [CurveWriter(self.out), *([board] if board is not None else []),
                          ProgressBar(bar, budget),
                          Checkpointer(self.out / "checkpoint", self.net, self.opt,
                                       cfg.checkpoint_minutes)]
        before = state.get("buffer_counts", [0, 0])  # of the run before a resume
        done = bool(state["curve"]) and self._finished(budget)
        # with workers, a thread takes their batches over while the step runs
        # (data/prefetch.py); a run resumed after its end starts no workers, draws no batch
        batches: Iterator[dict] = (iter(()) if done else Prefetcher(self.batches())
                                   if cfg.workers else iter(self.batches()))
        try:
            while not done:  # (a run resumed after its last checkpoint only writes the model)
                losses, wait_share = self.epoch(batches)
                state["seconds"] = _agree(time.perf_counter() - t_start, self.world)
                if cfg.max_steps is None:  # fit the schedule to what is left of the time
                    # budget, at the run's mean speed so far, so that it ends when time does
                    rate = state["step"] / max(state["seconds"], 1e-9)
                    left = max(budget - state["seconds"], 0.0)
                    state["total_steps"] = state["step"] + max(1, int(rate * left))
                done = self._finished(budget)
                if self.rank == 0:
                    row = self._row(losses, wait_share, before)
                    state["curve"].append(row)
                    for callback in callbacks:
                        callback.on_epoch(row, state, done)
        finally:
            if isinstance(batches, Prefetcher):
                batches.close()
            for callback in callbacks:
                callback.close()
        bar.close()
        return self._write()

    def _write(self) -> ModelCard:
        """The card of the finished run; rank 0 adds the validation figures and writes the
        model directory."""
        state = self.state
        card = make_card(self.cfg, self.n_out, self.kind, self.flow, self.template,
                         self.labels, self.command, self.world, state,
                         state["curve"][-1] if self.rank == 0 else {})
        if self.rank == 0:
            figures = card_figures(self.net, self.template, self.val, self.head)
            card = replace(card, validation={**card.validation, "figures": figures})
            save_model(self.out, self.net, card)
        if self.world > 1:
            torch.distributed.barrier()
        return card


def train(template: Template, out: str | Path, cfg: TrainConfig, resume: bool = False,
          command: str = "", progress: bool = True, device: str | None = None) -> ModelCard:
    """Train a network for ``template`` (:class:`Trainer`); returns the card written to
    ``out``."""
    return Trainer(template, out, cfg, resume, command, progress, device).run()
