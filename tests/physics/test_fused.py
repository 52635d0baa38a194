"""Fused kernels (deepgisas.physics.fused): the fused forms give the eager images, compiled or
not; a failing compiler falls back to eager with one warning; gradients stay eager."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import deepgisas as dg
from deepgisas.physics import fused


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(autouse=True)
def _eager_after() -> None:
    before = fused.mode()
    yield
    fused.enable(before)


def _draws(name: str, n: int = 3) -> list:
    return dg.sample_experiments(dg.load(name), n, seed=11)


@pytest.mark.parametrize("name", ["film", "hex-orientation"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_fused_forms_give_the_eager_images(name: str, dtype: torch.dtype, tol: float) -> None:
    """The fused forms (direct phases, the series by selection) run eagerly: the arithmetic
    the compiled kernels do, against the eager ladder. The film's size distribution takes the
    ladder eagerly, so its images differ in the last bits (the fused path ran); one sphere size
    (hex-orientation) gives the same numbers both ways."""
    exps = _draws(name)
    eager = dg.simulate_batch(exps, dtype=dtype, mixed=False)
    with fused.enabled("forms"):
        forms = dg.simulate_batch(exps, dtype=dtype, mixed=False)
    assert _rel(forms, eager) < tol
    if name == "film":
        assert not np.array_equal(forms, eager)


@pytest.mark.parametrize("mode", ["off", "forms"])
def test_size_averages_match_the_members(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel that needs only the size averages gets them from ``dwba_sums`` (fused: the
    members summed in the loop that makes them). Made to take every member apart instead
    (the radial paracrystal's size-spacing path, here at kappa = 0), the film's images are
    the same to rounding, eagerly and in the fused forms."""
    from deepgisas.physics.structures.radial_paracrystal import RadialParacrystal

    exps = _draws("film")
    with fused.enabled(mode):
        sums = dg.simulate_batch(exps, mixed=False)
        monkeypatch.setattr(RadialParacrystal, "needs_members", lambda self, p: True)
        members = dg.simulate_batch(exps, mixed=False)
    assert 0 < _rel(sums, members) < 1e-12  # 0: the members' path did not run


def test_amplitudes_without_members_say_so() -> None:
    from deepgisas.physics.structures.base import Amplitudes

    z = torch.zeros(1, 2, 2, dtype=torch.float64)
    a = Amplitudes(z, z, None, torch.ones(1, 3, dtype=torch.float64), torch.ones(1, 3),
                   (z + 2.0, torch.complex(z + 1.0, z)))
    assert float(a.mean_abs2().sum()) == 8.0 and float(a.abs2_mean().sum()) == 4.0
    with pytest.raises(ValueError, match="needs the size members"):
        _ = a.members


