"""The training run's callbacks, each on its own: no timed run needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from deepgisas.training.callbacks import Checkpointer, CurveWriter, ProgressBar, TensorBoardLogger
from deepgisas.training.checkpoint import load_checkpoint

ROW = {"epoch": 1, "step": 10, "images": 80, "seconds": 1.5, "lr": 1e-3, "train_loss": 2.0,
       "kl": 1.25, "emd_deg": 7.5, "data_wait": 0.1}


def _state(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"step": rows[-1]["step"], "seconds": rows[-1]["seconds"], "total_steps": 100,
            "curve": rows}


def test_the_curve_writer_writes_every_row(tmp_path: Path) -> None:
    rows = [ROW, {**ROW, "epoch": 2, "step": 20, "kl": 1.0}]
    CurveWriter(tmp_path).on_epoch(rows[-1], _state(rows), done=False)
    lines = (tmp_path / "learning_curve.csv").read_text().splitlines()
    assert lines[0].split(",")[:2] == ["epoch", "step"] and len(lines) == 3
    assert (tmp_path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_the_checkpointer_saves_at_the_end_and_by_the_clock(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters())
    every_hour = Checkpointer(tmp_path / "a", net, opt, every_minutes=60)
    every_hour.on_epoch(ROW, _state([ROW]), done=False)
    assert not (tmp_path / "a").exists()  # an hour has not passed
    every_hour.on_epoch(ROW, _state([ROW]), done=True)
    state = load_checkpoint(tmp_path / "a", torch.nn.Linear(3, 2),
                            torch.optim.AdamW(torch.nn.Linear(3, 2).parameters()), {})
    assert state["step"] == 10 and state["curve"] == [ROW]
    always = Checkpointer(tmp_path / "b", net, opt, every_minutes=0)
    always.on_epoch(ROW, _state([ROW]), done=False)
    assert (tmp_path / "b").is_dir()


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.n = 0

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: self.calls.append((name, a, k))


def test_the_bar_and_tensorboard_show_the_figures_not_the_bookkeeping() -> None:
    bar = _Recorder()
    ProgressBar(bar, budget_s=1.0).on_epoch(ROW, _state([ROW]), done=False)
    (name, (postfix,), _), = bar.calls
    assert name == "set_postfix" and set(postfix) == {"kl", "emd_deg"} and bar.n == 1
    writer = _Recorder()
    TensorBoardLogger(writer).on_epoch(ROW, _state([ROW]), done=False)
    scalars = {a[0]: a[2] for n, a, _ in writer.calls if n == "add_scalar"}
    assert set(scalars) == set(ROW) - {"epoch", "step", "images"}
    assert set(scalars.values()) == {80} and writer.calls[-1][0] == "flush"
