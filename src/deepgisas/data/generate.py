"""Sharded generation of big, reusable training sets: local processes or a Dask cluster.

``generate`` writes the manifest (the plan) first, then the shards that are not there yet, each
atomically. A killed run is resumed by running the same command again: finished shards are
kept, half-written temporary files are removed, and nothing is duplicated. Shard contents
depend only on (template, seed, shard size), so any number of workers gives the same data.

With ``scheduler`` the same shard tasks run on a Dask distributed cluster (``Client(address)``);
the output folder must then be on a file system that the Dask workers share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm import tqdm

from deepgisas.data.shards import MANIFEST, check_shard, plan, read_manifest, write_shard
from deepgisas.errors import UserError
from deepgisas.io.atomic import atomic_write
from deepgisas.templates import Template

PLAN_KEYS = ("template", "n", "shard_size", "seed")


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _prepare(template: Template, n: int, folder: Path, shard_size: int, seed: int
             ) -> tuple[dict[str, Any], list[dict]]:
    """Write or check the manifest; return it and the shards still to make."""
    if not template.priors:
        raise UserError("the template has no free parameters: nothing to vary")
    manifest = plan(template, n, shard_size, seed)
    if folder.exists() and not folder.is_dir():
        raise UserError("exists and is not a folder", str(folder))
    if not folder.parent.is_dir():
        raise UserError("the parent folder does not exist", str(folder))
    folder.mkdir(exist_ok=True)
    if (folder / MANIFEST).exists():
        old = read_manifest(folder)
        diff = [k for k in PLAN_KEYS if old.get(k) != manifest[k]]
        if diff:
            raise UserError(f"holds another generation (different {', '.join(diff)}); "
                            f"use a new folder", str(folder))
    else:
        text = json.dumps(manifest, indent=1).encode()
        atomic_write(folder / MANIFEST, lambda f: f.write(text))
    for stale in folder.glob(".shard-*.h5.*"):  # temporary files of a killed run
        stale.unlink(missing_ok=True)
    todo = []
    for entry in manifest["shards"]:
        if (folder / entry["file"]).exists():
            check_shard(folder, entry, manifest["shape"])
        else:
            todo.append(entry)
    return manifest, todo


def _local(folder: Path, manifest: dict, todo: list[dict], workers: int) -> Iterator[int]:
    args = [(str(folder), manifest["template"], e["index"], e["first"], e["n"],
             manifest["seed"]) for e in todo]
    if workers <= 1:
        for a in args:
            yield write_shard(*a)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(threads,)) as pool:
        for fut in as_completed([pool.submit(write_shard, *a) for a in args]):
            yield fut.result()


def _dask(folder: Path, manifest: dict, todo: list[dict], address: str) -> Iterator[int]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise UserError("scheduler needs Dask: pip install 'dask[distributed]'",
                        setting="scheduler") from None
    try:
        client = Client(address, timeout=20)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"cannot reach the Dask scheduler ({exc.__class__.__name__})",
                        address) from None
    with client:
        futures = [client.submit(write_shard, str(folder.resolve()), manifest["template"],
                                 e["index"], e["first"], e["n"], manifest["seed"],
                                 pure=False) for e in todo]
        for fut in dask_completed(futures):
            yield fut.result()


def generate(template: Template, n: int, out: str | Path, workers: int = 1,
             shard_size: int = 256, seed: int = 0, scheduler: str | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Simulate ``n`` patterns from ``template`` into HDF5 shards in folder ``out``.

    Returns the manifest. Resumes an interrupted generation of the same plan.
    """
    folder = Path(out)
    manifest, todo = _prepare(template, n, folder, shard_size, seed)
    done = n - sum(e["n"] for e in todo)
    runs = _dask(folder, manifest, todo, scheduler) if scheduler else _local(
        folder, manifest, todo, workers)
    with tqdm(total=n, initial=done, unit="pattern", disable=not progress,
              desc=f"generate {folder.name}", smoothing=0.1) as bar:
        for k in runs:
            bar.update(k)
    return manifest
