"""The live dashboard over a long run: 10^5 frames, 3 headless Chromium pages.

Feeds the dashboard's hub directly (no detector files, no network model: the rows of a
6-parameter model, made up, in batches of 64) at ``--rate`` frames/s for ``--n`` frames, with
3 pages open, then reports: how long the pages took to draw (median and maximum, ms), how
often they fetched a fresh decimated history, the time from a batch's result to its points
on the page (median and 99th percentile), and the size and build time of the history a late
page gets. A page that stays responsive draws in well under a second throughout.

    python benchmarks/dashboard_long_run.py [--n 100000] [--rate 2000] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]
from _live import Browsers  # type: ignore[import-not-found]

from deepgisas.live import Dashboard
from deepgisas.stream import StreamBatch, StreamInfo, StreamStatus

NAMES = ("radius_nm", "height_nm", "sigma", "distance_nm", "omega_nm", "scale")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="frames (default 10^5)")
    parser.add_argument("--rate", type=float, default=2000.0,
                        help="frames/s fed to the hub (default 2000)")
    add_markdown_option(parser)
    args = parser.parse_args()
    columns = ("frame", "index", "mtime", *[c for n in NAMES for c in (n, f"std:{n}")],
               "flags")
    info = StreamInfo("film", {}, "gaussian", columns,
                      tuple((n, f"std:{n}") for n in NAMES), {n: (0.0, 20.0) for n in NAMES},
                      (), "synthetic", Path("results.csv"))
    rng = np.random.default_rng(0)
    image = rng.poisson(20.0, (1, 128, 128)).astype(float)
    dash = Dashboard(port=0)
    dash.start()
    dash.started(info)
    pages = Browsers(dash.url, 3)
    t0 = time.time()
    batch = 64
    try:
        for start in range(0, args.n, batch):
            k = min(batch, args.n - start)
            i = np.arange(start, start + k)
            values = 10 + np.sin(i[:, None] / 5000.0 + np.arange(len(NAMES))) * 5
            rows = [[f"f_{j}", int(j), t0 + j / args.rate,
                     *[x for v in vals for x in (float(v), 0.3)], ""]
                    for j, vals in zip(i, values, strict=True)]
            dash.batch(StreamBatch(rows, [{}] * k, image, [],
                                   StreamStatus(start + k, 0, 0, args.rate, time.time() - t0)))
            time.sleep(max(0.0, t0 + (start + k) / args.rate - time.time()))
        feed = time.time() - t0
        pages.wait_for(args.n - 1, timeout_ms=120_000)
        ms = pages.draw_ms()
        drawn = [r for page in pages.drawn() for r in page]
        lag = [d - r for _, r, d in drawn]
        histories = [p.evaluate("window.deepgisas.histories") for p in pages.pages]
        t1 = time.perf_counter()
        history = json.dumps(dash.hub.history())
        build = time.perf_counter() - t1
    finally:
        pages.close()
        dash.stop()
    print(f"{args.n} frames fed in {feed:.1f} s ({args.n / feed:.0f} frames/s), 3 pages")
    print(f"  drawing: {len(ms)} draws, median {np.median(ms):.0f} ms, max {np.max(ms):.0f} ms;"
          f" decimated histories fetched per page: {histories}")
    print(f"  result -> drawn: median {np.median(lag):.2f} s, 99th percentile "
          f"{np.quantile(lag, 0.99):.2f} s")
    print(f"  a late page's history: {len(history) / 1e3:.0f} kB, built in {build * 1e3:.0f} ms")
    if args.write:
        write_section("## Dashboard over a long run", [
            f"{ran()}: `python benchmarks/dashboard_long_run.py --n {args.n} --rate "
            f"{args.rate:g}`: the rows of a 6-parameter model fed to the dashboard in batches "
            f"of 64 at {args.rate:g} frames/s, 3 headless Chromium pages on the same 2 cores.",
            "", "| figure | value |", "|---|---|",
            f"| draws per page, median / max time | {np.median(ms):.0f} ms / "
            f"{np.max(ms):.0f} ms |",
            f"| decimated histories fetched per page | {max(histories)} |",
            f"| result to point on the page, median / 99th percentile | "
            f"{np.median(lag):.2f} s / {np.quantile(lag, 0.99):.2f} s |",
            f"| history a late page gets (10^5 frames) | {len(history) / 1e3:.0f} kB in "
            f"{build * 1e3:.0f} ms |"])


if __name__ == "__main__":
    main()
