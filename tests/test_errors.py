"""Errors name configuration fields; the CLI shows the flags instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepgisas.cli.main import main
from deepgisas.cli.options import flag_of
from deepgisas.errors import UserError
from deepgisas.stream.run import StreamConfig
from tests.io.helpers import INSTRUMENTS


def test_a_setting_is_named_by_its_field_and_shown_by_its_flag() -> None:
    with pytest.raises(UserError) as info:
        StreamConfig(idle_exit_s=-1)
    err = info.value
    assert str(err) == "idle_exit_s must be >= 0" and err.setting == "idle_exit_s"
    assert err.with_flag(flag_of(err.setting)) == "--idle-exit must be >= 0"
    assert flag_of("batch_size") == "--batch-size" and flag_of("alpha_i_deg") == "--alpha-i"
    # the first mention as a word only, after the location; a location that is the setting
    x = UserError("x must be index or time, not 'xx'", setting="x")
    assert x.with_flag("--x") == "--x must be index or time, not 'xx'"
    at = UserError("count must be >= 1", "index_x.yaml", setting="count")
    assert at.with_flag("--count") == "index_x.yaml: --count must be >= 1"
    assert UserError("bad", "alpha_i_deg", "alpha_i_deg").with_flag("--alpha-i") == "--alpha-i: bad"
    assert UserError("plain").with_flag("--x") == "plain"


def test_the_cli_says_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = tmp_path / "i.npy"
    np.save(img, np.ones((8, 8)))
    assert main(["predict", "film", str(img), "--instrument", str(INSTRUMENTS / "galaxi.yaml"),
                 "--alpha-i", "95"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deepgisas predict: --alpha-i: the incidence angle"), err
    assert "alpha_i_deg" not in err


def test_an_unknown_key_names_the_closest_allowed_one() -> None:
    from deepgisas.errors import unknown_key

    assert (unknown_key("materal", ["material", "thickness_nm", "roughness"])
            == "unknown key 'materal' (did you mean 'material'?)")
    assert (unknown_key("colour", ["material", "roughness"])
            == "unknown key 'colour' (allowed: material, roughness)")


def test_a_misspelt_key_in_a_description_file_gets_a_suggestion(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import yaml

    import deepgisas as dg
    from deepgisas.io.description import read_instrument

    d = dg.load("film").to_dict()
    d["sample"]["layers"][1]["materal"] = d["sample"]["layers"][1].pop("material")
    path = tmp_path / "film.yaml"
    path.write_text(yaml.safe_dump(d))
    assert main(["simulate", str(path), "-o", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("sample.layers.1: unknown key 'materal' (did you mean 'material'?)"), err
    assert str(path) in err and not (tmp_path / "x.npy").exists()
    inst = tmp_path / "inst.yaml"
    inst.write_text((INSTRUMENTS / "galaxi.yaml").read_text().replace("distance_mm",
                                                                     "distance"))
    with pytest.raises(UserError, match=r"unknown key 'distance' \(did you mean 'distance_mm'"):
        read_instrument(inst)
