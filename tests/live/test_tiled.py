"""``deepgisas stream --tiled``: a real Tiled server on localhost, written to while the
stream follows it, in both layouts (a container of 2-D arrays; a 3-D array that grows);
the rows are ``predict``'s, a rerun resumes, an outage of the network is survived, and bad
nodes are one-line user errors."""

from __future__ import annotations

import csv
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tiled.server")

from tiled.client import from_uri  # noqa: E402
from tiled.server import SimpleTiledServer  # noqa: E402

from deepgisas.cli.main import main  # noqa: E402
from deepgisas.errors import UserError  # noqa: E402
from deepgisas.live.tiled import TiledSource, public_uri  # noqa: E402
from deepgisas.predict import predict_arrays  # noqa: E402
from deepgisas.stream import StreamConfig, StreamSummary, run_stream  # noqa: E402
from tests.test_stream import frame  # noqa: E402

CONFIG = dict(poll_s=0.1, settle_s=0, plot_every_s=60.0, progress=False)


def stored(i: int) -> np.ndarray:
    """Frame i as a detector stores it: int32 counts, row 0 at the top."""
    return frame(i)[::-1].astype(np.int32)


@pytest.fixture(scope="module")
def server() -> Iterator[SimpleTiledServer]:
    with SimpleTiledServer() as ts:
        yield ts


def node_uri(ts: SimpleTiledServer, path: str) -> str:
    return f"http://127.0.0.1:{ts.port}/api/v1/metadata/{path}"


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_rows(rows: list[dict[str, str]], indices: list[int]) -> None:
    """The stream's rows are predict's for the same frames, row 0 at the bottom (float32
    rounding depends on the batch: hence 1e-4, as in tests/test_stream.py)."""
    ref = predict_arrays("film", np.stack([frame(i) for i in indices]))
    assert len(rows) == len(ref)
    for row, res in zip(rows, ref, strict=True):
        for k, v in res["parameters"].items():
            assert float(row[k]) == pytest.approx(v, rel=1e-4, abs=1e-6)
            assert float(row[f"std:{k}"]) == pytest.approx(res["std"][k], rel=1e-4, abs=1e-6)


def stream_while(source: Any, out: Path, write: Any, idle: float = 1.5,
                 warnings: list[str] | None = None) -> StreamSummary:
    """Run the stream in a thread while ``write()`` writes frames into the server."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["summary"] = run_stream(
                "film", source, out, config=StreamConfig(**CONFIG, idle_exit_s=idle),
                warn=(warnings if warnings is not None else []).append)
        except BaseException as exc:  # noqa: BLE001  (reported in the test's thread)
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    write()
    thread.join(60)
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    return result["summary"]


def test_a_container_of_frames(server: SimpleTiledServer, tmp_path: Path) -> None:
    client = from_uri(server.uri)
    node = client.create_container("scan1")
    for i in (10, 9, 2):  # already there: taken in natural order of the keys
        node.write_array(stored(i), key=f"f_{i}")
    node.create_container("notes")  # no frame: retried, then logged as corrupt
    out = tmp_path / "r.csv"
    uri = node_uri(server, "scan1")

    def write() -> None:
        for i in (11, 12, 13):
            time.sleep(0.3)
            node.write_array(stored(i), key=f"f_{i}")

    source = TiledSource(uri, api_key=server.api_key, retry_s=0.1, settle=0.5)
    assert source.where == uri and not source.stacked
    warnings: list[str] = []
    summary = stream_while(source, out, write, warnings=warnings)
    rows = read_rows(out)
    assert [r["frame"] for r in rows] == ["f_2", "f_9", "f_10", "f_11", "f_12", "f_13"]
    assert summary.frames == 6 and summary.errors == 1
    assert [r["frame"] for r in read_rows(tmp_path / "r.errors.csv")] == ["notes"]
    assert warnings == [f"{uri}/notes: not an array (skipped, logged in r.errors.csv)"]
    check_rows(rows, [2, 9, 10, 11, 12, 13])
    t_first = [float(r["mtime"]) for r in rows]
    assert t_first == sorted(t_first) and abs(t_first[-1] - time.time()) < 30

    node.write_array(stored(14), key="f_14")  # a rerun resumes: only f_14 is new
    resumed = TiledSource(f"{uri}?api_key={server.api_key}", settle=0.5)
    assert resumed.where == uri
    again = stream_while(resumed, out, lambda: None, idle=0.5)
    assert again.frames == 1 and again.errors == 0
    rows2 = read_rows(out)
    assert rows2[:6] == rows and [r["frame"] for r in rows2[6:]] == ["f_14"]
    check_rows(rows2[6:], [14])


def test_a_growing_3d_array(server: SimpleTiledServer, tmp_path: Path) -> None:
    client = from_uri(server.uri)
    stack = client.write_array(np.stack([stored(0), stored(1)]), key="stack")
    out = tmp_path / "s.csv"

    def write() -> None:
        for n in (2, 4):  # two slices, then two more
            time.sleep(0.4)
            stack.patch(np.stack([stored(n), stored(n + 1)]), offset=(n,), extend=True)

    source = TiledSource(node_uri(server, "stack"), api_key=server.api_key, settle=0.5)
    assert source.stacked
    stream_while(source, out, write)
    rows = read_rows(out)
    assert [r["frame"] for r in rows] == [f"stack[{i}]" for i in range(6)]
    check_rows(rows, list(range(6)))

    stack.patch(stored(6)[None], offset=(6,), extend=True)
    again = stream_while(TiledSource(node_uri(server, "stack"), server.api_key, settle=0.3),
                         out, lambda: None, idle=1.5)
    assert again.frames == 1 and [r["frame"] for r in read_rows(out)][6:] == ["stack[6]"]


class Relay:
    """A TCP relay to the server that can be cut and mended: a network outage."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.up = True
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                conn.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            s.close()

    def cut(self) -> None:
        self.up = False
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets = []


