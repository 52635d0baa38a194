"""Where the orientation information lies: the ideal observer on reduced views of the counts.

For single-domain images of a template (default ``hex-orientation``), drawn at known nuisance,
the exact Bayes posterior over the xi bins is computed from the same Poisson counts seen
through several views: every pixel of the network's 224 x 224 crop, the counts summed over
blocks (the network's 4 x 2 input bins and others), over bands of rows at every column, and
over all rows (the q_y profile alone). Two more rows take the network's view without two
things the ideal observer is given: the intensity scale (marginalised, flat in its log) and the
beam centre (the crop's position marginalised over the training jitter, +-2 pixels each way).
The table is the mean of -log p(true bin), the KL of the ideal observer at that view, at three
intensity scales, and for the other rows the paired increase over "pixels". A view that loses
no information adds 0; a network that sees a view cannot do better than its row.

    python benchmarks/ideal_views.py [--bases 8] [--per 8] [--markdown]

``--markdown`` puts the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np
import torch
from _docs import add_markdown_option, write_section
from tqdm import tqdm

from deepgisas.api import load
from deepgisas.data._augment_spatial import block_sum
from deepgisas.data.posterior_targets import PosteriorStream
from deepgisas.data.preprocess import InputSpec

SCALES = (0.1, 1.0, 10.0)


def _blocks(a: torch.Tensor, r: int, c: int) -> torch.Tensor:
    """Sums over r x c blocks of one image [H, W] or a stack [n, H, W]."""
    return block_sum(a.reshape(-1, *a.shape[-2:]), r, c)


VIEWS = {  # name: (what it is, counts [..., 224, 224] -> view)
    "pixels": ("every pixel of the crop", lambda x: x),
    "4 x 2": ("the network's input bins", lambda x: _blocks(x, 4, 2)),
    "4 x 8": ("28 columns", lambda x: _blocks(x, 4, 8)),
    "4 x 16": ("14 columns, as rodnet's head", lambda x: _blocks(x, 4, 16)),
    "8 bands x 112": ("8 bands of rows, every input column", lambda x: _blocks(x, 28, 2)),
    "profile x 112": ("all rows summed, every input column", lambda x: _blocks(x, 224, 2)),
}


def neg_log_post(counts: torch.Tensor, mu: torch.Tensor, j: int) -> float:
    """-log p(bin j | counts) under a flat prior, Poisson means ``mu`` [bins, P]."""
    ll = (counts * torch.log(mu.clamp_min(1e-30))).sum(1) - mu.sum(1)
    return -float(torch.log_softmax(ll, 0)[j])


JITTER = 2  # the training crop's jitter (pixels each way)
UNKNOWN = {"4 x 2, intensity unknown": "the network's bins, the scale marginalised",
           "4 x 2, centre unknown": "the network's bins, the crop's position marginalised"}


def neg_log_unknown(counts: torch.Tensor, mus: dict[tuple[int, int], torch.Tensor], j: int,
                    scale_known: bool) -> float:
    """-log p(bin j | counts) from the binned counts of the centred crop, marginalised over
    the crop's position (``mus``: its means [bins, P] at each offset, at the true scale) and,
    unless ``scale_known``, over the scale (flat in log s: sum n log mu - N log sum mu)."""
    n = counts.sum()
    ll = torch.stack([(counts * torch.log(mu.clamp_min(1e-30))).sum(1)
                      - (mu.sum(1) if scale_known else n * torch.log(mu.sum(1)))
                      for mu in mus.values()])
    return -float(torch.log_softmax(torch.logsumexp(ll, 0), 0)[j])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--template", default="hex-orientation")
    ap.add_argument("--bases", type=int, default=8, help="nuisance draws")
    ap.add_argument("--per", type=int, default=8, help="images per draw and scale")
    ap.add_argument("--seed", type=int, default=123)
    add_markdown_option(ap)
    args = ap.parse_args()
    t = load(args.template)
    spec = InputSpec(crop=(224, 224), downsample=(4, 2), bin_counts=True, jitter=2)
    st = PosteriorStream(t, spec, batch_size=16, seed=args.seed, pool=16)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)  # the counts, reproducible
    res: dict[tuple[str, float], list[float]] = {}
    for b in tqdm(range(args.bases), desc="nuisance draws"):
        full = st.basis(b).double()
        h, w = full.shape[-2:]
        top, left = (h - 224) // 2, (w - 224) // 2
        crops = {(dr, dc): full[:, top + dr:top + dr + 224, left + dc:left + dc + 224]
                 for dr in range(-JITTER, JITTER + 1) for dc in range(-JITTER, JITTER + 1)}
        basis = crops[0, 0]
        bins = len(basis)
        for s in SCALES:
            mus = {k: f(s * basis).reshape(bins, -1) for k, (_, f) in VIEWS.items()}
            shifted = {o: _blocks(s * c, 4, 2).reshape(bins, -1) for o, c in crops.items()}
            for _ in range(args.per):
                j = int(rng.integers(bins))
                counts = torch.poisson(s * basis[j], generator=gen)
                for k, (_, f) in VIEWS.items():
                    res.setdefault((k, s), []).append(
                        neg_log_post(f(counts).reshape(-1), mus[k], j))
                binned = _blocks(counts, 4, 2).reshape(-1)
                res.setdefault(("4 x 2, intensity unknown", s), []).append(
                    neg_log_unknown(binned, {(0, 0): shifted[0, 0]}, j, scale_known=False))
                res.setdefault(("4 x 2, centre unknown", s), []).append(
                    neg_log_unknown(binned, shifted, j, scale_known=True))
    n = args.bases * args.per
    base = {s: np.array(res["pixels", s]) for s in SCALES}

    def cell(k: str, s: float) -> str:
        if k == "pixels":
            return f"{base[s].mean():.3f}"
        d = np.array(res[k, s]) - base[s]  # paired: the same counts
        return f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(n):.3f}"

    head = ["| view | what | " + " | ".join(f"scale {s:g}" for s in SCALES) + " |",
            "|---|---|" + "---|" * len(SCALES)]
    rows = [f"| {k} | {what} | " + " | ".join(cell(k, s) for s in SCALES) + " |"
            for k, what in [*((k, v[0]) for k, v in VIEWS.items()), *UNKNOWN.items()]]
    print("\n".join(head + rows))
    if args.write:
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        write_section("## Where the orientation information lies", [
            f"`python benchmarks/ideal_views.py --bases {args.bases} --per {args.per} --seed "
            f"{args.seed}` ({now}): the ideal observer on {n} single-domain "
            f"`{args.template}` images per intensity scale ({args.bases} nuisance draws, known "
            "nuisance). Row \"pixels\": its mean -log p(true bin) from every pixel of the "
            "224 x 224 crop. Other rows: how much higher it is from the same counts seen "
            "through a coarser view (paired mean ± one standard error).", "", *head, *rows])


if __name__ == "__main__":
    main()
