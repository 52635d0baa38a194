# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # The orientation distribution of a hexagonal sample
#
# Spheres in hexagonal domains: each domain's lattice is rotated by an angle xi about the
# surface normal, and a sample holds a mixture of domains. The GISAXS pattern shows Bragg
# rods whose positions depend on xi, so the image holds the *distribution* of xi. Because the
# hexagonal lattice repeats every 60 deg, xi runs over 0 to 60 deg, here in 120 bins of
# 0.5 deg.
#
# This tutorial simulates the sample of the MLZ talk (domains at xi = 0 and 30 deg with
# weights 0.7 and 0.3), reads it with the bundled `hex-orientation` network, and then
# computes the posterior of the weights given the counts: the posterior mean with a 90 % band
# per bin, which says how sure the answer is.
#
# With `DEEPGISAS_TUTORIAL_QUICK=1` the lattice constant, particle radius and beam are held
# at their true values (the fit then only samples the weights) and the sampling is short.

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
# ## The measurement
#
# `hex-talk` is a concrete description (no priors): CoFe2O4 spheres of 10 nm radius in
# hexagonal domains (a = 34 nm) on 60 nm of SiO2 on Si. We simulate it and draw Poisson
# counts.

# %%
sample = dg.load("hex-talk")
description = sample.to_dict()  # the description as written in the file
lattice = description["sample"]["interference"]["hexagonal_lattice"]
print(lattice)
counts = np.random.default_rng(0).poisson(dg.simulate(sample)).astype(float)
print(f"{counts.shape[0]} x {counts.shape[1]} pixels, {counts.sum():.3g} counts")

# %%
geometry = sample.detector.geometry
fig, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
shown = ax.imshow(np.where(counts > 0, counts, np.nan), origin="lower", aspect="auto",
                  extent=(*geometry.phi_deg, *geometry.alpha_deg), cmap="inferno",
                  norm=LogNorm(vmin=1, vmax=counts.max()))
fig.colorbar(shown, label="counts per pixel")
ax.set_xlabel(r"$\phi_f$ (deg)")
ax.set_ylabel(r"$\alpha_f$ (deg)")
ax.set_title("hex-talk, Poisson counts")
plt.show()

# %% [markdown]
# ## The network's answer
#
# An orientation model answers with a probability for each of the 120 xi bins.

# %%
network = Predictor("hex-orientation")(counts[None])[0]
xi = np.asarray(network["xi_deg"])
p_net = np.asarray(network["probability"])
near = {centre: float(p_net[np.abs(xi - centre) <= 1.0].sum()) for centre in (0.0, 30.0)}
print(f"network: weight within 1 deg of 0 deg: {near[0.0]:.2f}, of 30 deg: {near[30.0]:.2f}")

# %% [markdown]
# ## The posterior of the weights
#
# `fit_image` with the `hex-orientation` template (whose orientation prior is 1 to 5 domains
# in random bins with random weights) first finds the nuisance (lattice constant, decay,
# position variance, radius, wavelength, incidence angle), then samples the posterior of
# the weights given the counts by reversible-jump MCMC on the Poisson likelihood
# (docs/statistics.md explains how). The network's answer narrows the search.
# On the command line:
# `deepgisas fit hex-orientation counts.npy --model hex-orientation -o fit.json`.

# %%
template = dg.load("hex-orientation")
if QUICK:  # the nuisance at its true values: only the weights are sampled
    beam, sphere = description["beam"], description["sample"]["particles"]["shape"]["sphere"]
    fixed = {"wavelength_nm": beam["wavelength_nm"], "alpha_i_deg": beam["alpha_i_deg"],
             "radius_nm": sphere["radius_nm"], "a_nm": lattice["a_nm"],
             "decay_nm": lattice["decay_nm"],
             "position_variance_nm2": lattice["position_variance_nm2"]}
    config = FitConfig(posterior_seconds=2.0, posterior_extend=0.0)
else:
    fixed, config = None, FitConfig()
fit = fit_image(template, counts, start=network, fixed=fixed, config=config)
post = fit.extra["posterior"]
print(f"{fit.seconds:.1f} s, {post['sweeps']} sweeps, settled: {post['settled']}")
print("number of domains:", {k: round(v, 2) for k, v in post["k_probability"].items() if v})
for peak in fit.extra["peaks"]:
    print(f"peak at xi = {peak['xi_deg']:5.2f} deg, weight {peak['weight']:.3f}")
if not QUICK:
    print("nuisance:", {k: round(v, 4) for k, v in fit.parameters.items()})

# %% [markdown]
# ## The posterior beside the network
#
# Bars: the posterior mean of each bin's weight, with its 90 % band (shaded); red line: the
# network's distribution; dashed: the true domains.

# %%
mean = np.asarray(fit.extra["probability"])
low, high = np.asarray(fit.extra["probability_low"]), np.asarray(fit.extra["probability_high"])
fig, ax = plt.subplots(figsize=(9, 3.5), constrained_layout=True)
ax.bar(xi, mean, width=0.5, color="C0", label="posterior mean")
ax.fill_between(xi, low, high, step="mid", color="C0", alpha=0.3, lw=0, label="90 % band")
ax.step(xi, p_net, where="mid", color="C3", lw=1, label="network")
orientation = lattice["orientation"]
for angle, weight in zip(orientation["xi_deg"], orientation["weights"], strict=True):
    ax.axvline(angle, color="k", ls="--", lw=0.8)
    ax.text(angle + 0.5, 0.95, f"true {weight:g}", transform=ax.get_xaxis_transform())
ax.set_xlabel(r"$\xi$ (deg)")
ax.set_ylabel("weight per 0.5 deg bin")
ax.set_xlim(-1, 60)
ax.legend()
plt.show()

# %% [markdown]
# The weight each answer puts within 1 deg of the true domains:

# %%
for centre in orientation["xi_deg"]:
    window = np.abs(xi - centre) <= 1.0
    print(f"xi = {centre:4.1f} deg: posterior {mean[window].sum():.2f} "
          f"(90 % band {low[window].sum():.2f} to {high[window].sum():.2f}), "
          f"network {p_net[window].sum():.2f}")

# %% [markdown]
# The network, trained on the same prior, answers in milliseconds but spreads its weight
# over neighbouring bins and can miss a weaker domain; the posterior uses every count
# through the physics and says, with its band, how sure it is. (Summing the bins' bands is
# a rough guide only: the band is per bin.)
