"""``deepgisas augment-gallery``: writes one PNG; bad input is one line on stderr and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deepgisas.cli.main import main
from tests.cases import base


def _write(tmp: Path, d: dict, name: str = "exp.yaml") -> Path:
    p = tmp / name
    p.write_text(yaml.safe_dump(d))
    return p


@pytest.mark.parametrize("free", [False, True])
def test_gallery_writes_a_png(free: bool, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    d = base(n=32)
    if free:  # a template: one experiment is drawn from it
        d["sample"]["particles"]["shape"]["sphere"]["radius_nm"] = {"uniform": [3.0, 6.0]}
    src = _write(tmp_path, d)
    out = tmp_path / "gallery.png"
    assert main(["augment-gallery", str(src), "-o", str(out), "--seed", "3"]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml", "gallery.png"]


@pytest.mark.parametrize("args", [
    ["augment-gallery", "{tmp}/nope.yaml", "-o", "{tmp}/g.png"],
    ["augment-gallery", "no-such-bundled-name", "-o", "{tmp}/g.png"],
    ["augment-gallery", "film", "-o", "{tmp}/g.jpg"],
    ["augment-gallery", "film", "-o", "{tmp}/missing/g.png"],
])
def test_bad_input_is_one_line_exit_2_and_no_file(args: list[str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("deepgisas augment-gallery: "), err
    assert list(tmp_path.iterdir()) == []
