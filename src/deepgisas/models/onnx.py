"""ONNX export of a trained model, and inference with ONNX Runtime when it is installed.

The ONNX file sits beside the weights as ``model.onnx``. Which engine is faster depends on the
network and the machine: ONNX Runtime runs DenseNet169 about 3 times faster than eager torch
on a small CPU, but the small ``rodnet`` is as fast or faster eager. So the export times both
engines as ``predict`` runs them (preprocessing included) and writes the figures to
``model.onnx.json``; ``predict`` (engine "auto") uses ONNX Runtime only when that record says
it was faster."""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write
from deepgisas.models.card import ModelCard
from deepgisas.models.nets import Net

ONNX = "model.onnx"
TIMING = "model.onnx.json"
ENGINES = ("auto", "torch", "onnx")


def export_onnx(net: Net, card: ModelCard, path: Path) -> None:
    """Write ``net`` as ONNX (dynamic batch size) to ``path``, atomically."""
    try:
        import onnxscript  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise UserError("ONNX export needs: pip install 'deepgisas[onnx]'") from None
    from deepgisas.data.preprocess import InputSpec

    spec = InputSpec.from_dict(card.input)
    x = torch.zeros(2, spec.in_chans, *spec.input_shape)
    buf = io.BytesIO()
    with contextlib.redirect_stdout(io.StringIO()):
        program = torch.onnx.export(net.eval(), (x,), dynamo=True, input_names=["x"],
                                    output_names=["y"],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
    assert program is not None
    program.save(buf)  # type: ignore[arg-type]  # a file object works too
    blob = buf.getvalue()
    atomic_write(path, lambda f: f.write(blob))


class OnnxRunner:
    """Callable like the network: float32 [n, C, h, w] tensor -> [n, outputs] tensor."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        try:
            self.session = ort.InferenceSession(str(path), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise UserError(f"corrupt ONNX model ({exc.__class__.__name__})", str(path)) from None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.session.run(None, {"x": np.ascontiguousarray(x.numpy(), dtype=np.float32)})
        return torch.from_numpy(y[0])


def onnx_runner(folder: Path, threads: int | None = None) -> OnnxRunner | None:
    """A runner for ``folder/model.onnx`` if the file exists and onnxruntime is installed
    (``threads``: ONNX Runtime's intra-op threads, default torch's)."""
    if not (folder / ONNX).exists():
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    return OnnxRunner(folder / ONNX, threads)


def time_engines(net: Net, runner: OnnxRunner, prepare: Callable[[], torch.Tensor],
                 rounds: int = 5) -> dict[str, Any]:
    """Milliseconds per image of eager torch and of ONNX Runtime, each call preparing its
    input with ``prepare()`` (as ``predict`` does: preprocessing in torch, then the network),
    one warm-up call, then the median of ``rounds``; and the largest output difference.

    Each engine is timed in a block of its own, eager torch first: the thread pools of torch
    and of ONNX Runtime keep spinning for a while after a call, and the next engine's call
    then runs against them. That is also why the preprocessing is in the timing: before
    ONNX Runtime it is torch, and on 2 cores the two pools slow each other (a small network
    is then faster eager, a DenseNet faster with ONNX Runtime)."""
    engines: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"torch": net.eval(),
                                                                  "onnx": runner}
    ms, out = {}, {}
    batch = len(prepare())
    with torch.no_grad():
        for key, run in engines.items():
            out[key] = run(prepare())
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                run(prepare())
                times.append(time.perf_counter() - t0)
            ms[key] = 1e3 * statistics.median(times) / batch
    return {"torch_ms_per_image": round(ms["torch"], 4), "onnx_ms_per_image": round(ms["onnx"], 4),
            "faster": "onnx" if ms["onnx"] < ms["torch"] else "torch",
            "max_abs_difference": float((out["torch"] - out["onnx"]).abs().max()),
            "batch": batch, "threads": torch.get_num_threads(), "rounds": rounds,
            "includes": "preprocessing (predict.network_input) and the network",
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def write_timing(folder: Path, figures: dict[str, Any]) -> None:
    """Write the export's engine timing beside ``model.onnx``, atomically."""
    text = json.dumps(figures, indent=1).encode()
    atomic_write(folder / TIMING, lambda f: f.write(text))


def onnx_is_faster(folder: Path) -> bool:
    """True when the export's timing record in ``folder`` says ONNX Runtime was faster."""
    try:
        record = json.loads((folder / TIMING).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("faster") == "onnx"


def select_engine(folder: Path, engine: str, threads: int | None = None) -> OnnxRunner | None:
    """The ONNX runner to use for the model in ``folder``, or None for eager torch.

    "torch": always eager. "onnx": ONNX Runtime, or a one-line error when the model has no
    ``model.onnx`` or onnxruntime is missing. "auto": ONNX Runtime when it is there and the
    export measured it faster on this model (``model.onnx.json``), else eager torch.
    """
    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r} (one of {', '.join(ENGINES)})")
    if engine == "torch" or (engine == "auto" and not onnx_is_faster(folder)):
        return None
    runner = onnx_runner(folder, threads)
    if runner is None and engine == "onnx":
        raise UserError("engine onnx needs model.onnx (deepgisas export MODEL --onnx) and "
                        "onnxruntime (pip install 'deepgisas[onnx]')", str(folder))
    return runner
