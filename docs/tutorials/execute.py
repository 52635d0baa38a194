"""Execute the tutorials: each ``docs/tutorials/*.py`` (jupytext percent format) becomes a
notebook, runs with nbclient on the ``python3`` kernel of this interpreter in a temporary
working directory, and is written executed beside its source as ``NAME.ipynb`` (gitignored),
which mkdocs-jupyter renders with its figures.

    DEEPGISAS_TUTORIAL_QUICK=1 python docs/tutorials/execute.py [NAME ...]

``DEEPGISAS_TUTORIAL_QUICK=1`` makes every tutorial shrink its work (CI). A failing cell stops
that tutorial: its source and error are printed, its notebook is not written, and the script
exits with status 1 after running the others.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
KERNEL = "python3"  # ipykernel's own spec: jupyter_client runs it with sys.executable


def sources(names: list[str]) -> list[Path]:
    """The tutorial sources to run: all of them, or the named ones (stem or file name)."""
    found = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    if not names:
        return found
    by_stem = {p.stem: p for p in found}
    unknown = [n for n in names if Path(n).stem not in by_stem]
    if unknown:
        print(f"execute.py: no tutorial {', '.join(unknown)} (known: {', '.join(by_stem)})",
              file=sys.stderr)
        sys.exit(2)
    return [by_stem[Path(n).stem] for n in names]


def run(source: Path, timeout: int) -> float:
    """Execute one tutorial in a temporary folder and write ``source.with_suffix('.ipynb')``;
    returns the seconds taken. Raises CellExecutionError on a failing cell."""
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3",
                                 "language": "python"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"tutorial-{source.stem}-") as work:
        NotebookClient(nb, timeout=timeout, kernel_name=KERNEL,
                       resources={"metadata": {"path": work}}).execute()
    seconds = time.perf_counter() - start
    out = source.with_suffix(".ipynb")
    tmp = out.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(out)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="tutorials to run (default: all)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (900)")
    args = parser.parse_args()
    KernelSpecManager().get_kernel_spec(KERNEL)  # NoSuchKernel: ipykernel is not installed
    failed = []
    total = time.perf_counter()
    for source in sources(args.names):
        try:
            seconds = run(source, args.timeout)
        except CellExecutionError as error:
            print(f"{source.name}: a cell failed\n{error}", file=sys.stderr)
            failed.append(source.name)
            continue
        print(f"{source.name}: executed in {seconds:.1f} s -> "
              f"{source.with_suffix('.ipynb').relative_to(HERE.parent.parent)}")
    print(f"{time.perf_counter() - total:.1f} s in all")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
