"""Reading small text files (descriptions, manifests, cards, PONI files) with one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from deepgisas.errors import UserError


def read_text(path: Path, missing: str = "no such file", where: str | None = None) -> str:
    """The file's text; a UserError (``missing`` at ``where``, else at the path) if absent."""
    try:
        return path.read_text()
    except FileNotFoundError:
        raise UserError(missing, where or str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read: {exc.__class__.__name__}", str(path)) from None


def cell_float(v: object) -> float:
    """A CSV cell (text or number; empty or None = missing) as a float, NaN if missing."""
    if v is None or v == "":
        return math.nan
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def read_json(path: Path, what: str, missing: str = "no such file",
              where: str | None = None) -> Any:
    """Parsed JSON; a UserError ``unreadable WHAT`` naming the file if it is not JSON."""
    text = read_text(path, missing, where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"unreadable {what} ({exc.__class__.__name__})", str(path)) from None
