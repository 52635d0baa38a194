"""HDF5 shards of simulated patterns: writing one shard atomically, reading them for training.

A generation folder holds ``manifest.json`` (the plan: template, n, shard size, seed, shards)
and ``shard-00000.h5``, ``shard-00001.h5``, ... Each shard holds

- ``intensity``: float32 [n, rows, cols] clean intensities (NaN where the detector is masked),
  one chunk per pattern, gzip-compressed;
- ``labels/dist`` [n, bins] and/or ``labels/theta`` [n, P] (see :mod:`deepgisas.data.labels`);
- ``params/PATH`` every drawn value under its path in the template;
- ``axes/phi_deg``, ``axes/alpha_deg`` (bin centres of a spherical detector) or
  ``axes/column_px``, ``axes/row_px`` (flat detector: angles depend on alpha_i);
- attributes: the template (YAML), seed, shard index, first pattern index, format.

Shard ``k`` draws from ``SeedSequence(seed, spawn_key=(2, k))``, so its content depends only on
(template, seed, shard size, k): never on the number of workers or on interruptions.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from deepgisas.data.labels import LabelSpace, record
from deepgisas.data.stream import simulate_draws
from deepgisas.errors import UserError
from deepgisas.io.atomic import default_mode
from deepgisas.io.text import read_json
from deepgisas.sample import Spherical
from deepgisas.templates import Template, parse_template

FORMAT = "deepgisas-shards/1"
MANIFEST = "manifest.json"


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.h5"


def plan(template: Template, n: int, shard_size: int, seed: int) -> dict[str, Any]:
    """The manifest of a generation: which shards hold which patterns."""
    if n < 1 or shard_size < 1:
        raise UserError(f"need n >= 1 and shard size >= 1, got {n} and {shard_size}")
    labels = LabelSpace.of(template)
    shards = [{"index": k, "file": shard_name(k), "first": first, "n": min(shard_size, n - first)}
              for k, first in enumerate(range(0, n, shard_size))]
    return {"format": FORMAT, "template": template.to_dict(), "n": n, "shard_size": shard_size,
            "seed": seed, "shape": list(template.base.detector.shape),
            "labels": {"orientation": labels.orientation, "bins": labels.bins,
                       "numeric": list(labels.numeric), "names": labels.names},
            "shards": shards}


def _axes(template: Template) -> dict[str, np.ndarray]:
    g = template.base.detector.geometry
    rows, cols = template.base.detector.shape
    if isinstance(g, Spherical):
        def centres(lo: float, hi: float, m: int) -> np.ndarray:
            return lo + (np.arange(m) + 0.5) * (hi - lo) / m
        return {"phi_deg": centres(*g.phi_deg, cols), "alpha_deg": centres(*g.alpha_deg, rows)}
    return {"column_px": np.arange(cols) + 0.5, "row_px": np.arange(rows) + 0.5}


def write_shard(folder: str, template_dict: dict, k: int, first: int, n: int, seed: int) -> int:
    """Simulate shard ``k`` (``n`` patterns) and write it atomically; returns ``n``.

    A plain function of plain arguments, so that worker processes and Dask can run it.
    """
    import h5py

    template = parse_template(template_dict, "template")
    clean = simulate_draws(template, n, np.random.SeedSequence(seed, spawn_key=(2, k)),
                           dtype=torch.float32)  # float32 matches BornAgain to < 1e-3
    path = Path(folder) / shard_name(k)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            rows, cols = clean.intensity.shape[1:]
            f.create_dataset("intensity", data=clean.intensity, chunks=(1, rows, cols),
                             compression="gzip", compression_opts=4, shuffle=True)
            for name, v in clean.labels.items():
                f.create_dataset(f"labels/{name}", data=v)
            for name, v in record(clean.draws).items():
                f.create_dataset(f"params/{name}", data=v)
            for name, v in _axes(template).items():
                f.create_dataset(f"axes/{name}", data=v)
            f.attrs.update({"format": FORMAT, "template": yaml.safe_dump(template_dict),
                            "seed": seed, "shard": k, "first": first, "n": n})
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a generation folder; a UserError if it is missing or unreadable."""
    p = Path(folder) / MANIFEST
    m = read_json(p, "manifest", "no manifest.json: not a generation folder", str(folder))
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise UserError(f"not a {FORMAT} manifest", str(p))
    return m


def check_shard(folder: str | Path, entry: dict, shape: list[int]) -> None:
    """Raise a UserError naming the shard if it is missing, corrupt, or not what the manifest
    says (pattern count or image shape)."""
    import h5py

    path = Path(folder) / entry["file"]
    if not path.exists():
        raise UserError("missing shard (resume the generation to make it)", str(path))
    try:
        with h5py.File(path, "r") as f:
            got = tuple(f["intensity"].shape)
    except (OSError, KeyError) as exc:
        raise UserError(f"corrupt shard ({exc.__class__.__name__})", str(path)) from None
    if got != (entry["n"], *shape):
        raise UserError(f"shard holds {got}, the manifest says {(entry['n'], *shape)}",
                        str(path))
