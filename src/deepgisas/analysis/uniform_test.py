"""The talk's statistical test: is a predicted xi distribution distinguishable from what the
model predicts for a truly uniform sample?

A network does not predict the uniform distribution for a uniform sample: it has a bias, and
its answer varies with the nuisance parameters and the noise. So the test compares with the
model's own answers. The null set: M patterns of samples with a uniform xi distribution (all
bins equal), with every other free parameter drawn from the template's prior, passed through
the model's validation augmentation (scale, Poisson noise, beam stop, ...), and predicted. Let
q_mean be the mean of those M predictions. The statistic is T(p) = circular earth mover's
distance (deg) between a prediction p and q_mean; under the null, T_i = EMD(q_i, mean of the
other M - 1). The p-value is (1 + #{T_i >= T_obs}) / (M + 1), exact for exchangeable draws
(never below 1 / (M + 1)); the effect size is (T_obs - mean T_i) / std T_i, in null standard
deviations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgisas.analysis.common import Model, Result, predict_x, pyplot, save_figure, simulate_set
from deepgisas.errors import UserError
from deepgisas.models.losses import circular_emd


def _emd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return circular_emd(torch.as_tensor(np.array(np.atleast_2d(p), dtype=np.float64)),
                        torch.as_tensor(np.array(np.atleast_2d(q), dtype=np.float64))).numpy()


def null_statistics(null: np.ndarray) -> np.ndarray:
    """T_i = EMD(q_i, mean of the other predictions) for null predictions [M, bins] -> [M]."""
    m = len(null)
    if m < 2:
        raise UserError("the null set needs at least 2 patterns")
    loo = (null.sum(0, keepdims=True) - null) / (m - 1)
    return _emd(null, loo)


def uniform_test(observed: np.ndarray, null: np.ndarray) -> dict[str, Any]:
    """Observed predictions [n, bins] against null predictions [M, bins]: per observation
    ``statistic_deg``, ``p_value`` and ``effect_size``, and the null statistics."""
    t_null = null_statistics(null)
    t_obs = _emd(observed, np.broadcast_to(null.mean(0), np.atleast_2d(observed).shape))
    p = (1 + (t_null[None, :] >= t_obs[:, None]).sum(1)) / (len(t_null) + 1)
    sd = float(t_null.std(ddof=1)) or 1e-12
    return {"statistic_deg": t_obs.tolist(), "p_value": p.tolist(),
            "effect_size": ((t_obs - t_null.mean()) / sd).tolist(),
            "null_statistic_deg": t_null.tolist()}


def null_predictions(model: Model, m: int = 64, seed: int = 0) -> np.ndarray:
    """The model's predictions [m, bins] for uniform samples (nuisance from the prior)."""
    if model.kind != "distribution" or model.labels.orientation is None:
        raise UserError("compare-uniform applies to orientation models only")
    uniform = {"xi_deg": [float(v) for v in model.labels.xi_deg()],
               "weights": [1.0 / model.labels.bins] * model.labels.bins}
    s = simulate_set(model, m, 1000 + seed, fixed={model.labels.orientation: uniform})
    return predict_x(model, s.x)["dist"]


def compare_uniform(model: Model, observed: np.ndarray, names: list[str], out: Path,
                    m: int = 64, seed: int = 0, alpha: float = 0.05) -> Result:
    """Test each observed prediction [n, bins] (named by ``names``) against the uniform null;
    ``compare_uniform.png`` shows the null statistics with the observed ones, and the
    predictions beside the null mean and its 5-95 % band."""
    null = null_predictions(model, m, seed)
    res = uniform_test(observed, null)
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    a.hist(res["null_statistic_deg"], bins=20, color="0.6", label=f"null ({m} uniform)")
    for i, (t, p) in enumerate(zip(res["statistic_deg"], res["p_value"], strict=True)):
        a.axvline(t, color=f"C{i % 10}", lw=2, label=f"{names[i]}: p = {p:.3g}")
    a.set_xlabel("EMD to the mean null prediction (deg)")
    a.set_ylabel("count")
    a.legend(fontsize=7)
    a.set_title("test statistic")
    xi = model.labels.xi_deg()
    lo, hi = np.percentile(null, [5, 95], axis=0)
    b.fill_between(xi, lo, hi, color="0.8", label="null 5-95 %")
    b.plot(xi, null.mean(0), color="0.3", label="null mean")
    for i, row in enumerate(observed):
        b.plot(xi, row, color=f"C{i % 10}", lw=1.2, label=names[i])
    b.set_xlabel("xi (deg)")
    b.set_ylabel("predicted probability")
    b.legend(fontsize=7)
    b.set_title("predictions")
    fig.tight_layout()
    path = save_figure(fig, out / "compare_uniform.png")
    verdicts = ["not uniform" if p < alpha else "consistent with uniform"
                for p in res["p_value"]]
    numbers: dict[str, Any] = {"null_size": m, "alpha": alpha,
               "results": [{"input": n, "statistic_deg": t, "p_value": p, "effect_size": e,
                            "verdict": v}
                           for n, t, p, e, v in zip(names, res["statistic_deg"],
                                                    res["p_value"], res["effect_size"],
                                                    verdicts, strict=True)]}
    lines = "; ".join(f"{r['input']}: p = {r['p_value']:.3g}, effect {r['effect_size']:.1f} "
                      f"null sd, {r['verdict']}" for r in numbers["results"])
    text = (f"Null: the model's predictions for {m} uniform samples (nuisance from the prior, "
            "through the validation augmentation). Statistic: circular EMD between a "
            "prediction and the mean null prediction. Left: the null statistics and each "
            f"input's; right: predictions against the null band. {lines} (alpha {alpha}).")
    return Result("compare-uniform", [path], numbers, text)
