"""Bad files: every reader gives a one-line UserError naming the file (or a valid image),
never another exception, a crash or a hang; through the CLI: exit 2, one line, no output."""

from __future__ import annotations

import gzip
import io
import logging
import re
from pathlib import Path

import fabio
import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepgisas.cli.main import main
from deepgisas.errors import UserError
from deepgisas.io.readers import read_detector_image

logging.getLogger("fabio").setLevel(logging.CRITICAL)
TRIED = {"n": 0}


def _valid(fmt: str, tmp: Path) -> bytes:
    a = (np.arange(48).reshape(8, 6) * 3).astype("int32")
    p = tmp / f"v.{fmt}"
    if fmt == "tif":
        fabio.tifimage.TifImage(data=a).write(str(p))
    elif fmt == "cbf":
        fabio.cbfimage.CbfImage(data=a).write(str(p))
    elif fmt == "edf":
        fabio.edfimage.EdfImage(data=a).write(str(p))
    elif fmt == "h5":
        with h5py.File(p, "w") as f:
            f["entry/data"] = a
    elif fmt == "txt":
        np.savetxt(p, a, fmt="%d")
    else:
        buf = io.BytesIO()
        np.save(buf, a)
        p.write_bytes(buf.getvalue())
    return p.read_bytes()


FORMATS = ["tif", "cbf", "edf", "h5", "txt", "npy"]


@st.composite
def _mutation(draw: st.DrawFn) -> tuple[str, str, int, bytes, bool]:
    fmt = draw(st.sampled_from(FORMATS))
    kind = draw(st.sampled_from(["truncate", "magic", "random", "huge", "nan", "flip"]))
    pos = draw(st.integers(0, 10_000))
    junk = draw(st.binary(min_size=1, max_size=64))
    gz = draw(st.booleans())
    return fmt, kind, pos, junk, gz


def _mutate(data: bytes, kind: str, pos: int, junk: bytes, fmt: str) -> bytes:
    if kind == "truncate":
        return data[: pos % max(len(data), 1)]
    if kind == "magic":
        return junk[:8] + data[8:]
    if kind == "random":
        return junk * (1 + pos % 50)
    if kind == "flip":
        i = pos % len(data)
        return data[:i] + junk + data[i + len(junk):]
    if kind == "huge":  # declared dimensions far beyond memory
        text = data.replace(b"(8, 6)", b"(800000, 600000)")
        text = re.sub(rb"Dim_1 = \d+", b"Dim_1 = 2000000000", text)
        text = re.sub(rb"X-Binary-Size-Fastest-Dimension: \d+",
                      b"X-Binary-Size-Fastest-Dimension: 2000000000", text)
        if fmt == "tif":  # image width tag value (first IFD entry after the header)
            text = text[:8] + text[8:].replace(b"\x00\x01\x04\x00\x01\x00\x00\x00\x06",
                                               b"\x00\x01\x04\x00\x01\x00\x00\x00\xff", 1)
        return text if text != data else data + junk
    # nan: a float NaN / text nan where the reader accepts numbers
    return data.replace(b"3 ", b"nan ", 3) if fmt == "txt" else data + b"\x00\x00\xc0\x7f"


@settings(max_examples=400, deadline=3000, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutation())
def test_readers_fail_cleanly(tmp_path: Path, case: tuple[str, str, int, bytes, bool]) -> None:
    fmt, kind, pos, junk, gz = case
    TRIED["n"] += 1
    data = _mutate(_valid(fmt, tmp_path), kind, pos, junk, fmt)
    p = tmp_path / (f"bad.{fmt}" + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(data) if gz else data)
    try:
        img = read_detector_image(p)
    except UserError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg.startswith(str(p)), msg
    else:
        assert img.data.ndim == 2 and img.data.dtype == np.float64


def test_fuzz_count_reported() -> None:
    """Runs after the fuzz test in file order: how many inputs were tried."""
    if TRIED["n"]:
        print(f"\nfuzzed readers with {TRIED['n']} inputs")
        assert TRIED["n"] >= 300


@pytest.mark.parametrize("content,name", [(b"II*\x00garbage", "x.tif"),
                                          (b"{\nDim_1 = 99999999 ;\n}\n", "x.edf"),
                                          (b"1 2 3\n4 5\n", "x.txt.gz"),
                                          (b"\x93NUMPY nonsense", "x.npy")])
def test_cli_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture, content: bytes,
                      name: str) -> None:
    p = tmp_path / name
    p.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    out = tmp_path / "view.png"
    assert main(["show", str(p), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(p) in err
    assert not out.exists() and [f.name for f in tmp_path.iterdir()] == [name]
