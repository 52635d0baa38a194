"""docs/cli.md and docs/models.md are generated from the argument parser and the bundled
models' cards, and a test fails when either is stale."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from deepgisas import cli_doc, models_doc
from deepgisas.cli.main import build_parser
from deepgisas.docpage import escape_markdown, from_rst
from deepgisas.models.store import bundled_models

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_cli_page_is_up_to_date() -> None:
    assert (DOCS / "cli.md").read_text() == cli_doc.cli_reference(), (
        "docs/cli.md is stale: run python -m deepgisas.cli_doc docs/cli.md")


def test_the_models_page_is_up_to_date() -> None:
    assert (DOCS / "models.md").read_text() == models_doc.models_reference(), (
        "docs/models.md is stale: run python -m deepgisas.models_doc docs/models.md")


def _commands(parser: argparse.ArgumentParser, prog: str = "deepgisas") -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += [f"{prog} {name}", *_commands(sub, f"{prog} {name}")]
    return out


def test_every_command_and_option_is_on_the_cli_page() -> None:
    text = cli_doc.cli_reference()
    commands = _commands(build_parser())
    assert "deepgisas analyze bound" in commands and "deepgisas fit" in commands
    for command in commands:
        assert f"`{command}`" in text, command
    for flag in ("--instrument FILE", "--refine-beam", "--bin-counts", "--engine {auto,torch,onnx}",
                 "--intensity-scale LO HI"):
        assert f"`{flag}" in text, flag
    assert "(default: `32`)" in text  # a default the help does not state is given


def test_every_bundled_model_is_on_the_models_page() -> None:
    text = models_doc.models_reference()
    for name in bundled_models():
        assert f"## `{name}`" in text, name
    assert "deepgisas train film -o film" in text  # the training command from the card
    assert "| `radius_nm` |" in text and "the uniform guess" in text


@pytest.mark.parametrize("module", [cli_doc, models_doc])
def test_the_check_command_says_when_a_page_is_stale(module, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    page = tmp_path / "page.md"
    assert module.main([str(page)]) == 0 and module.main(["--check", str(page)]) == 0
    page.write_text(page.read_text().replace("deepgisas", "deep gisas", 1))
    assert module.main(["--check", str(page)]) == 1
    assert "stale" in capsys.readouterr().err
    assert module.main([]) == 2


def test_docstring_markup_and_markdown_characters_are_converted() -> None:
    assert from_rst("a ``x`` and :func:`~deepgisas.fit.fit_image`") == (
        "a `x` and `deepgisas.fit.fit_image`")
    assert escape_markdown("s * I_b <x> `a_b*c`") == r"s \* I\_b &lt;x&gt; `a_b*c`"
