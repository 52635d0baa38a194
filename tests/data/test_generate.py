"""Sharded generation: atomic shards, resume after a killed run, determinism across worker
counts, the Dask path, and clear errors for missing or corrupt shards."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from deepgisas.cli.main import main
from deepgisas.data.generate import generate
from deepgisas.data.shard_dataset import ShardDataset
from deepgisas.errors import UserError
from tests.data.helpers import small_template, write_template


def _read_all(folder: Path) -> dict[str, np.ndarray]:
    """Every dataset of every shard, concatenated in shard order."""
    out: dict[str, list] = {}
    for p in sorted(folder.glob("shard-*.h5")):
        with h5py.File(p, "r") as f:
            f.visititems(lambda name, obj: out.setdefault(name, []).append(obj[()])
                         if isinstance(obj, h5py.Dataset) else None)
    return {k: np.concatenate(v) for k, v in out.items()}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """12 patterns in shards of 4, one worker, seed 7."""
    out = tmp_path_factory.mktemp("ref") / "gen"
    generate(small_template(24), 12, out, workers=1, shard_size=4, seed=7, progress=False)
    return _read_all(out)


def test_shards_hold_intensities_labels_params_axes_template(tmp_path: Path) -> None:
    m = generate(small_template(24), 5, tmp_path / "g", shard_size=4, seed=7, progress=False)
    assert [s["n"] for s in m["shards"]] == [4, 1] and m["shape"] == [24, 24]
    with h5py.File(tmp_path / "g" / "shard-00000.h5", "r") as f:
        assert f["intensity"].dtype == np.float32 and f["intensity"].shape == (4, 24, 24)
        assert f["intensity"].compression == "gzip" and f["intensity"].chunks == (1, 24, 24)
        assert f["labels/dist"].shape == (4, 120)
        assert f["params/beam.wavelength_nm"].shape == (4,)
        assert f["axes/phi_deg"].shape == (24,) and f["axes/alpha_deg"][0] > 0
        assert "hexagonal_lattice" in f.attrs["template"] and f.attrs["first"] == 0


def test_same_seed_same_data_whatever_the_workers(tmp_path: Path, reference: dict) -> None:
    generate(small_template(24), 12, tmp_path / "g", workers=2, shard_size=4, seed=7,
             progress=False)
    assert _equal(_read_all(tmp_path / "g"), reference)
    generate(small_template(24), 12, tmp_path / "h", workers=1, shard_size=4, seed=8,
             progress=False)
    assert not _equal(_read_all(tmp_path / "h"), reference)


def test_killed_run_resumes_without_duplicates_or_corruption(tmp_path: Path) -> None:
    src = write_template(tmp_path, 24)
    out = tmp_path / "g"
    cmd = [sys.executable, "-m", "deepgisas.cli.main", "generate", str(src), "--n", "80",
           "-o", str(out), "--shard-size", "4", "--seed", "7"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (out / "shard-00001.h5").exists() and time.time() - t0 < 120:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(out.glob("shard-*.h5"))
    assert 2 <= len(done_before) < 20, "the run should have been killed part-way"
    mtimes = {p.name: p.stat().st_mtime_ns for p in done_before}
    generate(small_template(24), 80, out, workers=2, shard_size=4, seed=7, progress=False)
    shards = sorted(out.glob("shard-*.h5"))
    assert len(shards) == 20 and not list(out.glob(".shard-*"))
    assert all(p.stat().st_mtime_ns == mtimes[p.name] for p in done_before)  # kept, not redone
    data = _read_all(out)
    assert data["intensity"].shape == (80, 24, 24)
    fresh = tmp_path / "fresh"
    generate(small_template(24), 8, fresh, shard_size=4, seed=7, progress=False)
    first = _read_all(fresh)
    per_pattern = [k for k in first if not k.startswith("axes/")]
    assert all(np.array_equal(data[k][:8], first[k], equal_nan=True) for k in per_pattern)


def test_dask_local_cluster_gives_the_same_shards(tmp_path: Path, reference: dict) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        generate(small_template(24), 12, tmp_path / "g", shard_size=4, seed=7,
                 scheduler=cluster.scheduler_address, progress=False)
    assert _equal(_read_all(tmp_path / "g"), reference)


def test_shard_dataset_visits_every_pattern_once(tmp_path: Path, reference: dict) -> None:
    generate(small_template(24), 12, tmp_path / "g", shard_size=4, seed=7, progress=False)
    ds = ShardDataset(tmp_path / "g", batch_size=3, seed=1)
    assert len(ds) == 6
    batches = list(DataLoader(ds, batch_size=None, num_workers=2))
    wl = torch.cat([b["p:beam.wavelength_nm"] for b in batches]).numpy()
    assert sorted(wl) == sorted(reference["params/beam.wavelength_nm"])
    b = batches[0]
    i = int(np.flatnonzero(reference["params/beam.wavelength_nm"] == float(wl[0]))[0])
    assert np.array_equal(b["x"][0, 0].numpy(), np.nan_to_num(reference["intensity"][i]))
    assert np.array_equal(b["dist"][0].numpy(), reference["labels/dist"][i])


def test_shard_dataset_applies_augmentation(tmp_path: Path) -> None:
    generate(small_template(16), 4, tmp_path / "g", shard_size=4, seed=7, progress=False)

    def double(x: torch.Tensor, mask: torch.Tensor, gen: torch.Generator):
        return torch.stack([2 * x, mask.float()], 1), mask

    plain = next(iter(ShardDataset(tmp_path / "g", batch_size=4, shuffle=False)))
    assert plain["x"].shape == (4, 2, 16, 16)
    aug = next(iter(ShardDataset(tmp_path / "g", batch_size=4, shuffle=False, augment=double)))
    assert aug["x"].shape == (4, 2, 16, 16) and torch.equal(aug["x"][:, 0], 2 * plain["x"][:, 0])


def test_missing_and_corrupt_shards_are_clear_errors(tmp_path: Path) -> None:
    out = tmp_path / "g"
    generate(small_template(16), 8, out, shard_size=4, seed=7, progress=False)
    (out / "shard-00001.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(UserError, match=r"shard-00001\.h5: corrupt shard"):
        ShardDataset(out)
    with pytest.raises(UserError, match=r"shard-00001\.h5: corrupt shard"):
        generate(small_template(16), 8, out, shard_size=4, seed=7, progress=False)
    (out / "shard-00001.h5").unlink()
    with pytest.raises(UserError, match=r"shard-00001\.h5: missing shard"):
        ShardDataset(out)
    with pytest.raises(UserError, match="manifest"):
        ShardDataset(tmp_path)
    with pytest.raises(UserError, match="different seed"):
        generate(small_template(16), 8, out, shard_size=4, seed=8, progress=False)


def test_cli_generate_and_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = write_template(tmp_path, 16)
    assert main(["generate", str(src), "--n", "3", "-o", str(tmp_path / "g"),
                 "--shard-size", "2"]) == 0
    assert len(list((tmp_path / "g").glob("shard-*.h5"))) == 2
    capsys.readouterr()
    for args in (["generate", str(tmp_path / "none.yaml"), "--n", "3", "-o", str(tmp_path / "x")],
                 ["generate", str(src), "--n", "0", "-o", str(tmp_path / "x")],
                 ["generate", str(src), "--n", "3", "-o", str(tmp_path / "no" / "x")],
                 ["generate", str(src), "--n", "3", "-o", str(tmp_path / "x"), "--workers", "0"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("deepgisas generate:"), err
        assert not (tmp_path / "x").exists()
