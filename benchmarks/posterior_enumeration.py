"""The orientation chain against the exact posterior on a hex-orientation mixture, summed over
supports.

The chain's target (deepgisas.fit.posterior) on the supports inside a set of bins U: every
support of 1 to 5 bins of U, each support's mass P(K) / C(120, K) times the integral over
its amplitudes c of the Poisson likelihood times max(c)^-K / K, by importance sampling from
a Student t (4 degrees of freedom) at the support's maximum-likelihood amplitudes (bounded
L-BFGS-B) with 1.5 times the inverse observed Fisher information. Restricted to U, this is
exact up to the importance sampling's error (its effective sample size is printed for the
leading supports). The chain runs on the same counts, with and without its merge, split
and shift moves (``reach`` 6 and 0), and its samples whose support lies in U give the same
restricted posterior.

The default problem is the test's (tests/fit/test_merge_split.py): three domains at 28, 49.5
and 52.5 deg (weights 0.52, 0.11, 0.37), the nuisance of template draw 5007, 1/100 of the
template's intensity, counts from seed 0, U = bins 54-58 and 97-107.

``--image SEED:INDEX`` takes instead single-domain image INDEX of
``orientation_posterior.py --seed SEED`` (BornAgain, the template's intensity, the same counts;
the nuisance known, no background) with the bins ``--inside`` (e.g. 25-40,86-97) and the
prior cut to ``--kmax`` domains, the chain's with it; it also prints the ideal observer's
posterior (one domain). Where the two differ while the chain matches the exact posterior, the
difference is the template's prior, not the sampler.

    python benchmarks/posterior_enumeration.py [--sweeps 400] [--draws 300] [--markdown]
    python benchmarks/posterior_enumeration.py --image 0:28 --inside 25-40,86-97 --kmax 3
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import time

import numpy as np
import torch
from _docs import add_markdown_option, ran, write_section  # type: ignore[import-not-found]
from orientation_posterior import (  # type: ignore[import-not-found]
    CACHE,
    counted,
    ideal,
    single_domain_basis,
)
from scipy.optimize import minimize

import deepgisas as dg
from deepgisas.data.labels import LabelSpace
from deepgisas.fit.amplitude_state import Chain
from deepgisas.fit.posterior import orientation_posterior
from deepgisas.templates import draw_parameters, instantiate


def problem(xi: list[float], weights: list[float], exposure: float, draw_seed: int,
            count_seed: int) -> tuple[np.ndarray, np.ndarray, object, np.ndarray]:
    """The single-domain basis [pixels, bins], the counts, the prior and the true weights."""
    template = dg.load("hex-orientation")
    labels = LabelSpace.of(template)
    assert labels.orientation is not None
    draw = draw_parameters(template, 1, seed=draw_seed)
    draw[labels.orientation] = [{"xi_deg": xi, "weights": weights}]
    clean = np.clip(dg.simulate(instantiate(template, draw)[0]).reshape(-1), 0, None) * exposure
    basis = single_domain_basis(template, draw, labels).T.astype(np.float64) * exposure
    counts = np.random.default_rng(count_seed).poisson(clean).astype(np.float64)
    truth = np.zeros(labels.bins)
    for x, w in zip(xi, weights, strict=True):
        truth[round(x * labels.bins / 60.0) % labels.bins] += w
    return basis, counts, template.priors[labels.orientation], truth


def benchmark_image(spec: str, kmax: int) -> tuple[np.ndarray, np.ndarray, object, np.ndarray,
                                                 np.ndarray]:
    """``problem``'s outputs for single-domain image SEED:INDEX of orientation_posterior.py,
    the prior cut to ``kmax`` domains, and the ideal observer's posterior [bins]."""
    seed, index = (int(v) for v in spec.split(":"))
    template = dg.load("hex-orientation")
    labels = LabelSpace.of(template)
    assert labels.orientation is not None
    *_, (_, draw, _, truth, counts) = counted(index + 1, 0, seed, "bornagain", 1.0, CACHE)
    mu = single_domain_basis(template, draw, labels).astype(np.float64)
    counts = counts.reshape(-1)
    prior = dataclasses.replace(template.priors[labels.orientation], nonzero=(1, kmax))
    return mu.T.copy(), counts, prior, truth, ideal(mu, counts)


