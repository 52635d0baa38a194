# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Simulate and fit a film
#
# A film of nanoparticles on silicon, measured by GISAXS: what are the particles' radius and
# height, how wide is their size distribution, and how far apart are they? This tutorial
# simulates such a measurement, so that the true answer is known, and then reads it back the
# way you would read a real image:
#
# 1. the bundled `film` network gives a first answer in milliseconds;
# 2. a physics fit, started from that answer, refines it through the simulator and gives
#    each parameter an error bar from the Poisson statistics of the counts.
#
# Setting `DEEPGISAS_TUTORIAL_QUICK=1` shortens the fit's search (the documentation is built
# that way).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

import deepgisas as dg
from deepgisas.fit import FitConfig, fit_image
from deepgisas.predict import Predictor

QUICK = os.environ.get("DEEPGISAS_TUTORIAL_QUICK") == "1"

# %% [markdown]
# ## The template
#
# `film` is a bundled *template*: a description of the experiment (beam, detector, sample)
# in which some numbers are priors, ranges the network was trained on. Its free parameters
# are named by their path in the description; each also has a short name.

# %%
template = dg.load("film")
for path, prior in template.priors.items():
    print(f"{path:55s} {prior.to_dict()}")

# %% [markdown]
# ## A measurement with a known answer
#
# `template.at` fixes every free parameter and gives a concrete experiment
# (`template.draw(n, seed)` would draw random ones from the priors instead). We choose
# spheroids of 5 nm radius, 8 nm high, with a 20 % lognormal size spread, 22 nm apart.

# %%
short = {path.split(".")[-1]: path for path in template.priors}
truth = {"alpha_i_deg": 0.25, "radius_nm": 5.0, "height_nm": 8.0, "sigma": 0.2,
         "distance_nm": 22.0, "omega_nm": 6.0}
experiment = template.at({short[name]: value for name, value in truth.items()})

intensity = dg.simulate(experiment)  # expected counts per pixel, [alpha_f, phi_f]
counts = np.random.default_rng(0).poisson(intensity).astype(float)
print(f"detector {counts.shape[0]} x {counts.shape[1]} pixels, "
      f"{counts.sum():.3g} counts, at most {counts.max():.0f} in a pixel")

# %% [markdown]
# ## The network's answer
#
# `Predictor` loads a model once and reads batches of images (`[n, rows, cols]`). A parameter
# model answers with a value and a standard deviation per parameter. The network does not
# predict the incidence angle: it is a nuisance it was trained to ignore.

# %%
network = Predictor("film")(counts[None])[0]
for name, value in network["parameters"].items():
    print(f"{name:12s} {value:8.3f} +- {network['std'][name]:.3f}   (true {truth[name]})")

# %% [markdown]
# ## The physics fit
#
# `fit_image` fits every free parameter of the template to the counts by the Poisson
# likelihood (the deviance), starting from the network's answer. A flat background and the
# overall scale (flux times exposure) are fitted too. The errors are the inverse Fisher
# information at the optimum; the goodness of fit compares the deviance with what data drawn
# from the fitted model would give. By default the fit also searches from the prior's own
# starting points in case the network's start lies in the wrong valley; the quick setting
# skips that search.

# %%
config = FitConfig(explore=not QUICK)
fit = fit_image(template, counts, start=network, config=config)
gof = fit.extra["goodness_of_fit"]
print(f"{fit.seconds:.1f} s; deviance {gof['deviance']:.0f}, expected "
      f"{gof['expected']:.0f} +- {gof['expected_std']:.0f}: "
      f"{'described' if gof['described'] else 'NOT described'} by the model")

# %% [markdown]
# The fitted values against the truth: the last column is the error in units of the fit's
# standard deviation, which should mostly lie within +-2.

# %%
print(f"{'parameter':12s} {'true':>8s} {'network':>17s} {'fit':>19s} {'(fit-true)/std':>15s}")
for name, value in fit.parameters.items():
    std = fit.std[name]
    net = (f"{network['parameters'][name]:8.3f} +- {network['std'][name]:5.3f}"
           if name in network["parameters"] else "")
    print(f"{name:12s} {truth[name]:8.3f} {net:>17s} {value:9.4f} +- {std:6.4f} "
          f"{(value - truth[name]) / std:15.2f}")

# %% [markdown]
# ## The image and the fit
#
# The counts and the fitted model on the same logarithmic colour scale (pixels without a
# count are black), and the Pearson residual (counts - fit) / sqrt(fit): for a good fit it
# is noise of standard deviation 1, without structure.

# %%
geometry = template.base.detector.geometry
extent = (*geometry.phi_deg, *geometry.alpha_deg)
cmap = plt.get_cmap("inferno").copy()
cmap.set_bad("black")
norm = LogNorm(vmin=1, vmax=counts.max())
fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
for ax, image, title in ((axes[0], counts, "counts"), (axes[1], fit.fitted, "fit")):
    shown = ax.imshow(np.where(image > 0, image, np.nan), origin="lower", extent=extent,
                      aspect="auto", cmap=cmap, norm=norm)
    ax.set_title(title)
fig.colorbar(shown, ax=axes[1], label="counts per pixel")
pearson = (counts - fit.fitted) / np.sqrt(fit.fitted)
shown = axes[2].imshow(pearson, origin="lower", extent=extent, aspect="auto", cmap="RdBu_r",
                       vmin=-4, vmax=4)
axes[2].set_title(f"(counts - fit) / sqrt(fit): std {np.nanstd(pearson):.2f}")
fig.colorbar(shown, ax=axes[2])
for ax in axes:
    ax.set_xlabel(r"$\phi_f$ (deg)")
axes[0].set_ylabel(r"$\alpha_f$ (deg)")
plt.show()

# %% [markdown]
# ## The same from the command line
#
# With the image saved as `film.npy`, `deepgisas fit film film.npy --model film -o fit.json`
# does the same (and writes a PNG of data, fit and residual beside the JSON). For a real
# detector file, add `--instrument FILE` (see the tutorial on your detector).