def test_an_outage_is_warned_once_and_survived(server: SimpleTiledServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import tiled.client.utils

    monkeypatch.setattr(tiled.client.utils, "TILED_RETRY_ATTEMPTS", 1)  # no waiting retries
    node = from_uri(server.uri).create_container("scan2")
    node.write_array(stored(0), key="f_0")
    relay = Relay(server.port)
    warnings: list[str] = []
    source = TiledSource(f"http://127.0.0.1:{relay.port}/api/v1/metadata/scan2",
                         server.api_key, settle=0, warn=warnings.append)
    assert [f.name for f in source.poll()] == ["f_0"]
    relay.cut()
    node.write_array(stored(1), key="f_1")
    for _ in range(3):
        assert source.poll() == []
    assert len(warnings) == 1 and "cannot reach the Tiled server" in warnings[0]
    relay.up = True
    names = [f.name for f in source.poll()]
    assert names == ["f_0", "f_1"] and "answers again" in warnings[-1] and len(warnings) == 2


def test_bad_nodes_are_user_errors(server: SimpleTiledServer, tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(UserError, match="nope: cannot open the Tiled node .*404"):
        TiledSource(node_uri(server, "nope"), api_key=server.api_key)
    with pytest.raises(UserError, match="cannot open the Tiled node .*401"):
        TiledSource(node_uri(server, "stack") + "?api_key=wrong")
    with pytest.raises(UserError, match="cannot open the Tiled node .*UnsupportedProtocol"):
        TiledSource("localhost:1/api/v1/metadata/x")
    from_uri(server.uri).write_array(stored(0), key="single")
    with pytest.raises(UserError, match="the node is a 2-D array"):
        TiledSource(node_uri(server, "single"), api_key=server.api_key)
    assert public_uri("http://h:1/api/v1/metadata/a?api_key=s3&x=1") == \
        "http://h:1/api/v1/metadata/a?x=1"
    out = str(tmp_path / "r.csv")
    for args in (["stream", "film", "-o", out],
                 ["stream", "film", str(tmp_path), "--tiled", node_uri(server, "x"), "-o", out],
                 ["stream", "film", "--tiled", node_uri(server, "nope"), "--tiled-api-key",
                  server.api_key, "-o", out]):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "Traceback" not in err, err
    assert "nope: cannot open the Tiled node" in err and server.api_key not in err
    assert not Path(out).exists()


def test_the_command_line(server: SimpleTiledServer, tmp_path: Path,
                          capsys: pytest.CaptureFixture) -> None:
    node = from_uri(server.uri).create_container("scan3")
    for i in range(3):
        node.write_array(stored(i), key=f"f_{i}")
    out = tmp_path / "c.csv"
    assert main(["stream", "film", "--tiled", node_uri(server, "scan3"), "--tiled-api-key",
                 server.api_key, "-o", str(out), "--once"]) == 0
    assert "3 frames" in capsys.readouterr().out
    check_rows(read_rows(out), [0, 1, 2])
