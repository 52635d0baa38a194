"""The live dashboard in a real browser (Debian's Chromium, headless, driven by Playwright):
frames dropped into a folder while a stream runs appear on the page within a second of
their result, with the numbers of the CSV, and a page opened late gets the whole history.

Needs /usr/bin/chromium (``apt-get install chromium``; CI installs it). Without it the test
is skipped here and fails in CI (``CI`` set). ``DEEPGISAS_SCREENSHOTS=DIR`` keeps the
screenshots in DIR."""

from __future__ import annotations

import csv
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from deepgisas.live import Dashboard
from deepgisas.stream import StreamConfig, run_stream
from tests.test_stream import frame

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the dashboard test (apt-get install chromium)")
        pytest.skip("no chromium on this machine")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def drop(folder: Path, i: int) -> None:
    """A frame written whole under a temporary name, then renamed into place."""
    tmp = folder / f".f_{i:03d}.npy.part"
    with open(tmp, "wb") as f:
        np.save(f, frame(i))
    os.replace(tmp, folder / f"f_{i:03d}.npy")


def shoot(page, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    path = Path(os.environ.get("DEEPGISAS_SCREENSHOTS", tmp_path)) / name
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_new_frames_appear_within_a_second(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    drop(folder, 0)
    stop = threading.Event()
    dash = Dashboard(port=0)
    url = dash.start()
    config = StreamConfig(poll_s=0.05, settle_s=0.0, plot_every_s=60, progress=False)
    failed: list[BaseException] = []

    def stream() -> None:
        try:
            run_stream("film", folder, out, config=config, stop=stop, listeners=[dash])
        except BaseException as exc:  # noqa: BLE001  (reported by the test below)
            failed.append(exc)

    t = threading.Thread(target=stream)
    t.start()
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(url)
        page.wait_for_function("window.deepgisas.lastDrawnIndex >= 0", timeout=20_000)
        n = 8
        for i in range(1, n):
            drop(folder, i)
            page.wait_for_function(f"window.deepgisas.lastDrawnIndex >= {i}", timeout=10_000)
        drawn = page.evaluate("window.deepgisas.drawn")
        late = [(index, t_drawn - t_result) for index, t_result, t_drawn in drawn
                if index >= 1 and t_drawn - t_result > 1.0]
        assert late == [], f"drawn more than 1 s after the result: {late}"
        shoot(page, tmp_path, "dashboard-film.png")
        second = browser.new_page(viewport={"width": 1300, "height": 900})
        second.goto(url)  # late: gets the history
        second.wait_for_function(f"window.deepgisas.lastDrawnIndex >= {n - 1}", timeout=10_000)
        for p in (page, second):
            shown = p.evaluate("document.getElementById('panel-0').data"
                               ".find(t => t.name === 'network').y")
            with open(out, newline="") as f:
                rows = list(csv.DictReader(f))
            assert len(shown) == len(rows) == n
            assert shown == pytest.approx([float(r["radius_nm"]) for r in rows], rel=1e-5)
        assert page.evaluate("document.getElementById('frame').naturalWidth") == 128
        assert "live" in page.inner_text("#status")
    finally:
        stop.set()
        t.join(timeout=30)
        dash.stop()
    assert not failed, failed
    assert errors == []
