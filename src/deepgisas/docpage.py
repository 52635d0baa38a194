"""The command line shared by the generated documentation pages (docs/format.md, docs/cli.md,
docs/models.md): ``python -m deepgisas.MODULE [--check] PAGE`` writes PAGE, or with
``--check`` exits 1 when PAGE differs from what would be written."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path


def page_main(argv: list[str], module: str, render: Callable[[], str]) -> int:
    """Write ``render()`` to the one path in ``argv``, or check it with ``--check``.

    Returns the exit status: 0 written or up to date, 1 stale (``--check``), 2 bad usage.
    """
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if len(paths) != 1:
        print(f"usage: python -m {module} [--check] PAGE.md", file=sys.stderr)
        return 2
    path, text = Path(paths[0]), render()
    if check:
        stale = not path.exists() or path.read_text() != text
        if stale:
            print(f"{path}: stale; run python -m {module} {path}", file=sys.stderr)
        return int(stale)
    path.write_text(text)
    print(f"wrote {path}")
    return 0


_CODE = re.compile(r"(`[^`]*`)")
_ROLE = re.compile(r":(?:func|mod|class|meth|attr|data|obj|exc|const):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def from_rst(text: str) -> str:
    """Docstring markup as Markdown: ``:func:`name``` and ````name```` become `` `name` ``."""
    return _LITERAL.sub(r"`\1`", _ROLE.sub(r"`\1`", text))


def escape_markdown(text: str) -> str:
    """``text`` with the characters that Markdown would read as emphasis or HTML escaped,
    code spans (between backticks) left as they are."""
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = (parts[i].replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
                    .replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|"))
    return "".join(parts)
