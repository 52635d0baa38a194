"""Training: a short run learns, a killed run resumes bit for bit, DDP on 2 gloo processes,
and model directories round-trip or fail clearly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from deepgisas.cli.main import main
from deepgisas.data.preprocess import InputSpec
from deepgisas.errors import UserError
from deepgisas.models import create_model
from deepgisas.models.store import load_model
from deepgisas.training.config import TrainConfig
from deepgisas.training.loop import train
from tests.data.helpers import small_film, small_template, write_template

SMALL = ["--crop", "28", "28", "--batch-size", "8", "--steps-per-epoch", "3",
         "--val-size", "16", "--workers", "0", "--seed", "1"]


def _cfg(**kw: object) -> TrainConfig:
    base = dict(minutes=5.0, batch_size=8, steps_per_epoch=4, val_size=32, warmup_steps=2,
                workers=0, input=InputSpec(crop=(28, 28)))
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_a_short_run_lowers_the_validation_loss(tmp_path: Path) -> None:
    card = train(small_film(32), tmp_path / "m", _cfg(max_steps=60, lr=3e-3, batch_size=16,
                                                      steps_per_epoch=10),
                 progress=False)
    rows = (tmp_path / "m" / "learning_curve.csv").read_text().splitlines()
    header = rows[0].split(",")
    nll = [float(r.split(",")[header.index("nll")]) for r in rows[1:]]
    assert len(nll) == 6 and nll[-1] < nll[0] - 0.5, nll
    assert card.head == "gaussian" and card.validation["nll"] == pytest.approx(nll[-1])
    assert (tmp_path / "m" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_model_directory_round_trips(tmp_path: Path) -> None:
    train(small_template(32), tmp_path / "m", _cfg(max_steps=4), progress=False)
    net, card = load_model(tmp_path / "m")
    assert card.arch == "compact" and card.head == "distribution"
    assert card.labels["bins"] == 120 and card.input["crop"] == [28, 28]
    state = load_file(tmp_path / "m" / "model.safetensors")
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    x = torch.randn(2, 2, 28, 28)
    net2, _ = load_model(tmp_path / "m")
    with torch.no_grad():
        assert torch.equal(net(x), net2(x))


def test_corrupt_model_directories_are_clear_errors(tmp_path: Path) -> None:
    train(small_template(32), tmp_path / "m", _cfg(max_steps=4), progress=False)
    bad = tmp_path / "bad"
    shutil.copytree(tmp_path / "m", bad)
    (bad / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(UserError, match="model.safetensors: corrupt weights"):
        load_model(bad)
    (bad / "card.json").write_text("{not json")
    with pytest.raises(UserError, match="card.json: unreadable model card"):
        load_model(bad)
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    card["arch"] = "resnet18"
    (bad / "card.json").write_text(json.dumps(card))
    shutil.copy(tmp_path / "m" / "model.safetensors", bad / "model.safetensors")
    with pytest.raises(UserError, match="do not fit"):
        load_model(bad)
    with pytest.raises(UserError, match="not a bundled model"):
        load_model(tmp_path / "nothing")
    good = json.loads((tmp_path / "m" / "card.json").read_text())
    for change, message in (({"archh": "compact"}, "unknown key 'archh' in the card"),
                            ({"head": "mixture"}, "unknown head 'mixture'"),
                            ({"flow": {"context": 8}}, "flow head and the card's 'flow'"),
                            ({"num_outputs": 0}, "num_outputs must be a positive integer")):
        (bad / "card.json").write_text(json.dumps({**good, **change}))
        with pytest.raises(UserError, match=message):
            load_model(bad)
    for name in ("film", "film-flow", "hex-orientation"):  # the bundled cards all pass
        load_model(name)


def _no_seconds(row: str) -> list[str]:
    """A learning-curve line without its timing columns (3: wall time; last: data wait)."""
    cells = row.split(",")
    assert cells[-1] == "data_wait" or float(cells[-1]) >= 0
    return [c for i, c in enumerate(cells[:-1]) if i != 3]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Bit-for-bit comparisons across processes: one intra-op thread everywhere."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_killed_run_resumes_bit_for_bit(tmp_path: Path, one_thread: None) -> None:
    src = write_template(tmp_path, 32)
    args = ["train", str(src), "--max-steps", "30", "--checkpoint-minutes", "0", *SMALL]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0
    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "deepgisas.cli.main", *args, "-o",
                             str(killed)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoint" / "checkpoint.safetensors"
    t0 = time.time()
    while not ckpt.exists() and time.time() - t0 < 120:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not (killed / "model.safetensors").exists(), "killed too late"
    assert main([*args, "-o", str(killed), "--resume"]) == 0
    a = load_file(tmp_path / "whole" / "model.safetensors")
    b = load_file(killed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    curve_a = (tmp_path / "whole" / "learning_curve.csv").read_text().splitlines()
    curve_b = (killed / "learning_curve.csv").read_text().splitlines()
    assert [_no_seconds(r) for r in curve_a] == [_no_seconds(r) for r in curve_b]
    # resuming a finished run trains no further
    assert main([*args, "-o", str(tmp_path / "whole"), "--resume"]) == 0
    c = load_file(tmp_path / "whole" / "model.safetensors")
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_ddp_on_two_gloo_processes(tmp_path: Path) -> None:
    src = write_template(tmp_path, 32)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29517", "-m", "deepgisas.cli.main", "train", str(src),
           "-o", str(out), "--max-steps", "6", *SMALL]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["world_size"] == 2 and card["training"]["images"] == 6 * 8 * 2
    net, _ = load_model(out)
    assert net(torch.zeros(1, 2, 28, 28)).shape == (1, 120)


def test_train_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = write_template(tmp_path, 32)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    for args in (["train", str(src), "-o", str(tmp_path / "full")],
                 ["train", str(src), "-o", str(tmp_path / "m"), "--arch", "vgg"],
                 ["train", str(src), "-o", str(tmp_path / "m"), "--resume"],
                 ["train", str(tmp_path / "none.yaml"), "-o", str(tmp_path / "m")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("deepgisas train:"), err


def test_card_reports_figures_and_baselines(tmp_path: Path) -> None:
    card = train(small_template(32), tmp_path / "hex", _cfg(max_steps=2), progress=False)
    f = card.validation["figures"]
    assert set(f) == {"model", "baseline_uniform", "baseline_mean_label"}
    # with 1 to 5 bins of 120, the uniform prediction has KL between log(120/5) and log(120)
    assert np.log(24) - 0.01 < f["baseline_uniform"]["kl"] < np.log(120) + 0.01
    assert 0 < f["baseline_uniform"]["emd_deg"] < 30
    card = train(small_film(32), tmp_path / "film", _cfg(max_steps=2), progress=False)
    f = card.validation["figures"]
    assert set(f) == {"distance_nm", "radius_nm"}
    assert all(0 <= v["within_1std"] <= v["within_2std"] <= 1 for v in f.values())
    assert all(v["baseline_median_relative_error"] > 0 for v in f.values())


def test_tensorboard_logs_when_installed(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    train(small_film(32), tmp_path / "m", _cfg(max_steps=4, steps_per_epoch=2), progress=False)
    assert list((tmp_path / "m" / "tensorboard").glob("events.out.tfevents.*"))


def test_curriculum_stage_keeps_weights_and_records_its_history(tmp_path: Path) -> None:
    """--init-from with --init-head starts from the whole model (backbone and head); the new
    card records the first stage's command and input."""
    from deepgisas.training.cards import init_backbone

    bright = InputSpec(crop=(28, 28), bin_counts=True, downsample=(2, 1), scale=(1.0, 3.0))
    train(small_template(32), tmp_path / "a", _cfg(max_steps=2, input=bright), progress=False,
          command="deepgisas train stage-one")
    source, first_card = load_model(tmp_path / "a")
    talk = InputSpec(crop=(28, 28), bin_counts=True, downsample=(2, 1))
    cfg = _cfg(max_steps=2, input=talk, init_from=str(tmp_path / "a"), init_head=True)
    net = create_model("compact", 2, 120)
    init_backbone(net, cfg)
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in net.state_dict().items())
    card = train(small_template(32), tmp_path / "b", cfg, progress=False)
    (first,) = card.training["init_history"]
    assert first["command"] == "deepgisas train stage-one"
    assert first["steps"] == first_card.training["steps"]
    assert first["input"]["scale"] == [1.0, 3.0] and card.input["scale"] == [-2.0, 2.0]
    with pytest.raises(UserError, match="outputs"):
        init_backbone(create_model("compact", 2, 7), cfg)