def support_mass(chain: Chain, support: list[int], bins: int, kinds: int, draws: int,
                 rng: np.random.Generator) -> tuple[float, np.ndarray, float]:
    """log mass, mean weights and effective sample size of one
    support (no background: the default problem has none)."""
    k = len(support)
    b, col, d = chain.rows[support].T, chain.col[support], chain.d_pos

    def negll(x: np.ndarray) -> tuple[float, np.ndarray]:
        m = (b @ torch.from_numpy(x)).clamp_min(1e-300)
        return (-(float(d @ torch.log(m)) - float(col @ torch.from_numpy(x))),
                -(b.T @ (d / m) - col).numpy())

    x0 = np.full(k, float(d.sum()) / float(col.sum()))
    best = minimize(negll, x0, jac=True, method="L-BFGS-B", bounds=[(0, None)] * k,
                    options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-10}).x
    m = (b @ torch.from_numpy(best)).clamp_min(1e-300)
    h = ((b * (d / m**2)[:, None]).T @ b).numpy()
    val, vec = np.linalg.eigh(np.linalg.inv(h + 1e-9 * h.diagonal().max() * np.eye(k)))
    chol = np.linalg.cholesky((vec * np.maximum(val, 1e-12 * val.max())) @ vec.T * 1.5)
    nu = 4.0
    z = rng.standard_normal((draws, k))
    x = best[None] + (z @ chol.T) / np.sqrt(rng.chisquare(nu, draws) / nu)[:, None]
    dev = np.linalg.solve(chol, (x - best[None]).T).T
    log_q = (math.lgamma((nu + k) / 2) - math.lgamma(nu / 2) - k / 2 * math.log(nu * math.pi)
             - np.log(np.diag(chol)).sum() - (nu + k) / 2 * np.log1p((dev**2).sum(1) / nu))
    ok = (x > 0).all(1)
    log_w = np.full(draws, -np.inf)
    if ok.any():
        xt = torch.from_numpy(x[ok])
        ll = (d[:, None] * torch.log((b @ xt.T).clamp_min(1e-300))).sum(0) - col @ xt.T
        log_w[ok] = ll.numpy() - k * np.log(x[ok].max(1)) - math.log(k) - log_q[ok]
    if not np.isfinite(log_w.max()):
        return -math.inf, np.zeros(k), 0.0
    w = np.exp(log_w - log_w.max())
    log_mass = (log_w.max() + math.log(w.mean()) - math.log(kinds)
                - (math.lgamma(bins + 1) - math.lgamma(k + 1) - math.lgamma(bins - k + 1)))
    share = x / x.sum(1, keepdims=True)
    return log_mass, (w[:, None] * share).sum(0) / w.sum(), float(w.sum()**2 / (w**2).sum())


def exact(basis: np.ndarray, counts: np.ndarray, prior: object, inside: list[int],
          draws: int) -> tuple[np.ndarray, list[tuple[tuple[int, ...], float, float]]]:
    """The posterior mean [bins] restricted to supports in ``inside``, and the leading
    supports (support, probability, effective sample size)."""
    bins = basis.shape[1]
    chain = Chain(torch.from_numpy(basis), torch.from_numpy(counts), 1.0, 0.0, counts.size)
    lo, hi = prior.nonzero  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    rows = []
    for k in range(lo, hi + 1):
        for sup in itertools.combinations(inside, k):
            rows.append((sup, *support_mass(chain, list(sup), bins, hi - lo + 1, draws, rng)))
    log_mass = np.array([r[1] for r in rows])
    p = np.exp(log_mass - log_mass.max())
    p /= p.sum()
    mean = np.zeros(bins)
    for r, pr in zip(rows, p, strict=True):
        mean[list(r[0])] += pr * r[2]
    order = np.argsort(-p)[:6]
    return mean, [(rows[i][0], float(p[i]), rows[i][3]) for i in order]


def restricted(samples: np.ndarray, inside: list[int]) -> tuple[np.ndarray, float]:
    """The chain's mean over its samples whose support lies in ``inside``, and their share."""
    keep = ~(samples[:, [j for j in range(samples.shape[1]) if j not in set(inside)]]
             > 0).any(1)
    return (samples[keep].mean(0) if keep.any() else np.zeros(samples.shape[1]),
            float(keep.mean()))


