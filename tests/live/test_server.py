"""The dashboard's server, over real HTTP on localhost: the page and its scripts come from
the package (nothing from the internet), bad requests get HTTP errors and never reach the
stream, too many live pages are refused, and an address beyond this machine needs a flag
and a token."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from deepgisas.cli.main import main
from deepgisas.errors import UserError
from deepgisas.live import Dashboard, parse_address
from deepgisas.stream import StreamBatch, StreamConfig, run_stream
from tests.live.test_hub import info, row, status
from tests.test_stream import FAST, write_frame


def get(url: str, timeout: float = 10.0) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("content-type", "")


def test_page_scripts_and_bad_requests() -> None:
    with Dashboard(port=0) as dash:
        base = dash.url
        code, page, kind = get(base)
        assert code == 200 and "text/html" in kind
        assert b'src="static/plotly.min.js"' in page and b"http" not in page.split(b"<body>")[0]
        code, js, _ = get(base + "static/plotly.min.js")
        assert code == 200 and len(js) > 1_000_000  # Plotly.js itself, from the package
        assert get(base + "static/dashboard.js")[0] == 200
        assert get(base + "static/../server.py")[0] == 404
        assert get(base + "no/such/route")[0] == 404
        assert get(base + "api/history?points=many")[0] == 422
        assert get(base + "api/frame.png")[0] == 404  # no frame yet
        dash.started(info())
        dash.batch(StreamBatch([row(0)], [{}], np.arange(16.0).reshape(1, 4, 4), [],
                               status(1)))
        code, png, kind = get(base + "api/frame.png")
        assert code == 200 and png[:4] == b"\x89PNG"
        code, body, _ = get(base + "api/history?points=10")
        assert code == 200 and json.loads(body)["points"]["index"] == [0]


def test_too_many_live_pages_are_refused_and_late_pages_get_the_history() -> None:
    with Dashboard(port=0, max_clients=2) as dash:
        dash.started(info(resumed=[row(0), row(1)]))
        host, port = "127.0.0.1", dash.port
        open_streams = []
        for _ in range(2):
            c = http.client.HTTPConnection(host, port, timeout=10)
            c.request("GET", "/api/events")
            r = c.getresponse()
            assert r.status == 200
            first = b""
            while not first.endswith(b"\n\n"):
                first += r.read1(65536)
            assert first.startswith(b"event: history") and b'"index":[0,1]' in first
            open_streams.append(c)
        assert get(dash.url + "api/events")[0] == 503
        for c in open_streams:
            c.close()


def test_addresses_and_tokens() -> None:
    assert parse_address("8000") == ("127.0.0.1", 8000)
    assert parse_address("0.0.0.0:8000") == ("0.0.0.0", 8000)
    with pytest.raises(UserError, match="HOST:PORT"):
        parse_address("localhost:http")
    with pytest.raises(UserError, match="--allow-remote"):
        Dashboard("0.0.0.0", 0)
    with Dashboard("0.0.0.0", 0, allow_remote=True) as dash:
        assert dash.token and f"?token={dash.token}" in dash.url
        bare = f"http://127.0.0.1:{dash.port}/"
        assert get(bare)[0] == 401
        assert get(bare + "static/dashboard.js")[0] == 401
        assert get(bare + f"?token={dash.token}x")[0] == 401
        assert get(bare + f"?token={dash.token}")[0] == 200
        req = urllib.request.Request(bare + "api/status",
                                     headers={"Authorization": f"Bearer {dash.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["frames"] == 0


def test_a_busy_port_is_a_user_error() -> None:
    with Dashboard(port=0) as dash, pytest.raises(UserError, match="cannot serve"):
        Dashboard(port=dash.port).start()


def test_garbage_at_the_server_does_not_reach_the_stream(tmp_path: Path) -> None:
    """A stream serving a dashboard, hammered with malformed requests and dropped
    connections while it runs, still predicts every frame."""
    import socket

    folder, out = tmp_path / "frames", tmp_path / "r.csv"
    folder.mkdir()
    for i in range(12):
        write_frame(folder / f"f_{i}.npy", i)
    dash = Dashboard(port=0)
    dash.start()
    done = threading.Event()

    def hammer() -> None:
        while not done.is_set():
            for payload in (b"GARBAGE\r\n\r\n", b"GET /api/history?points=-1 HTTP/1.1\r\n\r\n",
                            b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 100):
                try:
                    with socket.create_connection(("127.0.0.1", dash.port), timeout=1) as s:
                        s.sendall(payload)
                except OSError:
                    pass

    t = threading.Thread(target=hammer)
    t.start()
    try:
        summary = run_stream("film", folder, out, config=StreamConfig(**FAST, once=True),
                             listeners=[dash])
    finally:
        done.set()
        t.join()
        dash.stop()
    assert summary.frames == 12


def test_cli_serve(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        write_frame(folder / f"f_{i}.npy", i)
    out = tmp_path / "r.csv"
    args = ["stream", "film", str(folder), "-o", str(out), "--once", "--settle", "0"]
    assert main(args + ["--serve", "0"]) == 0
    text = capsys.readouterr().out
    assert "live dashboard: http://127.0.0.1:" in text and "3 frames" in text
    assert main(args + ["--serve", "0.0.0.0:0"]) == 2
    err = capsys.readouterr().err
    assert "--allow-remote" in err and len(err.strip().splitlines()) == 1
