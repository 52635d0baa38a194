"""``deepgisas --version``: the installed distribution's version, else the package's."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

import deepgisas
from deepgisas.cli.main import main, version

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_the_metadata_version(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: f"9.8.7+{name}")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "deepgisas 9.8.7+deepgisas"


def test_version_falls_back_to_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert version() == deepgisas.__version__


def test_the_wheel_takes_its_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "deepgisas.__version__"}
