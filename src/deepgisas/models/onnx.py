"""ONNX export of a trained model, and inference with ONNX Runtime when it is installed
(2 to 3 times faster than eager torch on a small CPU). The ONNX file sits beside the weights
as ``model.onnx``; ``predict`` uses it automatically."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write
from deepgisas.models.nets import Net

ONNX = "model.onnx"


def export_onnx(net: Net, card: dict[str, Any], path: Path) -> None:
    """Write ``net`` as ONNX (dynamic batch size) to ``path``, atomically."""
    try:
        import onnxscript  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise UserError("ONNX export needs: pip install 'deepgisas[onnx]'") from None
    from deepgisas.data.preprocess import InputSpec

    spec = InputSpec.from_dict(card["input"])
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
