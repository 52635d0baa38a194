"""docs/models.md, generated from the bundled models' cards (``card.json``): each model's
template, labels, architecture and input, head, the commands that trained it and its
validation figures.

    python -m deepgisas.models_doc docs/models.md            # write it
    python -m deepgisas.models_doc --check docs/models.md    # exit 1 when it is stale
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from deepgisas.docpage import page_main
from deepgisas.models.card import ModelCard
from deepgisas.models.store import bundled_models, model_dir, read_card

HEADS = {"distribution": "a softmax over the xi bins (the orientation distribution)",
         "gaussian": "a mean and a standard deviation per label (independent Gaussians)",
         "flow": "a conditional normalising flow: a joint posterior over all labels"}


def _num(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _pct(x: Any) -> str:
    return f"{100 * x:.1f} %" if isinstance(x, float) else "-"


def _input(card: ModelCard) -> list[str]:
    i = card.input
    out = [f"- architecture `{card.arch}`, {card.in_chans} input channel"
           f"{'s' if card.in_chans > 1 else ''}, {card.num_outputs} outputs"]
    if "crop" in i:
        out.append(f"- input: the central {i['crop'][0]} x {i['crop'][1]} pixels"
                   + (f" (within {i['jitter']} pixels in training)" if i.get("jitter") else "")
                   + (f", averaged over {i['downsample'][0]} x {i['downsample'][1]} blocks"
                      if i.get("downsample") else "")
                   + ("; counts binned before the noise" if i.get("bin_counts") else "")
                   + ("; a mask channel" if i.get("mask_channel") else ""))
    if "augment" in i:
        scale = i.get("scale")
        out.append(f"- augmentation `{i['augment']}`"
                   + (f", intensity scale 10^U({scale[0]:g}, {scale[1]:g}) of the template's"
                      if scale else ""))
    out.append(f"- head `{card.head}`: {HEADS[card.head]}")
    if card.flow:
        out.append("- flow: " + ", ".join(f"{k} {v}" for k, v in card.flow.items()))
    return out


def _labels(card: ModelCard) -> list[str]:
    labels = card.labels or {}
    if labels.get("orientation"):
        return [f"The distribution of `{labels['orientation']}` over {labels['bins']} bins of "
                "xi in the 60 deg period."]
    names, paths = labels.get("names", []), labels.get("numeric", [])
    return ["| label | path in the template |", "|---|---|",
            *(f"| `{n}` | `{p}` |" for n, p in zip(names, paths, strict=False))]


def _training(card: ModelCard) -> list[str]:
    t = card.training
    out = []
    stages = [*t.get("init_history", []), t]
    if len(stages) > 1:
        out.append(f"Trained in {len(stages)} stages, each starting from the one before:")
    out.append("")
    out.append("```bash")
    out += [s["command"] for s in stages if s.get("command")]
    out.append("```")
    if "steps" in t:
        minutes = sum(s.get("seconds", 0.0) for s in stages) / 60
        images = sum(s.get("images", 0) for s in stages)
        if len(stages) > 1:
            out += ["", f"{images:,} training images in {minutes:.0f} minutes over all "
                    f"stages (the last: {t['steps']} steps, {t.get('images', 0):,} images)."]
        else:
            out += ["", f"{images:,} training images in {minutes:.0f} minutes "
                    f"({t['steps']} steps)."]
    return out


def _validation(card: ModelCard) -> list[str]:
    v = card.validation
    if not v:
        return ["No validation record."]
    figures = v.get("figures", {})
    out = [f"On {v.get('n', '?')} validation simulations of the template, prepared as in "
           "training:", ""]
    if card.head == "distribution":
        keys = ("kl", "emd_deg", "kl_folded")
        out += ["| | KL | circular EMD (deg) | folded KL |", "|---|---|---|---|"]
        for row, name in (("model", "this model"), ("baseline_uniform", "the uniform guess"),
                          ("baseline_mean_label", "the mean training label")):
            if row in figures:
                out.append(f"| {name} | " + " | ".join(_num(figures[row][k]) for k in keys)
                           + " |")
        return out
    out += ["| label | median relative error | prior-mean baseline | MAE (unit box) | "
            "within 1 std | within 2 std |", "|---|---|---|---|---|---|"]
    for name, f in figures.items():
        out.append(f"| `{name}` | {_pct(f.get('median_relative_error'))} | "
                   f"{_pct(f.get('baseline_median_relative_error'))} | "
                   f"{_num(f.get('mae_unit'))} | {_pct(f.get('within_1std'))} | "
                   f"{_pct(f.get('within_2std'))} |")
    if "nll" in v:
        out += ["", f"Mean negative log-likelihood {_num(v['nll'])}."]
    return out


def model_section(name: str, card: ModelCard) -> list[str]:
    """The Markdown section of one model."""
    template = yaml.safe_dump(card.template, sort_keys=False, default_flow_style=None,
                              width=88).rstrip()
    return [f"## `{name}`", "", *_input(card), "", "### Labels", "", *_labels(card), "",
            "### Template", "", "```yaml", template, "```", "", "### Training",
            *_training(card), "", "### Validation", "", *_validation(card), ""]


def models_reference() -> str:
    """The Markdown of docs/models.md."""
    names = bundled_models()
    out = ["# Bundled models", "",
           "Generated from the models' cards by `python -m deepgisas.models_doc "
           "docs/models.md`; do not edit. A test fails when it is stale. Use a model by its "
           "name wherever a command takes MODEL (`deepgisas predict film IMAGE`) or in Python "
           "(`deepgisas.predict.Predictor('film')`); a model directory written by "
           "`deepgisas train` works the same way. How to train your own: "
           "[Train your own model](training.md).", "",
           "| model | head | labels |", "|---|---|---|"]
    cards = {n: read_card(model_dir(n)) for n in names}
    for n, c in cards.items():
        labels = c.labels or {}
        what = ("xi distribution" if labels.get("orientation")
                else ", ".join(f"`{n}`" for n in labels.get("names", [])))
        out.append(f"| [`{n}`](#{n}) | {c.head} | {what} |")
    out.append("")
    for n, c in cards.items():
        out += model_section(n, c)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    """``python -m deepgisas.models_doc [--check] docs/models.md``."""
    return page_main(argv, "deepgisas.models_doc", models_reference)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
