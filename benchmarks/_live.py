"""The live dashboard's clients for the stream benchmark (run as scripts from this folder):
headless Chromium pages (Debian's /usr/bin/chromium driven by Playwright) and plain
server-sent-event readers."""

from __future__ import annotations

import http.client
import shutil
import threading
from typing import Any

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Browsers:
    """``n`` pages of one headless Chromium, each with the dashboard at ``url`` open."""

    def __init__(self, url: str, n: int) -> None:
        from playwright.sync_api import sync_playwright

        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise SystemExit("the dashboard benchmark needs Chromium (apt-get install chromium)")
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=chromium, args=FLAGS)
        self.pages = []
        for _ in range(n):
            page = self.browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
            page.goto(url)
            page.wait_for_function("window.deepgisas.histories >= 1", timeout=30_000)
            self.pages.append(page)

    def drawn(self) -> list[list[list[float]]]:
        """Each page's records [last frame index, result time, drawn time]."""
        return [p.evaluate("window.deepgisas.drawn") for p in self.pages]

    def draw_ms(self) -> list[float]:
        """Every page's drawing times (ms)."""
        return [ms for p in self.pages for ms in p.evaluate("window.deepgisas.drawMs")]

    def wait_for(self, index: int, timeout_ms: int = 60_000) -> None:
        for p in self.pages:
            p.wait_for_function(f"window.deepgisas.lastDrawnIndex >= {index}",
                                timeout=timeout_ms)

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


class EventReaders:
    """``n`` threads reading the dashboard's event stream (what a browser receives, without
    drawing it): the server's own cost."""

    def __init__(self, port: int, n: int) -> None:
        self.bytes = [0] * n
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._read, args=(port, k), daemon=True)
                        for k in range(n)]
        for t in self.threads:
            t.start()

    def _read(self, port: int, k: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/api/events")
        r: Any = c.getresponse()
        while not self.stop.is_set():
            chunk = r.read1(65536)
            if not chunk:
                break
            self.bytes[k] += len(chunk)
        c.close()

    def close(self) -> None:
        self.stop.set()
