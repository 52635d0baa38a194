"""The answers of ``fit`` and ``predict`` as short plain-text tables for the terminal.

Pure functions from the JSON records (:meth:`deepgisas.fit.problem.FitResult.to_dict`, the
``{"model", "results"}`` of :func:`deepgisas.predict.predict_files`) to text: each parameter
with its value, standard deviation and unit (read from its name, e.g. ``radius_nm``), its
flags (at a prior's edge, beyond the training prior, disagreeing with the network), the
goodness of fit, and for orientation answers the main peaks of the xi distribution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

UNITS = {"nm": "nm", "nm2": "nm^2", "deg": "deg", "per_nm2": "1/nm^2", "mm": "mm", "px": "px"}
MAX_ROWS = 20  # images shown by predict_table; the JSON holds the rest
PEAKS_SHOWN = 3  # orientation peaks per answer


def unit_of(name: str) -> str:
    """The unit a parameter's name ends in (``radius_nm`` -> "nm", ``sigma`` -> "")."""
    for suffix in sorted(UNITS, key=len, reverse=True):
        if name.endswith("_" + suffix):
            return UNITS[suffix]
    return ""


def value_text(value: float, std: float | None = None) -> tuple[str, str]:
    """``value`` and ``std`` rounded to the second significant digit of ``std``, e.g.
    (5.7512, 0.0312) -> ("5.751", "0.031"); a value smaller than its std keeps two
    significant digits ((-0.183, 20.4) -> ("-0.18", "20")); without a finite std, four
    significant digits and "-"."""
    if std is None or not math.isfinite(std) or std <= 0:
        return f"{value:.4g}", "-"
    digits = max(0, 1 - math.floor(math.log10(std)))
    if digits > 6 or abs(value) >= 1e6:
        return f"{value:.4g}", f"{std:.2g}"
    shown = digits
    if 0 < abs(value) < std:
        shown = min(6, max(digits, 1 - math.floor(math.log10(abs(value)))))
    return f"{value:.{shown}f}", f"{std:.{digits}f}"


