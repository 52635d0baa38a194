# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Train a model on your own template
#
# The bundled networks know the samples they were trained on. For your own sample, write a
# template (a description file whose unknown numbers are priors) and train a network on
# simulations drawn from it: they are made on the fly, so there is no data set to prepare.
#
# Here the template is a variant of the bundled `film` with two unknowns, the particle radius
# and their distance; everything else is fixed. Ten minutes of training (`--minutes 10`)
# give a useful model on a laptop; this tutorial trains for 3 minutes, and with
# `DEEPGISAS_TUTORIAL_QUICK=1` for a handful of steps only (the numbers below are then those
# of an untrained network: the point is the workflow).

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import deepgisas as dg
from deepgisas.data.preprocess import default_input
from deepgisas.predict import Predictor
from deepgisas.templates import draw_parameters
from deepgisas.training.config import TrainConfig
from deepgisas.training.loop import train

QUICK = os.environ.get("DEEPGISAS_TUTORIAL_QUICK") == "1"

# %% [markdown]
# ## The template
#
# Lengths in nm, angles in degrees (docs/format.md lists every key). A number written as
# `{uniform: [lo, hi]}` is a free parameter; the constraint keeps neighbouring particles
# from overlapping.

# %%
Path("my-film.yaml").write_text("""\
beam: {wavelength_nm: 0.1341, alpha_i_deg: 0.25, intensity: 1.0e8}
detector:
  spherical: {phi_deg: [-2.0, 2.0], alpha_deg: [0.0, 2.5], shape: [128, 128]}
sample:
  layers:
    - {material: vacuum}
    - {material: {delta: 7.6e-6, beta: 1.75e-7}}
  particles:
    layer: 0
    placement: deposit
    material: {delta: 4.6e-5, beta: 4.6e-6}
    shape: {spheroid: {radius_nm: {uniform: [2.0, 10.0]}, height_nm: 8.0}}
    size_distribution: {lognormal: {sigma: 0.2}, samples: 15, width: 2.0}
  interference:
    radial_paracrystal: {distance_nm: {uniform: [15.0, 60.0]}, damping_length_nm: 1.0e6,
                         omega_nm: 5.0, kappa: 0.0, domain_size_nm: 20000.0}
constraints: ["distance_nm >= 2 * radius_nm"]
""")
template = dg.load("my-film.yaml")
print(list(template.priors))

# %% [markdown]
# ## Training
#
# On the command line this is
# `deepgisas train my-film.yaml -o my-model --arch compact --minutes 3`. In Python, the same
# settings are a `TrainConfig`; `default_input` chooses how images are cropped and averaged
# down for the architecture (`compact`, 0.3 M parameters, is designed for a CPU). The model
# folder holds the weights, a card (the template, the input preparation and the validation
# figures) and the learning curve.

# %%
spec = default_input(template.base.detector.shape, "compact")
if QUICK:
    config = TrainConfig(arch="compact", minutes=1.0, max_steps=8, steps_per_epoch=4,
                         batch_size=16, val_size=32, input=spec, warmup_steps=2)
else:
    config = TrainConfig(arch="compact", minutes=3.0, input=spec)
card = train(template, "my-model", config, command="tutorial", progress=False)
print(f"{card.training['steps']} steps in {card.validation['seconds']:.0f} s; validation "
      f"mean absolute error {card.validation['mae_unit']:.3f} of each prior's width, "
      f"{card.validation['within_1std']:.0%} of truths within 1 std")

# %% [markdown]
# Training drew its learning curve into `my-model/learning_curve.png` with matplotlib's
# file backend; the magic below brings the notebook's inline plots back.

# %%
# %matplotlib inline
curve = np.genfromtxt("my-model/learning_curve.csv", delimiter=",", names=True)
fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
ax.plot(curve["step"], curve["train_loss"], "o-", label="training loss")
ax.plot(curve["step"], curve["nll"], "s-", label="validation loss")
ax.set_xlabel("step")
ax.set_ylabel("Gaussian negative log-likelihood")
ax.legend()
plt.show()

# %% [markdown]
# ## Validation on new simulations
#
# Draw test samples from the template's priors with a seed the training never used,
# simulate them with Poisson counts, and compare the network's answers with the truth.
# `deepgisas analyze validate my-model -o validation` makes the same comparison with its
# plots and the worst and best cases.

# %%
n = 16 if QUICK else 64
truth = draw_parameters(template, n, seed=12345)  # path -> n values
experiments = [template.at({path: values[i] for path, values in truth.items()})
               for i in range(n)]
rng = np.random.default_rng(1)
counts = rng.poisson(dg.simulate_batch(experiments)).astype(float)
predictor = Predictor("my-model")
answers = predictor(counts)

fig, axes = plt.subplots(1, 2, figsize=(9, 4), constrained_layout=True)
for ax, path in zip(axes, template.priors, strict=True):
    name = path.split(".")[-1]
    true = np.asarray(truth[path])
    value = np.array([a["parameters"][name] for a in answers])
    std = np.array([a["std"][name] for a in answers])
    ax.errorbar(true, value, yerr=std, fmt="o", ms=3)
    ax.plot([true.min(), true.max()], [true.min(), true.max()], "k--", lw=1)
    ax.set_xlabel(f"true {name}")
    ax.set_ylabel(f"predicted {name}")
    inside = np.mean(np.abs(value - true) <= std)
    ax.set_title(f"median error {np.median(np.abs(value - true)):.2f} nm, "
                 f"{inside:.0%} within 1 std", fontsize=9)
plt.show()

# %% [markdown]
# ## Predicting
#
# The model folder is a model like the bundled ones: `Predictor("my-model")` in Python, or
# `deepgisas predict my-model image.npy` on the command line, for any image on the
# template's detector (or, with `--instrument`, any detector file).

# %%
print(answers[0], "\ntrue:", {path.split(".")[-1]: values[0] for path, values in truth.items()})
