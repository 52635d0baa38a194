"""``deepgisas show`` on the four real files, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deepgisas.cli.main import main
from tests.io.helpers import FILES, INSTRUMENTS, real


@pytest.mark.parametrize("name", list(FILES))
def test_show_writes_a_png_for_each_real_file(name: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    path = real(name)
    _, instrument, orientation, _ = FILES[name]
    out = tmp_path / f"{name}.png"
    argv = ["show", str(path), "--instrument", str(INSTRUMENTS / instrument), "-o", str(out)]
    if orientation:
        argv += ["--orientation", orientation]
    assert main(argv) == 0, capsys.readouterr().err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("axes", ["q", "pixels"])
def test_show_axes_and_roi(axes: str, tmp_path: Path) -> None:
    d = yaml.safe_load((INSTRUMENTS / "galaxi.yaml").read_text())
    d["detector"]["roi_px"] = [450, 330, 750, 700]
    inst = tmp_path / "inst.yaml"
    inst.write_text(yaml.safe_dump(d))
    out = tmp_path / "v.png"
    assert main(["show", str(real("galaxi")), "--instrument", str(inst), "--axes", axes,
                 "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_show_without_instrument_is_in_pixels(tmp_path: Path) -> None:
    out = tmp_path / "v.png"
    assert main(["show", str(real("chess")), "-o", str(out)]) == 0 and out.exists()


def test_show_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "v.png"
    assert main(["show", str(real("chess")), "--axes", "q", "-o", str(out)]) == 2
    assert "--axes q needs an instrument" in capsys.readouterr().err and not out.exists()
    assert main(["show", str(real("chess")), "--instrument", str(INSTRUMENTS / "galaxi.yaml"),
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "1024 x 1024" in err and "\n" not in err and not out.exists()
