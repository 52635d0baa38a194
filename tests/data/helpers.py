"""Small templates for fast data tests."""

from __future__ import annotations

from pathlib import Path

import yaml

import deepgisas as dg
from deepgisas.templates import Template, parse_template


def small_hex(n: int = 32) -> dict:
    """The bundled hex-orientation template on an n x n detector (as a dict)."""
    d = dg.load("hex-orientation").to_dict()
    d["detector"]["spherical"]["shape"] = [n, n]
    return d


def small_template(n: int = 32) -> Template:
    return parse_template(small_hex(n))


def write_template(tmp: Path, n: int = 32, name: str = "t.yaml") -> Path:
    p = tmp / name
    p.write_text(yaml.safe_dump(small_hex(n)))
    return p


def small_film(n: int = 32) -> Template:
    """The bundled film template on an n x n detector, one size (no distribution), learning
    the distance and the radius."""
    d = dg.load("film").to_dict()
    d["detector"]["spherical"]["shape"] = [n, n]
    del d["sample"]["particles"]["size_distribution"]
    d["labels"] = ["distance_nm", "radius_nm"]
    return parse_template(d)
