"""What the wheel carries: every data file of the package is matched by the package-data
patterns of pyproject.toml (a file they miss would be absent from an installed package)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "deepgisas"


def test_every_data_file_is_package_data() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["deepgisas"]
    data = {p.relative_to(PACKAGE) for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    matched = {p for p in data if any(p.match(pattern) and len(p.parts) ==
                                      len(Path(pattern).parts) for pattern in patterns)}
    assert data - matched == set()
    assert any(p.parts[:2] == ("examples", "instruments") for p in matched)


def test_python_versions_and_torch_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    assert {f"Programming Language :: Python :: 3.{m}" for m in (11, 12, 13)} <= set(
        project["classifiers"])
    pinned = [d for d in project["dependencies"] if "==" in d]
    assert pinned == []
    constraints = (ROOT / ".ci" / "constraints.txt").read_text().split()
    assert "torch==2.14.1" in constraints and "torchvision==0.29.1" in constraints
