"""End-to-end frames per second of ``deepgisas stream`` on Pilatus 1M-sized frames.

Writes K distinct synthetic Pilatus frames (1043 x 981 int32 Poisson counts, module gaps = -1)
as TIFF, EDF or CBF with fabio, and N file names in a temporary folder that hard-link to them
(so 10^4 frames take K x 4 MB of disk, not 40 GB; the frames are then read from the page
cache, as frames a detector has just written would be). Their mtimes are set in the past, as
for a stored experiment. Then it times ``run_stream(..., once=True)`` with the bundled compact
``film`` model and a GALAXI instrument file, so every frame is read, resampled from the flat
Pilatus geometry onto the model's 128 x 128 angular grid (the resampling map is computed once
per geometry), preprocessed, predicted in batches of 64 (ONNX Runtime when installed) and
appended to the CSV. Separately, the read + resample stage alone and the network stage alone.

With the live dashboard (``--serve``), end to end again, in turns with runs without it (the
machine is shared: the medians of ``--rounds`` turns are compared), while 3 clients watch:
headless Chromium pages drawing the dashboard (on the same 2 cores as the stream: the worst
case), and plain event-stream readers (the server's own cost). Then the latency: frames are
dropped into a watched folder one by one (written whole, then renamed into place; ``--settle
0``, ``--poll 0.05``) at ``--rate`` frames/s, and the time from each rename to the moment its
point is drawn on each of 3 Chromium pages is recorded: median and 99th percentile.
``--markdown`` writes the figures into docs/benchmarks.md ("Stream throughput").

    python benchmarks/stream_throughput.py [--n 10000] [--format tif|edf|cbf] [--threads 2]
        [--rounds 2] [--latency-frames 300] [--rate 20] [--no-dashboard] [--markdown]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fabio
import numpy as np
import torch
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]
from _frames import SHAPE, pilatus_frame  # type: ignore[import-not-found]

from deepgisas.io.description import read_instrument
from deepgisas.io.images import ModelImages
from deepgisas.predict import Predictor
from deepgisas.stream import StreamConfig, run_stream

from _live import Browsers, EventReaders  # type: ignore[import-not-found]  # isort: skip

GALAXI = """# GALAXI (FZ Juelich), Pilatus 1M (the bundled instrument galaxi)
beam: {wavelength_nm: 0.1341, alpha_i_deg: 0.275}
detector:
  rectangular: {shape: [1043, 981], pixel_size_mm: 0.172, distance_mm: 1730.0,
                beam_center_px: [597.1, 323.4]}
