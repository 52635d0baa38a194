"""The orientation posterior against the truth, the network and the ideal observer.

Draws ``--single`` single-domain and ``--mixtures`` 2-to-5-domain experiments from the talk's
priors (the bundled ``hex-orientation`` template; the first mixture is the expert's 0.7 / 0.3
at 0 and 30 deg), simulates them with BornAgain 25 (``--data bornagain``) or deepgisas, counts
them with Poisson noise at the template's intensity (times ``--exposure``), and gives per
image:

- the network: ``predict hex-orientation``;
- the refined answer: ``fit`` with the nuisance (a, decay, variance, R, wavelength, alpha_i)
  held at the truth (``--nuisance known``, the default, as the ideal observer has it) or
  fitted (``--nuisance fitted``), the distribution being the posterior mean of the Poisson
  likelihood under the template's prior (deepgisas.fit.posterior);
- single-domain images: the ideal observer, the exact posterior over the bins that knows there
  is one domain and the nuisance (analyze bound's).

It prints mean KL(true || answer) of each on the single-domain images and per mixture, the
mean probability each answer puts within 1 deg (2 bins) of the true bin on single-domain
images, and seconds per image; ``--markdown`` puts the table into docs/benchmarks.md.

    python benchmarks/orientation_posterior.py [--single 32] [--mixtures 8] [--model M]
        [--network-only] [--markdown]
"""

from __future__ import annotations

import argparse
import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _docs import add_markdown_option, write_section  # type: ignore[import-not-found]

import deepgisas as dg
from deepgisas.analysis.validate import distribution_scores
from deepgisas.data.labels import LabelSpace, xi_histogram
from deepgisas.data.stream import template_hash
from deepgisas.fit import FitConfig, fit_image
from deepgisas.predict import Predictor
from deepgisas.templates import draw_parameters, instantiate

CACHE = Path("/tmp/deepgisas-orientation-posterior")  # the clean images


def experiments(single: int, mixtures: int, seed: int) -> list[tuple[dict, str]]:
    """Draws (path -> [value]) of the hex-orientation template and their kind."""
    template = dg.load("hex-orientation")
    labels = LabelSpace.of(template)
    assert labels.orientation is not None
    rng = np.random.default_rng(seed)
    out = []
    for i in range(single + mixtures):
        d = draw_parameters(template, 1, seed=seed * 1000 + i)
        if i < single:
            d[labels.orientation] = [{"xi_deg": [float(rng.integers(120)) * 0.5],
                                      "weights": [1.0]}]
            kind = "single"
        elif i == single:
            d[labels.orientation] = [{"xi_deg": [0.0, 30.0], "weights": [0.7, 0.3]}]
            kind = "expert 0.7/0.3"
        else:
            kind = f"{len(d[labels.orientation][0]['xi_deg'])} domains"
            if len(d[labels.orientation][0]["xi_deg"]) == 1:
                d[labels.orientation] = [{"xi_deg": [5.0, 20.0, 41.5],
                                          "weights": [0.5, 0.3, 0.2]}]
                kind = "3 domains"
        out.append((d, kind))
    return out


def simulate(e: dg.Experiment, data: str, path: Path) -> np.ndarray:
    """The clean image, cached in ``path``."""
    if path.exists():
        return np.load(path)
    if data == "bornagain":
        from deepgisas.reference import bornagain_simulate

        img = bornagain_simulate(e, threads=2)
    else:
        img = dg.simulate(e)
    np.save(path, img)
    return img


def counted(single: int, mixtures: int, seed: int, data: str, exposure: float, cache: Path
            ) -> Iterator[tuple[int, dict, str, np.ndarray, np.ndarray]]:
    """The benchmark's images in order: index, draw, kind, truth [bins] and counts. The
    counts of image i come from one generator seeded ``seed + 7`` after those of images
    0 ... i - 1, so a prefix of the list gives the same images."""
    template = dg.load("hex-orientation")
    labels = LabelSpace.of(template)
    assert labels.orientation is not None
    cache.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 7)
    for i, (draw, kind) in enumerate(experiments(single, mixtures, seed)):
        clean = simulate(instantiate(template, draw)[0], data, cache / f"hex_"
                         f"{template_hash(template):x}_{data}_{seed}_{i}.npy")
        counts = rng.poisson(np.clip(clean, 0, None) * exposure).astype(np.float64)
        truth = xi_histogram(draw[labels.orientation], labels.bins)[0].astype(np.float64)
        yield i, draw, kind, truth, counts


