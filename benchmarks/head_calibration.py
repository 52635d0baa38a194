"""Are a parameter network's posteriors calibrated? Simulation-based calibration of its head.

For each model (default: the bundled ``film``, a Gaussian head, and ``--flow`` a flow-head
model of the same template), on ``--n`` held-out simulations of the template drawn with a
seed no training or validation set uses, prepared exactly as in training's validation
(the talk's augmentation, Poisson counts at a random intensity):

- the rank of each true value among ``--draws`` posterior draws (Talts et al. 2018): uniform
  ranks mean calibrated, a U shape overconfident, a hump underconfident. Printed as the
  chi-square p-value of the rank histogram (20 bins) per parameter; plotted to
  ``--png`` (one panel per model and parameter);
- coverage: the fraction of truths inside the central 50, 68, 90 and 95 % intervals of the
  draws;
- the median absolute error of the posterior mean in the unit box.

``--markdown`` puts the table into docs/benchmarks.md and the plot into docs/figures.

    python benchmarks/head_calibration.py [--flow MODEL_DIR] [--n 1024] [--markdown]
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _docs import add_markdown_option, write_section  # type: ignore[import-not-found]
from scipy.stats import chisquare

from deepgisas.data.labels import LabelSpace, record
from deepgisas.data.preprocess import InputSpec
from deepgisas.data.stream import generator, simulate_draws, to_batch
from deepgisas.models.heads import head_of
from deepgisas.models.store import load_model
from deepgisas.templates import parse_template

LEVELS = (0.5, 0.68, 0.9, 0.95)


def held_out(card: dict[str, Any], n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """``n`` fresh simulations of the card's template as validation prepares them."""
    template = parse_template(card.template, "model card")
    spec = InputSpec.from_dict(card.input)
    labels = LabelSpace.of(template)
    out = []
    for i, start in enumerate(range(0, n, 64)):
        ss = np.random.SeedSequence(seed, spawn_key=(9, i))
        clean = simulate_draws(template, min(64, n - start), ss, labels, torch.float32, "cpu")
        out.append(to_batch(clean.intensity, clean.labels, record(clean.draws),
                            spec.train(center=True), generator(ss.spawn(1)[0], "cpu"), "cpu",
                            spec.mask_channel))
    return out


@torch.no_grad()
def calibration(model: str, batches: list[dict[str, torch.Tensor]], draws: int
                ) -> dict[str, Any]:
    net, card = load_model(model)
    head = head_of(net, card.head)
    labels = LabelSpace.of(parse_template(card.template, "model card"))
    out = torch.cat([net(b["x"]) for b in batches]).float()
    truth = torch.cat([b["theta"] for b in batches]).double().numpy()  # [n, P]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        s = torch.cat([head.sample(out[i:i + 64], draws) for i in range(0, len(out), 64)],
                      1).double().numpy()  # [draws, n, P]
    ranks = (s < truth[None]).sum(0)  # [n, P] in 0..draws
    rows = {}
    for p, name in enumerate(labels.names):
        hist = np.histogram(ranks[:, p], bins=20, range=(0, draws + 1))[0]
        cover = {}
        for level in LEVELS:
            lo, hi = np.quantile(s[:, :, p], [(1 - level) / 2, (1 + level) / 2], axis=0)
            cover[level] = float(np.mean((truth[:, p] >= lo) & (truth[:, p] <= hi)))
        rows[name] = {"p_uniform": float(chisquare(hist).pvalue), "hist": hist.tolist(),
                      "coverage": cover,
                      "median_abs_error": float(np.median(np.abs(s[:, :, p].mean(0)
                                                                 - truth[:, p])))}
    return {"model": model, "head": card.head, "rows": rows, "n": len(truth)}


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results[0]["rows"])
    fig, axes = plt.subplots(len(results), len(names), figsize=(2.6 * len(names),
                                                                2.2 * len(results)),
                             squeeze=False)
    for r, res in enumerate(results):
        for c, name in enumerate(names):
            h = np.asarray(res["rows"][name]["hist"])
            ax = axes[r, c]
            ax.bar(np.arange(h.size), h, width=1.0, color="tab:blue")
            expect = h.sum() / h.size
            band = 2 * np.sqrt(expect)
            ax.axhspan(expect - band, expect + band, color="0.85", zorder=0)
            ax.set_title(f"{res['head']}: {name}", fontsize=8)
            ax.set_xticks([])
    fig.suptitle("Rank of the truth among the posterior draws (grey: +-2 sd of uniform)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(results: list[dict[str, Any]]) -> list[str]:
    lines = ["| head | parameter | median abs error (unit box) | 50 % | 68 % | 90 % | 95 % "
             "| rank uniformity p |", "|---|---|---|---|---|---|---|---|"]
    for res in results:
        for name, row in res["rows"].items():
            cov = " | ".join(f"{100 * row['coverage'][lv]:.0f} %" for lv in LEVELS)
            lines.append(f"| {res['head']} | {name} | {row['median_abs_error']:.4f} | {cov} "
                         f"| {row['p_uniform']:.2g} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gaussian", default="film", help="a Gaussian-head model (film)")
    p.add_argument("--flow", help="a flow-head model of the same template")
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--draws", type=int, default=99)
    p.add_argument("--seed", type=int, default=20261204)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--png", type=Path, default=Path("head_calibration.png"))
    add_markdown_option(p)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    _, card = load_model(args.gaussian)
    batches = held_out(card, args.n, args.seed)
    results = [calibration(m, batches, args.draws)
               for m in (args.gaussian, args.flow) if m is not None]
    lines = report(results)
    print("\n".join(lines))
    plot(results, args.png)
    print(f"wrote {args.png}")
    if args.write:
        figure = Path(__file__).resolve().parents[1] / "docs" / "figures" / args.png.name
        figure.parent.mkdir(exist_ok=True)
        plot(results, figure)
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        cmd = (f"python benchmarks/head_calibration.py --gaussian {args.gaussian}"
               + (f" --flow {args.flow}" if args.flow else "") + f" --n {args.n} --draws "
               f"{args.draws} --seed {args.seed}")
        write_section("## Posterior heads: calibration", [
            f"`{cmd}` ({now}, 2-core machine): {results[0]['n']} held-out simulations of the "
            "`film` template (a seed no training or validation set uses), prepared as in "
            "training's validation. Coverage of the central intervals of the posterior draws, "
            "and the chi-square p-value of the truth's rank histogram (uniform when "
            "calibrated).", "", *lines, "",
            f"Rank histograms: [figures/{figure.name}](figures/{figure.name})."])


if __name__ == "__main__":
    main()
