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
``--markdown`` writes the three figures into docs/benchmarks.md ("Stream throughput").

    python benchmarks/stream_throughput.py [--n 10000] [--format tif|edf|cbf] [--threads 2]
        [--markdown]
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

        # end to end
        out = root / "results.csv"
        config = StreamConfig(once=True, settle_s=0.0, poll_s=0.1, batch=64,
                              workers=args.threads, plot_every_s=5.0, progress=False,
                              network_threads=args.network_threads)
        t0 = time.perf_counter()
        summary = run_stream("film", folder, out, inst, config=config)
        wall = time.perf_counter() - t0
        lines = out.read_bytes().count(b"\n") - 1
        assert lines == args.n, f"{lines} rows for {args.n} frames"
        print(f"  end to end (scan, read, resample, preprocess, predict, CSV, PNG): "
              f"{summary.rate:7.1f} frames/s "
              f"({summary.frames} frames in {summary.seconds:.1f} s; {wall:.1f} s with "
              "start-up)")
    if args.write:
        write_section("## Stream throughput", [
            f"{ran()}: `deepgisas stream film` on {args.n} Pilatus 1M frames ({SHAPE[0]} x "
            f"{SHAPE[1]}, .{args.format}) through the GALAXI geometry onto the model's grid.",
            "", "| stage | frames/s |", "|---|---|",
            f"| read + resample alone ({args.threads} threads) | {read_rate:.0f} |",
            f"| preprocess + network alone (batch 64, {engine}, {args.network_threads} "
            f"thread(s)) | {net_rate:.0f} |",
            f"| end to end: scan, read, resample, predict, CSV, PNG | {summary.rate:.0f} |"])


if __name__ == "__main__":
    main()
