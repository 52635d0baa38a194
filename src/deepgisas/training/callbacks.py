"""What a training run does after each validated epoch, one callback each: the learning curve
(CSV and PNG), TensorBoard, checkpoints and the progress bar. Each has ``on_epoch(row, state,
done)``, called on rank 0 with the epoch's row of the curve, and ``close()``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import torch

from deepgisas.training.checkpoint import save_checkpoint
from deepgisas.training.curves import write_curves


class Callback(Protocol):
    """What the run calls after each validated epoch, and once at its end."""

    def on_epoch(self, row: dict[str, Any], state: dict[str, Any], done: bool) -> None: ...

    def close(self) -> None: ...


class CurveWriter:
    """``learning_curve.csv`` and ``.png`` in ``out``, rewritten after every epoch."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def on_epoch(self, row: dict[str, Any], state: dict[str, Any], done: bool) -> None:
        write_curves(self.out, state["curve"])

    def close(self) -> None:
        pass


class TensorBoardLogger:
    """Every figure of the row as a TensorBoard scalar against the images seen, in
    ``out/tensorboard``. :meth:`create` gives None when tensorboard is not installed."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    @classmethod
    def create(cls, out: Path) -> TensorBoardLogger | None:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return cls(SummaryWriter(str(out / "tensorboard")))

    def on_epoch(self, row: dict[str, Any], state: dict[str, Any], done: bool) -> None:
        for key, value in row.items():
            if key not in ("epoch", "step", "images"):
                self.writer.add_scalar(key, value, row["images"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Checkpointer:
    """The network, the optimiser and the run's state in ``folder``, at the end of the run and
    whenever ``every_minutes`` have passed since the last one."""

    def __init__(self, folder: Path, net: torch.nn.Module, opt: torch.optim.Optimizer,
                 every_minutes: float) -> None:
        self.folder, self.net, self.opt = folder, net, opt
        self.every_s = every_minutes * 60.0
        self.last = time.perf_counter()

    def on_epoch(self, row: dict[str, Any], state: dict[str, Any], done: bool) -> None:
        if done or time.perf_counter() - self.last >= self.every_s:
            save_checkpoint(self.folder, self.net, self.opt, state)
            self.last = time.perf_counter()

    def close(self) -> None:
        pass


BOOKKEEPING = ("epoch", "step", "images", "seconds", "lr", "train_loss", "data_wait", "reuse")


class ProgressBar:
    """A tqdm bar over the time budget in seconds, with the epoch's validation figures (the
    row's entries but its ``BOOKKEEPING``)."""

    def __init__(self, bar: Any, budget_s: float) -> None:
        self.bar, self.budget_s = bar, budget_s

    def on_epoch(self, row: dict[str, Any], state: dict[str, Any], done: bool) -> None:
        self.bar.n = min(int(state["seconds"]), int(self.budget_s))
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k not in BOOKKEEPING})

    def close(self) -> None:  # the run closes its bar on every rank
        pass
