"""Inference frames per second for every registered architecture, side by side in one run.

Each architecture runs at its designed input size (the talk's 256 x 256 detector, cropped to
224 x 224 and averaged down to that size), batch 64, on N CPU threads, untrained weights,
*including* preprocessing (log, crop, downsample, standardise, mask channel) from raw
256 x 256 float64 images. Eager torch as trained ("eager"), eager torch as predict runs it
(``for_inference``: batch norms folded into the convolutions, channels-last weights;
"predict"), and ONNX Runtime when it is installed. Also compares
compact-network variants that motivated its design. Usage:

    python benchmarks/inference_throughput.py [--threads 2] [--batch 64] [--reps 5] [--markdown]

``--markdown`` writes the table of registered architectures into docs/benchmarks.md
("Inference throughput").
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable

import numpy as np
import torch
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]
from torch import nn

from deepgisas.data.preprocess import default_input
from deepgisas.models import create_model, list_models
from deepgisas.models.nets import Net, conv_bn, for_inference
from deepgisas.predict import network_input


def _fps(run: Callable[[], object], n: int, reps: int) -> float:
    run()
    t0 = time.perf_counter()
    for _ in range(reps):
        run()
    return n * reps / (time.perf_counter() - t0)


def _onnx(net: nn.Module, x: torch.Tensor, threads: int) -> Callable[[torch.Tensor], object]:
    import onnxruntime as ort

    buf = io.BytesIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        prog = torch.onnx.export(net, (x,), dynamo=True, input_names=["x"],
                                 output_names=["y"],
                                 dynamic_shapes=({0: torch.export.Dim("batch")},))
    assert prog is not None
    prog.save(buf)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
    return lambda t: sess.run(None, {"x": t.numpy()})


def variant(widths: tuple[int, ...], stem: tuple[int, int], stride: tuple[int, int]) -> Net:
    layers: list[nn.Module] = [conv_bn(2, widths[0], stem, stride)]
    for cin, w in zip(widths[:-1], widths[1:], strict=True):
        layers += [conv_bn(cin, w, (3, 3), (2, 2)), conv_bn(w, w, (3, 3))]
    bb = nn.Sequential(*layers)
    return Net(bb, widths[-1], 120, bb[0][0], (0, 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_markdown_option(ap)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-onnx", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import onnxruntime  # noqa: F401
        has_onnx = not args.no_onnx
    except ImportError:
        has_onnx = False
    raw = np.random.default_rng(0).gamma(1.0, 100.0, (args.batch, 256, 256))
    print(f"batch {args.batch}, {args.threads} threads, 256 x 256 raw images, preprocessing "
          f"included; frames per second")
    print(f"{'model':14s} {'input':>9s} {'params':>8s} {'eager':>8s} {'predict':>10s} "
          f"{'onnx':>8s} {'preproc only':>13s}")
    rows: list[str] = []
    runs = [(name, default_input((256, 256), name)) for name in list_models()]
    # the bundled hex-orientation model's input: counts binned before the log (cheaper)
    runs.append(("rodnet, binned", default_input((256, 256), "rodnet", bin_counts=True)))
    # steady state: the first timed model of a fresh process also paid for starting torch's
    # thread pool and growing the allocator's heap (compact 800 first, 1000 to 1100 after)
    warm = create_model("compact", 2, 120).eval()
    with torch.inference_mode():
        warm_spec = default_input((256, 256), "compact")
        _fps(lambda: warm(network_input(raw, warm_spec)), args.batch, args.reps)
    for name, spec in runs:
        net = create_model(name.split(",")[0], spec.in_chans, 120).eval()
        pre = _fps(lambda s=spec: network_input(raw, s), args.batch, args.reps)
        fast = for_inference(net)
        with torch.inference_mode():
            eager = _fps(lambda n=net, s=spec: n(network_input(raw, s)), args.batch, args.reps)
            folded = _fps(lambda n=fast, s=spec: n(network_input(raw, s)), args.batch,
                          args.reps)
        ort_fps = float("nan")
        if has_onnx:
            run = _onnx(net, network_input(raw[:2], spec), args.threads)
            ort_fps = _fps(lambda r=run, s=spec: r(network_input(raw, s)), args.batch,
                           args.reps)
        params = sum(p.numel() for p in net.parameters()) / 1e6
        shape = "x".join(map(str, spec.input_shape))
        print(f"{name:14s} {shape:>9s} {params:7.2f}M {eager:8.0f} {folded:10.0f} {ort_fps:8.0f} "
              f"{pre:13.0f}")
        rows.append(f"| {name} | {shape} | {params:.2f}M | {eager:.0f} | {folded:.0f} | "
                    f"{ort_fps:.0f} | {pre:.0f} |")
    if args.write:
        write_section("## Inference throughput", [
            f"{ran()}: frames per second, batch {args.batch}, {args.threads} threads, from raw "
            "256 x 256 images with the preprocessing; untrained weights. *eager*: as trained; "
            "*predict*: as `predict` runs it (batch norms folded, channels-last); *ONNX*: "
            "ONNX Runtime.", "",
            "| network | input | parameters | eager | predict | ONNX | preprocessing alone |",
            "|---|---|---|---|---|---|---|", *rows])
    print("\ncompact variants (network only, eager):")
    for widths, stem, stride, shape in [((16, 32, 64, 128), (5, 3), (2, 1), (56, 112)),
                                        ((16, 32, 64, 128), (3, 3), (1, 1), (56, 112)),
                                        ((16, 32, 64, 128), (3, 3), (1, 1), (112, 112)),
                                        ((32, 64, 128, 256), (5, 3), (2, 1), (56, 112)),
                                        ((16, 32, 64, 128), (5, 3), (2, 1), (112, 224))]:
        net = variant(widths, stem, stride).eval()
        x = torch.randn(args.batch, 2, *shape)
        with torch.inference_mode():
            f = _fps(lambda n=net, x=x: n(x), args.batch, args.reps)
        print(f"  widths {widths}, stem {stem} stride {stride}, input {shape}: {f:7.0f}")


if __name__ == "__main__":
    main()