def test_a_failing_compiler_falls_back_with_one_warning(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    def broken(fn, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("no C++ compiler here\nsecond line")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(fused, "_FAILED", set())
    exps = _draws("film", 2)
    eager = dg.simulate_batch(exps)
    fused.enable(True)
    with pytest.warns(RuntimeWarning, match="runs eagerly: compiling failed .*no C\\+\\+ compiler"):
        first = dg.simulate_batch(exps)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = dg.simulate_batch(exps)  # no second warning
    np.testing.assert_array_equal(first, eager)
    np.testing.assert_array_equal(again, eager)


def test_gradients_stay_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an input that requires a gradient nothing is compiled and the gradient flows."""
    from deepgisas.physics.structures.lattice2d import HEXAGONAL, lattice

    def forbidden(fn, **kwargs):
        raise AssertionError("compiled with a gradient")

    monkeypatch.setattr(torch, "compile", forbidden)
    fused.enable(True)
    q = torch.linspace(-0.5, 0.5, 64, dtype=torch.float64)
    qx, qy = (x[None].clone() for x in torch.meshgrid(q, q, indexing="ij"))
    a = torch.tensor([30.0], dtype=torch.float64, requires_grad=True)
    one = torch.ones(1, dtype=torch.float64)
    s = lattice(HEXAGONAL, qx, qy, a, 150 * one, 2 * one, torch.zeros(1, 1, dtype=torch.float64))
    s.sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()
    # the DWBA terms get the layers' waves in tuples: the layers' susceptibilities chi reach
    # the kernel only there
    from deepgisas.compile import compile_batch
    from deepgisas.physics.simulate import simulate_tensors

    st, p = compile_batch(_draws("film", 1))
    p = {k: v.clone() for k, v in p.items()}
    p["chi"].requires_grad_(True)
    simulate_tensors(st, p).sum().backward()
    assert p["chi"].grad is not None and torch.isfinite(torch.view_as_real(p["chi"].grad)).all()


def test_modes_and_the_environment() -> None:
    import os

    fused.enable("forms")
    assert fused.mode() == "forms" and os.environ["DEEPGISAS_FUSED"] == "0"
    with fused.enabled(True):
        assert fused.mode() == "compiled" and os.environ["DEEPGISAS_FUSED"] == "1"
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"]
    assert fused.mode() == "forms"
    with pytest.raises(ValueError, match="unknown fused mode"):
        fused.enable("fast")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["film", "hex-orientation"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_compiled_kernels_give_the_eager_images(name: str, dtype: torch.dtype, tol: float
                                                ) -> None:
    """torch.compile for real (minutes per template on first use, then Inductor's cache)."""
    exps = _draws(name)
    eager = dg.simulate_batch(exps, dtype=dtype, mixed=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a compiler fallback fails the test
        with fused.enabled(True):
            compiled = dg.simulate_batch(exps, dtype=dtype, mixed=False)
    assert _rel(compiled, eager) < tol


def test_generate_fused_turns_the_kernels_on(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``generate --fused``: the kernels go to torch.compile (here a stand-in that records and
    runs the fused forms as they are) and the shards hold the eager images to rounding."""
    import h5py

    from deepgisas.cli.main import main
    from tests.data.helpers import write_template

    asked: list[str] = []

    def record(fn, **kwargs):
        asked.append(fn.__name__)
        return fn

    monkeypatch.setattr(torch, "compile", record)
    monkeypatch.setattr(fused, "_FAILED", set())
    src = write_template(tmp_path, 16)
    fused.enable(False)
    assert main(["generate", str(src), "--n", "2", "-o", str(tmp_path / "eager")]) == 0
    assert not asked
    assert main(["generate", str(src), "--n", "2", "-o", str(tmp_path / "fused"),
                 "--fused"]) == 0
    assert asked and fused.mode() == "compiled"
    images = []
    for run in ("eager", "fused"):
        with h5py.File(next((tmp_path / run).glob("shard-*.h5")), "r") as f:
            images.append(f["intensity"][()])
    np.testing.assert_allclose(images[1], images[0], rtol=1e-5, atol=1e-7 * images[0].max())


def test_fit_fused_turns_the_kernels_on(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``fit --fused`` turns the fused kernels on (here their forms, run eagerly in place of
    the compiler), and the answer is the eager fit's."""
    import json

    import yaml

    from deepgisas.cli.main import main
    from tests.data.helpers import small_film

    real, asked = fused.enable, []

    def enable(on: bool | str = True) -> str:
        asked.append(on)
        return real("forms" if on in (True, "compiled") else on)

    monkeypatch.setattr(fused, "enable", enable)
    t = small_film(16)
    src = tmp_path / "film.yaml"
    src.write_text(yaml.safe_dump(t.to_dict()))
    np.save(tmp_path / "img.npy", np.random.default_rng(0).poisson(dg.simulate(t.base) * 50.0))
    real(False)
    answers = []
    for run, extra in (("eager", []), ("fused", ["--fused"])):
        out = tmp_path / f"{run}.json"
        assert main(["fit", str(src), str(tmp_path / "img.npy"), "-o", str(out), "--quiet",
                     "--no-intervals", *extra]) == 0
        answers.append(json.loads(out.read_text()))
        assert fused.mode() == ("forms" if run == "fused" else "off")
    real(False)
    assert asked == [True]
    for name, value in answers[0]["parameters"].items():
        assert answers[1]["parameters"][name] == pytest.approx(
            value, abs=1e-3 * answers[0]["std"][name])


def test_stream_fused_turns_the_kernels_on(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``stream --fused`` turns them on for the run (its fits), before it reads a frame."""
    from deepgisas.cli.main import main

    asked: list[bool | str] = []
    monkeypatch.setattr(fused, "enable", lambda on=True: asked.append(on) or "off")
    (tmp_path / "frames").mkdir()
    assert main(["stream", "film", str(tmp_path / "frames"), "-o", str(tmp_path / "r.csv"),
                 "--once", "--settle", "0", "--fused"]) == 2  # no frame: exit 2
    assert asked == [True]


def test_a_kernel_may_keep_many_graphs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiling a kernel raises Dynamo's recompile limit (8 by default) to RECOMPILE_LIMIT:
    past the limit Dynamo runs the fused form eagerly, slower than the eager kernel."""
    import torch._dynamo.config as dynamo_config

    monkeypatch.setattr(dynamo_config, "recompile_limit", 8)
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)

    @fused.kernel
    def double(x: torch.Tensor) -> torch.Tensor:
        return 2.0 * x

    with fused.enabled(True):
        assert torch.equal(double(torch.ones(3)), torch.full((3,), 2.0))
    assert dynamo_config.recompile_limit == fused.RECOMPILE_LIMIT >= 64
