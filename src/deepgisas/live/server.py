"""The live dashboard's web server: FastAPI on uvicorn, in a thread of the stream's process.

:class:`Dashboard` is a stream listener (pass it to
:func:`~deepgisas.stream.run_stream`) that serves one page. The page and its scripts
(Plotly.js from the ``plotly`` package, and ``static/dashboard.js``) are served by this
server: nothing comes from the internet, so it works offline at a beamline.

Routes: ``/`` (the page), ``/static/...``, ``/api/history?points=N`` (the run so far,
decimated: :meth:`~deepgisas.live.hub.LiveHub.history`), ``/api/events`` (server-sent events:
the history, then one ``update`` per batch, ``stopped`` at the end; a browser that falls
more than ``QUEUE`` messages behind gets ``resync`` and fetches the history again),
``/api/frame.png`` (the last frame) and ``/api/status``. At most ``max_clients`` event
streams at a time (503 beyond). Unknown routes are 404 and malformed queries 422; neither
reaches the stream.

The server binds to 127.0.0.1 by default. Any other address needs ``allow_remote`` and a
token (one is made when none is given); every request must then carry it, as
``?token=...`` (the page passes on the one in its own address) or an ``Authorization:
Bearer`` header.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import socket
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from deepgisas.errors import UserError
from deepgisas.live.hub import HISTORY_POINTS, LiveHub
from deepgisas.stream.events import StreamBatch, StreamInfo, StreamStatus

QUEUE = 64  # messages a browser may fall behind before it is told to resync
STATIC = ("dashboard.js", "dashboard.css")


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def check_installed() -> None:
    """A UserError naming the extra when the dashboard's libraries are missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UserError(f"the dashboard needs {exc.name}: pip install fastapi uvicorn plotly",
                        "--serve") from None
    try:
        found = _plotly_js().is_file()
    except ImportError:
        found = False
    if not found:
        raise UserError("the dashboard needs plotly (it serves plotly.min.js from it): "
                        "pip install fastapi uvicorn plotly", "--serve")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def parse_address(text: str, flag: str = "--serve") -> tuple[str, int]:
    """``PORT`` or ``HOST:PORT`` -> (host, port); host 127.0.0.1 by default. ``flag``: the
    option named by the error."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise UserError(f"expected PORT or HOST:PORT, not {text!r}", flag) from None
    if not 0 <= number <= 65535:
        raise UserError(f"port {number} is not in 0..65535", flag)
    return host.strip("[]") or "127.0.0.1", number


def create_app(hub: LiveHub, token: str | None = None, max_clients: int = 32) -> Any:
    """The FastAPI application serving ``hub`` (see the module docstring)."""
    from fastapi import FastAPI, HTTPException, Query, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import StreamingResponse

    clients: set[asyncio.Queue] = set()
    static = resources.files("deepgisas.live") / "static"
    page = (static / "dashboard.html").read_text()
    png_cache: dict[str, Any] = {"index": None, "png": b""}

    def fanout(event: str, text: str) -> None:
        for q in list(clients):
            if not event or q.full():  # the end, or a browser that fell behind: resync
                while not q.empty():
                    q.get_nowait()
                q.put_nowait((event and "resync", "{}"))
            else:
                q.put_nowait((event, text))

    async def lifespan(app: Any) -> Any:
        hub.attach(asyncio.get_running_loop(), fanout)
        yield

    app = FastAPI(title="deepgisas live", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)

    if token is not None:
        @app.middleware("http")
        async def check_token(request: Request, call_next: Any) -> Any:
            given = request.query_params.get("token") or request.headers.get(
                "authorization", "").removeprefix("Bearer ").strip()
            if not secrets.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "a valid token is needed"}, status_code=401)
            return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return page

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/plotly.min.js")
    async def plotly_js() -> FileResponse:
        return FileResponse(_plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "max-age=86400"})

    @app.get("/static/{name}")
    async def static_file(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "no such file")
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return Response((static / name).read_text(), media_type=kind)

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        return hub.counters()

    @app.get("/api/history")
    async def history(points: int = Query(HISTORY_POINTS, ge=2, le=100_000)) -> Response:
        data = await run_in_threadpool(hub.history, points)
        return Response(json.dumps(data, separators=(",", ":")), media_type="application/json")

    @app.get("/api/frame.png")
    async def frame_png() -> Response:
        def render() -> bytes | None:
            from deepgisas.live.picture import frame_png as draw

            index, image, mask = hub.latest_image()
            if image is None:
                return None
            if png_cache["index"] != index:
                png_cache["png"], png_cache["index"] = draw(image, mask), index
            return png_cache["png"]

        png = await run_in_threadpool(render)
        if png is None:
            raise HTTPException(404, "no frame yet")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/events")
    async def events(points: int = Query(HISTORY_POINTS, ge=2, le=100_000)) -> Any:
        if len(clients) >= max_clients:
            raise HTTPException(503, f"at most {max_clients} live pages at a time")
        q: asyncio.Queue = asyncio.Queue(maxsize=QUEUE)
        clients.add(q)  # before the history: an update in between is deduplicated by index
        first = await run_in_threadpool(hub.history, points)

        async def stream() -> Any:
            try:
                yield f"event: history\ndata: {json.dumps(first, separators=(',', ':'))}\n\n"
                while True:
                    try:
                        event, text = await asyncio.wait_for(q.get(), 15.0)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if not event:
                        return
                    yield f"event: {event}\ndata: {text}\n\n"
            finally:
                clients.discard(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    app.state.clients = clients
    return app


class Dashboard:
    """The live dashboard: a stream listener that serves the run on ``host:port`` (port 0:
    any free port). :meth:`start` binds and returns the page's address (with the token);
    :meth:`stop` ends it. ``x``: the plots' x axis ("index" or "time")."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
                 allow_remote: bool = False, x: str = "index", max_clients: int = 32) -> None:
        check_installed()
        if not is_loopback(host):
            if not allow_remote:
                raise UserError(f"serving on {host} (not this machine only) needs "
                                "--allow-remote, and then a --token (one is made if not "
                                "given)", "--serve")
            token = token or secrets.token_urlsafe(16)
        self.host, self.port, self.token = host, port, token
        self.hub = LiveHub(x)
        self.max_clients = max_clients
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        import uvicorn

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise UserError(f"cannot serve on {self.host}:{self.port} ({exc.strerror})",
                            "--serve") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(self.hub, self.token, self.max_clients),
                                log_level="warning", access_log=False,
                                timeout_graceful_shutdown=2, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="deepgisas-dashboard", daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            threading.Event().wait(0.02)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token
                                                    else "")
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self.hub.close()  # the event streams end first, so shutting down need not wait
            clients = self._server.config.app.state.clients
            for _ in range(50):
                if not clients:
                    break
                threading.Event().wait(0.02)
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Dashboard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # the stream listener: the hub's
    def started(self, info: StreamInfo) -> None:
        self.hub.started(info)

    def batch(self, batch: StreamBatch) -> None:
        self.hub.batch(batch)

    def stopped(self, status: StreamStatus) -> None:
        self.hub.stopped(status)
