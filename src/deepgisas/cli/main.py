"""The ``deepgisas`` command: parse arguments, call the API, print the result.

Every user error is one line on stderr and exit status 2, with no output file written.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from deepgisas.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``deepgisas`` command, every subcommand registered."""
    from deepgisas.cli import (
        analyze,
        augment_gallery,
        bluesky,
        export,
        fit,
        generate,
        predict,
        show,
        simulate,
        stream,
        train,
    )

    parser = argparse.ArgumentParser(
        prog="deepgisas",
        description="GISAXS/GISANS: simulate like BornAgain, fast; read detector images.")
    parser.add_argument("--version", action="version", version=f"deepgisas {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    simulate.register(sub)
    generate.register(sub)
    augment_gallery.register(sub)
    train.register(sub)
    predict.register(sub)
    stream.register(sub)
    bluesky.register(sub)
    export.register(sub)
    fit.register(sub)
    show.register(sub)
    analyze.register(sub)
    return parser


def version() -> str:
    """The installed distribution's version (its metadata), else the package's
    ``__version__`` (a source tree on ``PYTHONPATH``)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("deepgisas")
    except PackageNotFoundError:
        from deepgisas import __version__

        return __version__


class _ArgumentError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code or 0) if exc.code not in (None, 0) else 0
    def one_line(message: Warning | str, category: type[Warning], *_: object,
                 **__: object) -> None:
        print(f"deepgisas {args.command}: warning: {message}", file=sys.stderr)

    from deepgisas.physics.memory import retain_freed_memory

    retain_freed_memory()  # the simulator's temporaries reuse mapped pages (see the module)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line  # a user sees one line per warning, no source
            args.func(args)
    except UserError as exc:
        from deepgisas.cli.options import flag_of

        text = exc.with_flag(flag_of(exc.setting)) if exc.setting else str(exc)
        print(f"deepgisas {args.command}: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepgisas: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
