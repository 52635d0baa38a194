"""Frames per second for reading plus preprocessing Pilatus-sized (1043 x 981) frames.

Writes synthetic int32 frames (Poisson counts, module gaps = -1) as TIFF and CBF with fabio
into a temporary folder, then times ``read_image`` followed by ``predict.network_input`` with
a default ``InputSpec``. ``--markdown`` writes the table into docs/benchmarks.md ("Reading
detector files"). Usage: ``python benchmarks/read_throughput.py [--frames N] [--markdown]``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import fabio
import numpy as np
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]
from _frames import SHAPE, pilatus_frame  # type: ignore[import-not-found]

from deepgisas.data.preprocess import InputSpec
from deepgisas.io.images import read_image
from deepgisas.predict import network_input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    add_markdown_option(parser)
    args = parser.parse_args()
    rows: list[str] = []
    logging.getLogger("fabio").setLevel(logging.CRITICAL)
    rng = np.random.default_rng(0)
    spec = InputSpec()
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, cls in (("tif", fabio.tifimage.TifImage), ("cbf", fabio.cbfimage.CbfImage)):
            paths = []
            for i in range(args.frames):
                p = Path(tmp) / f"f{i}.{fmt}"
                cls(data=pilatus_frame(rng)).write(str(p))
                paths.append(p)
            read_image(paths[0])  # warm up
            t0 = time.perf_counter()
            images = [read_image(p) for p in paths]
            t1 = time.perf_counter()
            for img in images:
                network_input(img[None], spec)
            t2 = time.perf_counter()
            n = len(paths)
            print(f"{fmt.upper()} {SHAPE[0]} x {SHAPE[1]}: read {n / (t1 - t0):6.1f} frames/s, "
                  f"read + preprocess {n / (t2 - t0):6.1f} frames/s "
                  f"({(t2 - t0) / n * 1e3:.1f} ms per frame)")
            rows.append(f"| {fmt.upper()} | {n / (t1 - t0):.0f} | {n / (t2 - t0):.0f} |")
    if args.write:
        write_section("## Reading detector files", [
            f"{ran()}: {args.frames} synthetic Pilatus frames ({SHAPE[0]} x {SHAPE[1]} int32 "
            "counts, module gaps) per format, one thread; frames per second.", "",
            "| format | read | read + preprocess |", "|---|---|---|", *rows])


if __name__ == "__main__":
    main()