"""
WRITERS = {"tif": fabio.tifimage.TifImage, "edf": fabio.edfimage.EdfImage,
           "cbf": fabio.cbfimage.CbfImage}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="frames (default 10^4)")
    parser.add_argument("--distinct", type=int, default=32, help="distinct frame files")
    parser.add_argument("--format", choices=sorted(WRITERS), default="tif")
    parser.add_argument("--threads", type=int, default=2, help="reader threads (default 2)")
    parser.add_argument("--network-threads", type=int, default=1,
                        help="torch / ONNX Runtime threads of the network (default 1)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="turns of runs without and with the dashboard (default 2)")
    parser.add_argument("--latency-frames", type=int, default=300,
                        help="frames dropped one by one for the latency (default 300)")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="frames/s at which they are dropped (default 20)")
    parser.add_argument("--no-dashboard", action="store_true",
                        help="only the figures without the dashboard")
    add_markdown_option(parser)
    args = parser.parse_args()
    logging.getLogger("fabio").setLevel(logging.CRITICAL)
    torch.set_num_threads(args.network_threads)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inst = root / "galaxi.yaml"
        inst.write_text(GALAXI)
        store, folder = root / "store", root / "frames"
        store.mkdir()
        folder.mkdir()
        sources = []
        for k in range(min(args.distinct, args.n)):
            sources.append(store / f"s{k}.{args.format}")
            WRITERS[args.format](data=pilatus_frame(rng)).write(str(sources[-1]))
        old = time.time() - 3600
        for s in sources:
            os.utime(s, (old, old))
        for i in range(args.n):
            os.link(sources[i % len(sources)], folder / f"frame_{i:06d}.{args.format}")
        size = sources[0].stat().st_size / 1e6
        print(f"{args.n} frames {SHAPE[0]} x {SHAPE[1]} as .{args.format} ({size:.1f} MB each), "
              f"{args.threads} reader threads + {args.network_threads} network thread(s), "
              "model film, GALAXI instrument")

        # the stages alone
        predictor = Predictor("film", threads=args.network_threads)
        reader = ModelImages(predictor.template, read_instrument(inst), str(inst))
        paths = sorted(folder.iterdir())[: min(args.n, 512)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            images = list(pool.map(lambda p: reader(p, warn=False), paths))
        t1 = time.perf_counter()
        read_rate = len(paths) / (t1 - t0)
        print(f"  read + resample alone ({args.threads} threads): {read_rate:7.1f} frames/s")
        batch = np.stack(images[:64])
        predictor(batch)
        t0 = time.perf_counter()
        for _ in range(4):
            predictor(batch)
        t1 = time.perf_counter()
        engine = "ONNX Runtime" if predictor.engine == "onnx" else "torch"
        net_rate = 4 * len(batch) / (t1 - t0)
        print(f"  preprocess + network alone (batch 64, {engine}): {net_rate:7.1f} frames/s")

        # end to end, in turns: without the dashboard, with it and 3 browsers, with it and
        # 3 event-stream readers
        kinds = ["none"] if args.no_dashboard else ["none", "browsers", "readers"]
        rates: dict[str, list[float]] = {k: [] for k in kinds}
        for r in range(args.rounds):
            for kind in kinds:
                rate = end_to_end(root, folder, inst, args, kind, f"{kind}{r}")
                rates[kind].append(rate)
                print(f"  end to end, dashboard: {kind:8s} round {r}: {rate:7.1f} frames/s")
        med = {k: float(np.median(v)) for k, v in rates.items()}
        print("  end to end (scan, read, resample, preprocess, predict, CSV, PNG), median: "
              + ", ".join(f"{k} {v:.1f}" for k, v in med.items()) + " frames/s")
        latency = None if args.no_dashboard else measure_latency(root, store, inst, args)
    if args.write:
        load = os.getloadavg()[0]
        lines = [
            f"{ran()}: `deepgisas stream film` on {args.n} Pilatus 1M frames ({SHAPE[0]} x "
            f"{SHAPE[1]}, .{args.format}) through the GALAXI geometry onto the model's grid; "
            f"end-to-end figures are medians of {args.rounds} turns (load average {load:.1f} "
            "at the end).",
            "", "| stage | frames/s |", "|---|---|",
            f"| read + resample alone ({args.threads} threads) | {read_rate:.0f} |",
            f"| preprocess + network alone (batch 64, {engine}, {args.network_threads} "
            f"thread(s)) | {net_rate:.0f} |",
            f"| end to end: scan, read, resample, predict, CSV, PNG | {med['none']:.0f} |"]
        if not args.no_dashboard:
            lines += [
                f"| end to end, dashboard serving 3 headless Chromium pages on the same 2 cores "
                f"| {med['browsers']:.0f} |",
                f"| end to end, dashboard serving 3 event-stream readers | "
                f"{med['readers']:.0f} |"]
        if latency is not None:
            lines += ["", f"Latency from a frame renamed into the watched folder to its point "
                      f"drawn on the page ({args.latency_frames} frames at {args.rate:g} "
                      "frames/s, `--settle 0 --poll 0.05`, 3 Chromium pages): "
                      f"median {latency[0]:.2f} s, 99th percentile {latency[1]:.2f} s; of "
                      f"which from the result to the page: median {latency[2]:.2f} s, 99th "
                      f"percentile {latency[3]:.2f} s."]
        write_section("## Stream throughput", lines)


def end_to_end(root: Path, folder: Path, inst: Path, args: argparse.Namespace, kind: str,
               tag: str) -> float:
    """frames/s of one run over the folder: without the dashboard (``kind`` "none"), or
    serving it to 3 Chromium pages ("browsers") or 3 event-stream readers ("readers")."""
    from deepgisas.live import Dashboard

    out = root / f"results-{tag}.csv"
    config = StreamConfig(once=True, settle_s=0.0, poll_s=0.1, batch=64,
                          workers=args.threads, plot_every_s=5.0, progress=False,
                          network_threads=args.network_threads)
    dash = clients = None
    if kind != "none":
        dash = Dashboard(port=0)
        dash.start()
        clients = Browsers(dash.url, 3) if kind == "browsers" else EventReaders(dash.port, 3)
    try:
        summary = run_stream("film", folder, out, inst, config=config,
                             listeners=[dash] if dash else [])
        if isinstance(clients, Browsers):
            clients.wait_for(args.n - 1)  # every point reached every page
            ms = clients.draw_ms()
            print(f"    the pages drew {len(ms)} times, median {np.median(ms):.0f} ms, "
                  f"max {np.max(ms):.0f} ms")
    finally:
        if clients is not None:
            clients.close()
        if dash is not None:
            dash.stop()
    lines = out.read_bytes().count(b"\n") - 1
    assert lines == args.n, f"{lines} rows for {args.n} frames"
    return summary.rate


def measure_latency(root: Path, store: Path, inst: Path, args: argparse.Namespace
                    ) -> tuple[float, float, float, float]:
    """(median, p99) of frame renamed -> drawn, and of result -> drawn, in seconds."""
    import threading

    from deepgisas.live import Dashboard

    folder = root / "live"
    folder.mkdir()
    sources = sorted(store.iterdir())
    dash = Dashboard(port=0)
    dash.start()
    stop = threading.Event()
    config = StreamConfig(settle_s=0.0, poll_s=0.05, batch=64, workers=args.threads,
                          plot_every_s=5.0, progress=False,
                          network_threads=args.network_threads)
    t = threading.Thread(target=run_stream, args=("film", folder, root / "live.csv", inst),
                         kwargs={"config": config, "stop": stop, "listeners": [dash]})
    t.start()
    browsers = Browsers(dash.url, 3)
    written: list[float] = []
    try:
        for i in range(args.latency_frames):
            tmp = folder / f".f_{i:06d}.part"
            os.link(sources[i % len(sources)], tmp)
            os.replace(tmp, folder / f"frame_{i:06d}.{args.format}")
            written.append(time.time())
            time.sleep(max(0.0, 1.0 / args.rate - (time.time() - written[-1])))
        browsers.wait_for(args.latency_frames - 1)
        pages = browsers.drawn()
    finally:
        browsers.close()
        stop.set()
        t.join()
        dash.stop()
    total, tail = [], []
    for drawn in pages:
        records = sorted(drawn)  # by last frame index
        k = 0
        for i, w in enumerate(written):
            while records[k][0] < i:
                k += 1
            total.append(records[k][2] - w)
            tail.append(records[k][2] - records[k][1])
    q = np.quantile
    out = (float(q(total, 0.5)), float(q(total, 0.99)), float(q(tail, 0.5)),
           float(q(tail, 0.99)))
    print(f"  latency, frame renamed -> drawn on the page ({args.latency_frames} frames at "
          f"{args.rate:g}/s, 3 pages): median {out[0]:.3f} s, p99 {out[1]:.3f} s; result -> "
          f"drawn: median {out[2]:.3f} s, p99 {out[3]:.3f} s")
    return out


if __name__ == "__main__":
    main()