def test_a_rodprofile_grows_from_the_bundled_rodnet() -> None:
    """--arch rodprofile --init-from a rodnet: with --init-head the new network gives the
    rodnet's outputs; without, it keeps the rodnet's backbone and a fresh head."""
    from deepgisas.training.cards import init_backbone

    source, _ = load_model("hex-orientation")
    spec = InputSpec(crop=(224, 224), downsample=(4, 2), bin_counts=True)
    cfg = _cfg(arch="rodprofile", input=spec, init_from="hex-orientation", init_head=True)
    net = create_model("rodprofile", 2, 120)
    init_backbone(net, cfg)
    x = torch.randn(2, 2, 56, 112)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), source.eval()(x), atol=1e-4)
    fresh = create_model("rodprofile", 2, 120)
    init_backbone(fresh, _cfg(arch="rodprofile", input=spec, init_from="hex-orientation"))
    rod = fresh.backbone.rod.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(v, source.backbone.state_dict()[k]) for k, v in rod.items())
    with torch.no_grad():
        assert not torch.allclose(fresh.eval()(x), source(x), atol=1e-2)
    with pytest.raises(UserError, match="outputs"):
        init_backbone(create_model("rodprofile", 2, 7), cfg)


def test_a_replay_buffer_run_records_its_reuse(tmp_path: Path) -> None:
    """--buffer: the card keeps the option and the reuse factor, the curve a reuse column."""
    src = write_template(tmp_path, 32)
    assert main(["train", str(src), "-o", str(tmp_path / "m"), "--max-steps", "6",
                 "--buffer", "16", *SMALL]) == 0
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["training"]["config"]["buffer"] == 16 and "reuse" not in card["validation"]
    rows = (tmp_path / "m" / "learning_curve.csv").read_text().splitlines()
    reuse = [float(r.split(",")[rows[0].split(",").index("reuse")]) for r in rows[1:]]
    assert len(reuse) == 2 and card["training"]["reuse"] == reuse[-1] > 0
    for kw in ({"buffer": 4}, {"buffer": 64, "data": str(tmp_path)}):
        with pytest.raises(UserError, match="buffer"):
            _cfg(**kw)
