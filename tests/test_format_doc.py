"""docs/format.md is generated from the parameter tables and covers every key in use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import deepgisas as dg
from deepgisas.format_doc import format_reference, main
from deepgisas.physics.formfactors import SHAPES
from deepgisas.physics.structures import STRUCTURES

DOC = Path(__file__).resolve().parents[1] / "docs" / "format.md"


def _keys(node: Any) -> set[str]:
    """Every mapping key in a description dict, priors' own keys left out."""
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("uniform", "log_uniform"):
                continue
            out.add(str(k))
            out |= _keys(v)
    elif isinstance(node, list):
        for v in node:
            out |= _keys(v)
    return out


def test_the_format_page_is_up_to_date() -> None:
    assert DOC.read_text() == format_reference(), (
        "docs/format.md is stale: run python -m deepgisas.format_doc docs/format.md")


def test_every_key_of_the_bundled_descriptions_is_documented() -> None:
    named = {part for token in re.findall(r"`([^`]+)`", format_reference())
             for part in re.split(r"[.:\s]+", token)}
    used = set().union(*(_keys(dg.load(name).to_dict()) for name in dg.bundled_names()))
    assert {"beam", "radius_nm", "random_bins", "mask_px"} & used  # the walk finds keys
    assert used - named == set()


def test_every_shape_and_interference_parameter_has_a_row() -> None:
    text = format_reference()
    for table in [s.params for s in SHAPES.values()] + [s.params for s in STRUCTURES.values()]:
        for p in table:
            assert f"| `{p.name}` | {p.unit} |" in text, p.name


def test_the_check_command_says_when_the_page_is_stale(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    page = tmp_path / "format.md"
    assert main([str(page)]) == 0 and main(["--check", str(page)]) == 0
    page.write_text(page.read_text().replace("wavelength", "wave length", 1))
    assert main(["--check", str(page)]) == 1
    assert "stale" in capsys.readouterr().err