def _columns(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Rows of cells as left-aligned columns (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip()
            for r in rows]


def edge_text(flag: Mapping[str, Any]) -> str:
    """A :func:`deepgisas.priors.bound_flag` in a few words: "at the prior's upper edge
    (2 to 20)"."""
    lo, hi = flag["prior"]
    where = "beyond" if flag.get("outside") else "at"
    return f"{where} the prior's {flag['bound']} edge ({lo:g} to {hi:g})"


def parameter_rows(parameters: Mapping[str, float], std: Mapping[str, float | None],
                   notes: Mapping[str, list[str]],
                   intervals: Mapping[str, Mapping[str, list[float]]] | None = None
                   ) -> list[list[str]]:
    """Header and one row per parameter: name, value, +- std, unit, notes; with
    ``intervals`` (a fit's profile-likelihood intervals), the 95 % one after the std."""
    rows = [["parameter", "value", "+- std", *(["95 % interval"] if intervals else []),
             "unit", ""]]
    for name, v in parameters.items():
        s = std.get(name)
        val, err = value_text(float(v), None if s is None else float(s))
        extra = []
        if intervals:
            ends = intervals.get(name, {}).get("95")
            extra = ["-" if not ends else " to ".join(
                value_text(float(e), None if s is None else float(s))[0] for e in ends)]
        rows.append([name, val, err, *extra, unit_of(name), "; ".join(notes.get(name, []))])
    return rows


def fit_table(record: Mapping[str, Any]) -> str:
    """The table of a fit's JSON record: objective and time, each parameter (flags: at its
    prior's edge, network disagreement), the beam taken from an instrument, the goodness of
    fit, the valleys the counts allow, the orientation peaks, and what else the fit flagged."""
    notes: dict[str, list[str]] = {}
    for name, flag in record.get("at_bound", {}).items():
        notes.setdefault(name, []).append(edge_text(flag) + ": a limit, not a measurement")
    z = record.get("disagreement", {})
    net = record.get("network", {}).get("parameters", {})
    for name in record.get("disagree", []):
        notes.setdefault(name, []).append(
            f"the network says {net.get(name, float('nan')):.4g} ({z[name]:+.1f} std)")
    objective = record.get("objective", "log")
    lines = [f"fit of {Path(str(record.get('image', ''))).name} in "
             f"{record.get('seconds', 0.0):.1f} s, objective {objective}"]
    if record.get("parameters"):
        lines += _columns(parameter_rows(record["parameters"], record.get("std", {}), notes,
                                         record.get("intervals")))
    fixed = [f"{k} {r['value']:g}" for k, r in record.get("beam", {}).items()
             if r.get("source") == "instrument"]
    if fixed:
        lines.append("  from the instrument (held): " + ", ".join(fixed))
    lines.append("  " + goodness_text(record))
    modes = modes_text(record)
    if modes:
        lines.append("  " + modes)
    if "probability" in record:
        lines += peak_lines(record.get("peaks", []), "posterior" in record)
        post = record.get("posterior", {})
        if post.get("settled") is False:
            lines.append(f"  the posterior has not settled (split TV {post['split_tv']:.2f}): "
                         "sample longer with --posterior-seconds")
    lines += [f"  breaks the constraint {c!r}" for c in record.get("outside_constraints", [])]
    if "overfilled" in record:
        lines.append(f"  the particles overfill their slice ({record['overfilled']:.3g} times)")
    outside = record.get("network", {}).get("outside_prior", {})
    lines += [f"  network start: {k} {edge_text(f)}" for k, f in outside.items()]
    return "\n".join(lines)


def modes_text(record: Mapping[str, Any]) -> str | None:
    """One line on the valleys that the counts allow (the fit's ``modes``), by the
    parameters whose profiles found them, or None when there is one."""
    modes = record.get("modes") or []
    if not modes:
        return None
    names = sorted({m["along"] for m in modes if "along" in m}) or sorted(
        modes[0]["parameters"])
    return (f"the counts allow {len(modes)} valleys of {', '.join(names)}: " + ", ".join(
        "/".join(f"{m['parameters'][n]:.4g}" for n in names) + f" (weight {m['weight']:.2f})"
        for m in modes) + "; the answer is the first, its errors cover the others (see 'modes')")


def goodness_text(record: Mapping[str, Any]) -> str:
    """One line on how well the fit describes the data: the deviance per degree of freedom
    against its expected 1 ("poor fit" beyond 3 expected std), or the misfit of the log
    objective, which has no expectation."""
    gof = record.get("goodness_of_fit")
    if not gof:
        log = record.get("objective", "log") == "log"
        return f"misfit {record.get('misfit', float('nan')):.4g}" + (
            " (log objective: no expected value)" if log else "")
    per = gof["per_dof"]
    spread = gof["expected_std"] / max(gof["expected"], 1.0)
    if gof["described"]:
        return (f"good fit: deviance {per:.3g} per degree of freedom "
                f"(1 +- {spread:.2g} expected from the counts)")
    return (f"poor fit: deviance {per:.3g} per degree of freedom (1 +- {spread:.2g} expected "
            f"from the counts); the errors are widened by sqrt({gof['widen']:.3g})")


def peak_lines(peaks: Sequence[Mapping[str, float]], posterior: bool,
               shown: int = PEAKS_SHOWN) -> list[str]:
    """The heaviest ``shown`` peaks of a fitted distribution (:func:`deepgisas.fit.peaks.peaks`)
    with their weight's std (the posterior's, else Laplace's, else the bootstrap's)."""
    if not peaks:
        return ["  orientation: no peak"]
    source = "posterior" if posterior else "fit"
    rows = [["xi (deg)", "weight", "+- std"]]
    for p in peaks[:shown]:
        s = p.get("std_bootstrap") if posterior else p.get("std")
        if s is None or not math.isfinite(s):
            s = p.get("std_bootstrap")
        val, err = value_text(p["weight"], s)
        rows.append([f"{p['xi_deg']:.1f}", val, err])
    more = len(peaks) - shown
    tail = [f"    and {more} smaller peak{'s' * (more > 1)}"] if more > 0 else []
    return [f"  orientation peaks ({source}), heaviest first:"] + _columns(rows, "    ") + tail


def distribution_peaks(probability: Sequence[float], xi_deg: Sequence[float],
                       shown: int = PEAKS_SHOWN) -> list[dict[str, float]]:
    """The main peaks of a network's xi distribution, which spreads over many bins: on the
    distribution smoothed over three bins (around the 60 deg circle), each local maximum,
    heaviest first, with its half-maximum interval ``lo_deg`` to ``hi_deg`` (not reaching
    into a heavier peak's) and ``weight``, the probability within it; the ``shown`` first,
    down to a tenth of the highest."""
    p = np.asarray(probability, dtype=np.float64)
    xi = np.asarray(xi_deg, dtype=np.float64)
    n = p.size
    if n < 3 or p.max() <= 0:
        return []
    s = (np.roll(p, 1) + 2 * p + np.roll(p, -1)) / 4
    step = float(xi[1] - xi[0])
    taken = np.zeros(n, bool)
    out: list[dict[str, float]] = []
    for k in np.argsort(-s, kind="stable"):
        if len(out) == shown or s[k] < 0.1 * s.max():
            break
        if taken[k] or s[k] < s[(k - 1) % n] or s[k] < s[(k + 1) % n]:
            continue
        reach = []
        for sign in (-1, 1):
            j = 0
            while (j < n // 2 and not taken[(k + sign * (j + 1)) % n]
                   and s[(k + sign * (j + 1)) % n] >= s[k] / 2):
                j += 1
            reach.append(j)
        idx = (k + np.arange(-reach[0], reach[1] + 1)) % n
        taken[idx] = True
        out.append({"xi_deg": float(xi[k]), "lo_deg": float(xi[k] - (reach[0] + 0.5) * step),
                    "hi_deg": float(xi[k] + (reach[1] + 0.5) * step),
                    "weight": float(p[idx].sum())})
    return out


def _peaks_text(result: Mapping[str, Any]) -> str:
    found = distribution_peaks(result["probability"], result["xi_deg"])
    return ", ".join(f"{q['xi_deg']:.1f} deg ({q['lo_deg']:.1f} to {q['hi_deg']:.1f}) "
                     f"weight {q['weight']:.2f}" for q in found) or "no peak"


def _result_notes(result: Mapping[str, Any]) -> dict[str, list[str]]:
    notes: dict[str, list[str]] = {}
    for name, flag in result.get("outside_prior", {}).items():
        notes.setdefault(name, []).append(edge_text(flag).replace("prior's", "training prior's"))
    for name, q in result.get("quantiles", {}).items():
        notes.setdefault(name, []).insert(0, f"90 % {q['5']:.4g} to {q['95']:.4g}")
    return notes


def predict_table(output: Mapping[str, Any], max_rows: int = MAX_ROWS) -> str:
    """The table of ``predict``'s JSON: for one image each parameter with its std, unit and
    flags (or the distribution's main peaks, :func:`distribution_peaks`); for several, one
    row per image (the first ``max_rows``, and how many more the JSON holds)."""
    results = list(output.get("results", []))
    head = f"model {output.get('model', '?')}, {len(results)} image{'s' * (len(results) != 1)}"
    if not results:
        return head
    if len(results) == 1:
        r = results[0]
        lines = [f"{head}: {Path(str(r['image'])).name}"]
        if "probability" in r:
            lines.append("  xi peaks (half-maximum interval): " + _peaks_text(r))
        else:
            lines += _columns(parameter_rows(r["parameters"], r.get("std", {}),
                                             _result_notes(r)))
        lines += [f"  extrapolation: {e.get('what', e)}" for e in r.get("extrapolation", [])]
        return "\n".join(lines)
    lines = [head]
    shown = results[:max_rows]
    if "probability" in shown[0]:
        lines += [f"  {Path(str(r['image'])).name}: {_peaks_text(r)}" for r in shown]
    else:
        names = list(shown[0]["parameters"])
        rows = [["image"] + [f"{k} ({unit_of(k)})" if unit_of(k) else k for k in names]
                + ["flags"]]
        for r in shown:
            cells = [Path(str(r["image"])).name]
            for k in names:
                val, err = value_text(float(r["parameters"][k]), r.get("std", {}).get(k))
                cells.append(val if err == "-" else f"{val} +- {err}")
            flags = [f"{k} {f['bound']} edge" for k, f in r.get("outside_prior", {}).items()]
            flags += ["extrapolation"] * bool(r.get("extrapolation"))
            rows.append(cells + [", ".join(flags)])
        if not any(r[-1] for r in rows[1:]):
            rows = [r[:-1] for r in rows]
        lines += _columns(rows)
    if len(results) > max_rows:
        lines.append(f"  ... and {len(results) - max_rows} more in the JSON")
    return "\n".join(lines)