def single_domain_basis(template: dg.Template, draw: dict, labels: LabelSpace
                        ) -> np.ndarray:
    """The patterns [bins, pixels] of every single-domain bin at the draw's nuisance."""
    assert labels.orientation is not None
    bins = []
    for j in range(labels.bins):
        one = dict(draw)
        one[labels.orientation] = [{"xi_deg": [j * 60.0 / labels.bins], "weights": [1.0]}]
        bins.append(instantiate(template, one)[0])
    return dg.simulate_batch(bins).reshape(labels.bins, -1)


def ideal(mu: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The exact single-domain posterior over the bins, nuisance and intensity known."""
    ok = np.isfinite(counts.reshape(-1))
    n, m = counts.reshape(-1)[ok], np.clip(mu[:, ok], 1e-300, None)
    logl = (n * np.log(m) - m).sum(1)
    p = np.exp(logl - logl.max())
    return p / p.sum()


def information(mu: np.ndarray, counts: np.ndarray, truth: np.ndarray) -> float:
    """How much the counts say: the Poisson log-likelihood of the true distribution minus
    that of the uniform one, each at its best intensity scale (nats)."""
    n = counts.reshape(-1)
    ok = np.isfinite(n)

    def profile(w: np.ndarray) -> float:
        m = np.clip(w @ mu, 1e-300, None)[ok]
        m = m * n[ok].sum() / m.sum()
        return float((n[ok] * np.log(m) - m).sum())

    return profile(truth) - profile(np.full_like(truth, 1.0 / len(truth)))


def near(truth: np.ndarray, p: np.ndarray, within: int = 2) -> float:
    """The answer's probability within ``within`` bins of the single true bin (the bins
    wrap around the 60 deg period)."""
    d = (np.arange(len(p)) - int(np.argmax(truth)) + len(p) // 2) % len(p) - len(p) // 2
    return float(p[np.abs(d) <= within].sum())


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    template = dg.load("hex-orientation")
    labels = LabelSpace.of(template)
    assert labels.orientation is not None
    net = Predictor(args.model)
    rows = []
    for i, draw, kind, truth, counts in counted(args.single, args.mixtures, args.seed,
                                                args.data, args.exposure, args.cache):
        t0 = time.perf_counter()
        network = net(counts[None])[0]
        answers = {"network": np.asarray(network["probability"])}
        r = None
        if not args.network_only:
            fixed = ({labels.short[p]: float(v[0]) for p, v in draw.items()
                      if p != labels.orientation} if args.nuisance == "known" else None)
            r = fit_image(template, counts, start=network, fixed=fixed,
                          config=FitConfig(posterior_seconds=args.seconds))
            answers["refined"] = np.asarray(r.extra["probability"])
        seconds = time.perf_counter() - t0
        mu = single_domain_basis(template, draw, labels) * args.exposure
        if kind == "single":
            answers["ideal"] = ideal(mu, counts)
        kl = {k: float(distribution_scores(truth[None], v[None])["kl"][0])
              for k, v in answers.items()}
        rows.append({"kind": kind, "kl": kl, "seconds": seconds,
                     "near": {k: near(truth, v) for k, v in answers.items()}
                     if kind == "single" else None,
                     "information": information(mu, counts, truth),
                     "objective": r.extra.get("objective") if r is not None else None,
                     "split_tv": r.extra["posterior"].get("split_tv") if r is not None
                     else None})
        print(f"{i:3d} {kind:15s} " + "  ".join(f"{k} {v:7.3f}" for k, v in kl.items())
              + f"  {seconds:5.1f} s  information {rows[-1]['information']:9.1f}"
              + f"  split {rows[-1]['split_tv']}"
              + ("" if rows[-1]["near"] is None else "  within 1 deg " + " ".join(
                  f"{k} {v:.3f}" for k, v in rows[-1]["near"].items())), flush=True)
    single = [r for r in rows if r["kind"] == "single"]
    summary: dict[str, Any] = {"rows": rows}
    if single:
        summary["single"] = {k: float(np.mean([r["kl"][k] for r in single]))
                             for k in single[0]["kl"]}
        summary["single_near"] = {k: float(np.mean([r["near"][k] for r in single]))
                                  for k in single[0]["kl"]}
        print("single-domain mean KL: " + ", ".join(f"{k} {v:.3f}"
                                                    for k, v in summary["single"].items()))
        print("single-domain mean probability within 1 deg of the truth: " + ", ".join(
            f"{k} {v:.3f}" for k, v in summary["single_near"].items()))
    mixed = [r for r in rows if r["kind"] != "single"]
    if mixed and not args.network_only:
        worse = sum(r["kl"]["refined"] > r["kl"]["network"] for r in mixed)
        summary["mixtures_refined_worse"] = worse
        summary["mixtures"] = {k: float(np.mean([r["kl"][k] for r in mixed]))
                               for k in ("network", "refined")}
        print(f"mixtures: refined worse than the network on {worse} of {len(mixed)}; mean KL "
              f"network {summary['mixtures']['network']:.3f}, refined "
              f"{summary['mixtures']['refined']:.3f}")
    summary["median_seconds"] = float(np.median([r["seconds"] for r in rows]))
    summary["max_seconds"] = float(np.max([r["seconds"] for r in rows]))
    print(f"median {summary['median_seconds']:.1f} s per image, largest "
          f"{summary['max_seconds']:.1f} s (network, fit and posterior)")
    return summary


def _tv(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def write(args: argparse.Namespace, s: dict[str, Any]) -> None:
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [f"`python benchmarks/orientation_posterior.py --single {args.single} "
             f"--mixtures {args.mixtures} --seed {args.seed} --data {args.data} --nuisance "
             f"{args.nuisance} --seconds {args.seconds:g} --model {args.model}"
             f"{' --network-only' if args.network_only else ''}"
             f"{f' --exposure {args.exposure:g}' if args.exposure != 1 else ''}` ({now}, "
             "2-core machine): KL(true || answer) on images counted at "
             f"{'the' if args.exposure == 1 else f'{args.exposure:g} x the'} template's "
             "intensity.", ""]
    if "single" in s:
        lines += ["| single-domain images | mean KL | probability within 1 deg of the truth |",
                  "|---|---|---|"]
        lines += [f"| {k} | {v:.3f} | {s['single_near'][k]:.3f} |"
                  for k, v in s["single"].items()]
        tvs = [r["split_tv"] for r in s["rows"] if r["kind"] == "single"
               and r["split_tv"] is not None]
        if tvs:
            lines += ["", f"Split TV on the single-domain images: median {np.median(tvs):.3f}, "
                      f"largest {max(tvs):.3f}, above 0.1 on {sum(t > 0.1 for t in tvs)} of "
                      f"{len(tvs)}."]
        lines.append("")
    mixed = [r for r in s["rows"] if r["kind"] != "single"]
    if mixed and not args.network_only:
        lines += ["| mixture | network KL | refined KL | information (nats) | split TV |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['kind']} | {r['kl']['network']:.3f} | {r['kl']['refined']:.3f} | "
                  f"{r['information']:.0f} | {_tv(r['split_tv'])} |" for r in mixed]
        lines += ["", f"Mean KL over the {len(mixed)} mixtures: network "
                  f"{s['mixtures']['network']:.3f}, refined {s['mixtures']['refined']:.3f}; "
                  f"refined worse than the network on {s['mixtures_refined_worse']}."]
        lines += ["", "Information: the log-likelihood of the true distribution minus that of "
                  "the uniform one, each at its best scale; near 0 the counts say little about "
                  "the orientations, and the answer rests on the prior. Split TV: the total "
                  "variation between the posterior means of the two halves of the chain; "
                  "above 0.1 `fit` warns that the posterior has not settled."]
        lines.append("")
    if args.network_only:
        write_section("## Orientation network against the ideal observer", lines)
        return
    lines.append(f"Median {s['median_seconds']:.1f} s per image, largest "
                 f"{s['max_seconds']:.1f} s (network, fit and posterior).")
    write_section("## Orientation posterior" + (f" at {args.exposure:g} x the intensity"
                                                if args.exposure != 1 else "")
                  + (f", {args.seconds:g} s per chain" if args.seconds != 10 else ""), lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--single", type=int, default=32)
    p.add_argument("--mixtures", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("bornagain", "deepgisas"), default="bornagain")
    p.add_argument("--nuisance", choices=("known", "fitted"), default="known")
    p.add_argument("--seconds", type=float, default=10.0, help="posterior sampling budget")
    p.add_argument("--exposure", type=float, default=1.0,
                   help="counts at this fraction of the template's intensity (low-information "
                        "images below 1)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--model", default="hex-orientation", help="the network (name or folder)")
    p.add_argument("--network-only", action="store_true",
                   help="the network and the ideal observer only, no refinement")
    add_markdown_option(p)
    args = p.parse_args()
    s = run(args)
    if args.write:
        write(args, s)


if __name__ == "__main__":
    main()