def bins_of(spec: str) -> list[int]:
    """"25-40,86-97" -> [25, ..., 40, 86, ..., 97]."""
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweeps", type=int, default=400, help="chain sweeps (each run)")
    p.add_argument("--draws", type=int, default=300, help="importance samples per support")
    p.add_argument("--seeds", type=int, default=3, help="chains per setting")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--image", help="SEED:INDEX, a single-domain image of "
                   "orientation_posterior.py instead of the default problem")
    p.add_argument("--inside", default="25-40,86-97", help="with --image: the bins")
    p.add_argument("--kmax", type=int, default=3, help="with --image: at most this many "
                   "domains")
    add_markdown_option(p)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.image:
        basis, counts, prior, truth, ideal_p = benchmark_image(args.image, args.kmax)
        inside = bins_of(args.inside)
    else:
        inside = list(range(54, 59)) + list(range(97, 108))
        basis, counts, prior, truth = problem([28.0, 49.5, 52.5], [0.52, 0.11, 0.37], 0.01,
                                              5007, 0)
    t0 = time.perf_counter()
    mean, top = exact(basis, counts, prior, inside, args.draws)
    print(f"exact over {len(inside)} bins: {time.perf_counter() - t0:.0f} s")
    shown = [int(j) for j in np.argsort(-mean)[:5]]
    shown = sorted(set(shown) | ({int(np.argmax(truth))} if args.image else {55, 56, 57}))
    if args.image:
        seed, index = args.image.split(":")
        head = (f"{ran()}: single-domain image {index} of `orientation_posterior.py --seed "
                f"{seed}` (BornAgain, the template's intensity, the nuisance known), true bin "
                f"{int(np.argmax(truth))}; the exact posterior under the template's prior cut "
                f"to at most {args.kmax} domains, restricted to supports inside bins "
                f"{args.inside}, the ideal observer's (one domain), and {args.seeds} chains of "
                f"{args.sweeps} sweeps under the same prior (their samples with supports "
                "inside the same bins; the last column: their share).")
    else:
        head = (f"{ran()}: three domains at 28, 49.5 and 52.5 deg (bins 56, 99, 105) at 1/100 "
                "of the template's intensity, counts seeded; the exact posterior restricted to "
                f"supports inside bins 54-58 and 97-107, and {args.seeds} chains of "
                f"{args.sweeps} sweeps each with and without merges, splits and shifts (their "
                "samples with supports inside the same bins).")
    lines = [head, "", "| | " + " | ".join(f"bin {j}" for j in shown) + " | samples inside |",
             "|---|" + "---|" * (len(shown) + 1),
             "| exact | " + " | ".join(f"{mean[j]:.3f}" for j in shown) + " | |"]
    if args.image:
        lines.append("| ideal observer | " + " | ".join(f"{ideal_p[j]:.3f}" for j in shown)
                     + " | |")
    print("\n".join(lines[-2:]))
    for reach in (6,) if args.image else (6, 0):
        for seed in range(args.seeds):
            post = orientation_posterior(basis, counts, 1.0, 0.0, prior, seed=seed,
                                         seconds=1e9, max_sweeps=args.sweeps, reach=reach)
            m, share = restricted(post.samples, inside)
            lines.append(f"| {'chain' if args.image else f'reach {reach},'} seed {seed} | "
                         + " | ".join(f"{m[j]:.3f}" for j in shown) + f" | {share:.2f} |")
            print(lines[-1], flush=True)
    lines += ["", "Leading supports of the exact posterior (probability; importance "
              "sampling's effective sample size of " + str(args.draws) + "): "
              + "; ".join(f"{list(s)} {pr:.3f} ({ess:.0f})" for s, pr, ess in top) + "."]
    if args.image:
        t_bin = int(np.argmax(truth))
        lines += ["", f"KL(true || answer) = -log p(bin {t_bin}): exact "
                  f"{-math.log(mean[t_bin]):.3f}, ideal observer {-math.log(ideal_p[t_bin]):.3f}."]
        if args.write:
            write_section("## Orientation chain against the exact posterior on a "
                          "single-domain image", lines)
        print(lines[-1])
        return
    lines += ["", "Reach 0: the chain without merges, splits and shifts."]
    if args.write:
        write_section("## Orientation chain against the exact posterior", lines)


if __name__ == "__main__":
    main()
