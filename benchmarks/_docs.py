"""docs/benchmarks.md: each benchmark script that measures a headline figure writes its own
section there (run as scripts from this folder)."""

from __future__ import annotations

import datetime
import shlex
import sys
from pathlib import Path

PATH = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def ran() -> str:
    """The command this process runs, as typed, and when: "`python ...` (date, 2-core machine)"."""
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"`python {shlex.join(sys.argv)}` ({now}, 2-core machine)"


def write_section(head: str, lines: list[str]) -> None:
    """Replace the section titled ``head`` ("## ...") of docs/benchmarks.md by ``head`` and
    ``lines`` (or append it), leaving the other sections as they are."""
    text = PATH.read_text() if PATH.exists() else "# Benchmarks\n"
    section = "\n".join([head, "", *lines]).rstrip() + "\n"
    if head in text:
        before, rest = text.split(head, 1)
        after = rest.split("\n## ", 1)
        text = before + section + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    PATH.write_text(text.rstrip() + "\n")
    print(f"wrote {PATH}")
