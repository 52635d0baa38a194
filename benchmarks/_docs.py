"""docs/benchmarks.md: each benchmark script that measures a headline figure writes its own
section there with ``--markdown`` (``--write`` is the same): the current table, the command
that printed it and when it ran. A section holds no history; earlier figures belong in
CHANGELOG.md."""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from pathlib import Path

PATH = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def add_markdown_option(parser: argparse.ArgumentParser) -> None:
    """``--markdown`` (alias ``--write``, into ``args.write``): write the script's section of
    docs/benchmarks.md."""
    parser.add_argument("--markdown", "--write", dest="write", action="store_true",
                        help="write this benchmark's section of docs/benchmarks.md (the "
                             "current table, the command and the date)")


def ran() -> str:
    """The command this process runs, from the repository's root, and when:
    "`python benchmarks/NAME.py ...` (date, 2-core machine)"."""
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    script = f"benchmarks/{Path(sys.argv[0]).name}"
    return f"`python {shlex.join([script, *sys.argv[1:]])}` ({now}, 2-core machine)"


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
