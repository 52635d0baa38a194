"""A pyFAI PONI file as ``--instrument`` (with ``--alpha-i``) in every command that takes one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepgisas.cli.main import main
from tests.io.helpers import INSTRUMENTS, galaxi_poni, real

BAD = {
    "missing": galaxi_poni().replace("Poni1:", "Poni_1:"),
    "number": galaxi_poni().replace("Distance: 1.73", "Distance: 1,73"),
    "rotation": galaxi_poni().replace("Rot3: 0", "Rot3: 0.02"),
    "pixels": galaxi_poni("{}", "SomeCamera"),
}


def _argv(command: str, poni: Path, tmp_path: Path) -> tuple[list[str], Path]:
    galaxi = str(real("galaxi"))
    inst = ["--instrument", str(poni), "--alpha-i", "0.275"]
    if command == "show":
        out = tmp_path / "v.png"
        return ["show", galaxi, *inst, "-o", str(out)], out
    if command == "predict":
        out = tmp_path / "p.json"
        return ["predict", "film", galaxi, *inst, "-o", str(out)], out
    if command == "fit":
        out = tmp_path / "f.json"
        return ["fit", "film", galaxi, "--model", "film", *inst, "-o", str(out)], out
    folder = tmp_path / "frames"
    folder.mkdir()
    out = tmp_path / "r.csv"
    return ["stream", "film", str(folder), *inst, "--once", "-o", str(out)], out


@pytest.mark.parametrize("command", ["show", "predict", "fit", "stream"])
@pytest.mark.parametrize("bad", list(BAD))
def test_bad_poni_is_one_line_naming_the_file(command: str, bad: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    poni = tmp_path / f"{bad}.poni"
    poni.write_text(BAD[bad])
    argv, out = _argv(command, poni, tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"deepgisas {command}: {poni}: "), err
    assert not out.exists() and not out.with_suffix(".png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [poni.name] + (["frames"] if command == "stream" else []))


def test_alpha_i_is_required_with_a_poni_and_needs_an_instrument(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    poni = tmp_path / "g.poni"
    poni.write_text(galaxi_poni())
    out = tmp_path / "v.png"
    assert main(["show", str(real("galaxi")), "--instrument", str(poni), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "g.poni: a PONI file has no incidence angle: give it as --alpha-i" in err
    assert main(["show", str(real("galaxi")), "--alpha-i", "0.3", "-o", str(out)]) == 2
    assert "--alpha-i needs --instrument" in capsys.readouterr().err and not out.exists()


def test_poni_predicts_as_the_yaml(tmp_path: Path) -> None:
    """`predict film GALAXI --instrument galaxi.poni --alpha-i 0.275` equals the YAML's."""
    poni = tmp_path / "galaxi.poni"
    poni.write_text(galaxi_poni("{}", "Pilatus1M"))
    results = []
    for inst in (["--instrument", str(poni), "--alpha-i", "0.275"],
                 ["--instrument", str(INSTRUMENTS / "galaxi.yaml")]):
        out = tmp_path / "p.json"
        assert main(["predict", "film", str(real("galaxi")), *inst, "-o", str(out)]) == 0
        results.append(json.loads(out.read_text())["results"][0])
    for k, v in results[1]["parameters"].items():
        assert results[0]["parameters"][k] == pytest.approx(v, rel=1e-6)
    out = tmp_path / "v.png"
    assert main(["show", str(real("galaxi")), "--instrument", str(poni), "--alpha-i", "0.275",
                 "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
