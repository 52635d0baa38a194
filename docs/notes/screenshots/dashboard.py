"""The dashboard screenshots of the user guide: a simulated growth experiment streamed live.

A film grows over ``--n`` frames (radius 2 -> 8 nm, height 2 -> 9 nm, distance 12 -> 30 nm,
omega 2 -> 6 nm; BornAgain-equal simulation, Poisson counts at the template's intensity),
each frame renamed into a watched folder at ``--rate`` frames/s while ``stream film
--serve`` runs with ``--fit film --fit-every 25``; a headless Chromium page (Debian's) takes
the screenshot at the end: dashboard-film.png. Then the bundled hex-orientation model on
frames drawn from its priors: dashboard-orientation.png.

    python docs/notes/screenshots/dashboard.py [--n 200] [--rate 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import deepgisas as dg
from deepgisas.live import Dashboard
from deepgisas.stream import StreamConfig, run_stream

HERE = Path(__file__).resolve().parent
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
P = "sample.particles."
GROWTH = {f"{P}shape.spheroid.radius_nm": (2.0, 8.0), f"{P}shape.spheroid.height_nm": (2.0, 9.0),
          f"{P}size_distribution.lognormal.sigma": (0.2, 0.2),
          "sample.interference.radial_paracrystal.distance_nm": (12.0, 30.0),
          "sample.interference.radial_paracrystal.omega_nm": (2.0, 6.0),
          "beam.alpha_i_deg": (0.3, 0.3)}


def film_frames(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    t = dg.load("film")
    out = []
    for i in range(n):
        s = i / max(1, n - 1)
        values = {k: lo + (hi - lo) * s for k, (lo, hi) in GROWTH.items()}
        out.append(rng.poisson(np.asarray(dg.simulate(t.at(values)))).astype(np.float32))
    return out


def orientation_frames(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    t = dg.load("hex-orientation")
    draws = t.draw(max(1, n // 10), seed=5)
    patterns = [np.asarray(dg.simulate(d)) for d in draws]
    return [rng.poisson(patterns[i // 10]).astype(np.float32) for i in range(n)]


def shoot(model: str, frames: list[np.ndarray], rate: float, name: str,
          fit: str | None) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "frames"
        folder.mkdir()
        stop = threading.Event()
        dash = Dashboard(port=0)
        dash.start()
        config = StreamConfig(poll_s=0.1, settle_s=0.0, fit_every=25, progress=False)
        t = threading.Thread(target=run_stream, args=(model, folder, Path(tmp) / "r.csv"),
                             kwargs={"fit": fit, "config": config, "stop": stop,
                                     "listeners": [dash]})
        t.start()
        chromium = shutil.which("chromium")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(dash.url)
            for i, f in enumerate(frames):
                part = folder / f".f_{i:05d}.part"
                np.save(part.with_suffix(".npy"), f)
                os.replace(part.with_suffix(".npy"), folder / f"f_{i:05d}.npy")
                time.sleep(1.0 / rate)
            page.wait_for_function(f"window.deepgisas.lastDrawnIndex >= {len(frames) - 1}",
                                   timeout=600_000)
            time.sleep(1.0)
            page.screenshot(path=str(HERE / name), full_page=True)
            browser.close()
        stop.set()
        t.join()
        dash.stop()
    print(f"wrote {HERE / name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shoot("film", film_frames(args.n, rng), args.rate, "dashboard-film.png", "film")
    shoot("hex-orientation", orientation_frames(args.n, rng), args.rate,
          "dashboard-orientation.png", None)


if __name__ == "__main__":
    main()
