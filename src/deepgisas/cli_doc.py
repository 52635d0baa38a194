"""docs/cli.md, generated from the argument parser: every command and subcommand of
``deepgisas``, its usage, description and options with their help and defaults.

    python -m deepgisas.cli_doc docs/cli.md            # write it
    python -m deepgisas.cli_doc --check docs/cli.md    # exit 1 when it is stale

The page is built from the parser's actions, not from argparse's help text, so that it does not
depend on the terminal's width or on the Python version's help layout.
"""

from __future__ import annotations

import argparse
import re
import sys

from deepgisas.cli.main import build_parser
from deepgisas.docpage import escape_markdown, from_rst, page_main


def _subcommands(parser: argparse.ArgumentParser
                 ) -> list[tuple[str, str | None, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand of ``parser``, in registration order."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            out += [(name, helps.get(name), sub) for name, sub in action.choices.items()]
    return out


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return str(action.metavar if isinstance(action.metavar, str) else action.metavar[0])
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return "{" + ",".join(str(c) for c in action.choices) + "}"
    return action.dest.upper() if action.option_strings else action.dest.upper()


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _with_nargs(action: argparse.Action) -> str:
    m = _metavar(action)
    n = action.nargs
    if n is None or n == 1:
        return m
    if n == "?":
        return f"[{m}]"
    if n == "*":
        return f"[{m} ...]"
    if n == "+":
        return f"{m} [{m} ...]"
    if isinstance(n, int):
        if isinstance(action.metavar, tuple):
            return " ".join(str(x) for x in action.metavar)
        return " ".join([m] * n)
    return m


def _usage(prog: str, parser: argparse.ArgumentParser) -> str:
    words = [prog]
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction) or not a.option_strings or not a.required:
            continue
        words.append(f"{a.option_strings[0]} {_with_nargs(a)}")
    if any(a.option_strings and not a.required and not isinstance(a, argparse._HelpAction)
           for a in parser._actions):
        words.append("[options]")
    for a in parser._actions:
        if a.option_strings:
            continue
        words.append("COMMAND ..." if isinstance(a, argparse._SubParsersAction)
                     else _with_nargs(a))
    return " ".join(words)


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%" in text:
        params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
        params["default"] = action.default
        text = text % params
    return from_rst(" ".join(text.split()))


def _default(action: argparse.Action) -> str | None:
    d = action.default
    if d is None or d is argparse.SUPPRESS or isinstance(action, argparse._StoreTrueAction):
        return None
    if isinstance(d, list | tuple):
        return " ".join(str(x) for x in d)
    return str(d)


def _said(default: str, text: str) -> bool:
    """Whether the help text already gives the default, as "default" or "(10)"."""
    if "default" in text:
        return True
    for number in re.findall(r"\(([-+.\de]+)\)", text):
        try:
            if float(number) == float(default):
                return True
        except ValueError:
            continue
    return f"({default})" in text


def _action_line(action: argparse.Action) -> str:
    if action.option_strings:
        name = ", ".join(action.option_strings)
        if _takes_value(action):
            name += " " + _with_nargs(action)
    else:
        name = _with_nargs(action)
    line = f"- `{name}`"
    text = _help(action)
    if text:
        line += ": " + escape_markdown(text)
    default = _default(action)
    if default is not None and action.option_strings and not _said(default, text):
        line += f" (default: `{default}`)"
    return line


def _section(prog: str, summary: str | None, parser: argparse.ArgumentParser,
             level: int) -> list[str]:
    out = [f"{'#' * level} `{prog}`", ""]
    if summary:
        out += [escape_markdown(summary[0].upper() + summary[1:]) + ".", ""]
    out += ["```text", _usage(prog, parser), "```", ""]
    if parser.description and prog != "deepgisas":
        out += [escape_markdown(from_rst(" ".join(parser.description.split()))), ""]
    positionals = [a for a in parser._actions
                   if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
    options = [a for a in parser._actions
               if a.option_strings and not isinstance(a, argparse._HelpAction)]
    if positionals:
        out += ["**Arguments**", "", *map(_action_line, positionals), ""]
    if options:
        out += ["**Options**", "", *map(_action_line, options), ""]
    for name, help_, sub in _subcommands(parser):
        out += _section(f"{prog} {name}", help_, sub, min(level + 1, 4))
    return out


def cli_reference() -> str:
    """The Markdown of docs/cli.md."""
    parser = build_parser()
    out = ["# Command line", "",
           "Generated from the argument parser by `python -m deepgisas.cli_doc docs/cli.md`; "
           "do not edit. A test fails when it is stale. `deepgisas COMMAND --help` prints the "
           "same on the terminal. Every user error is one line on stderr and exit status 2, "
           "with no output file written.", ""]
    out += ["```text", _usage("deepgisas", parser), "```", ""]
    out += ["| command | what it does |", "|---|---|"]
    for name, help_, _ in _subcommands(parser):
        out.append(f"| [`{name}`](#deepgisas-{name}) | {escape_markdown(help_ or '')} |")
    out.append("")
    for name, help_, sub in _subcommands(parser):
        out += _section(f"deepgisas {name}", help_, sub, 2)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    """``python -m deepgisas.cli_doc [--check] docs/cli.md``."""
    return page_main(argv, "deepgisas.cli_doc", cli_reference)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
