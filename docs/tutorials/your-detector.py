# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Your detector: from a PONI file to a prediction
#
# A network is trained on one detector grid (angles alpha_f, phi_f at one wavelength and
# incidence angle). Your beamline has its own detector, distance, beam centre and
# wavelength. deepgisas reads your detector file, computes the angles (and q) of every pixel
# from the geometry, and resamples the image in q onto the network's grid. The geometry can
# come from a pyFAI calibration: the PONI file.
#
# This tutorial makes a detector file from a simulation (so the answer is known), writes a
# PONI file for it, and runs `predict` and `show` on them. `DEEPGISAS_TUTORIAL_QUICK=1`
# changes nothing here but is read for symmetry with the other tutorials.

# %%
import json
import os

import fabio
import numpy as np
import yaml
from IPython.display import Image

import deepgisas as dg
from deepgisas.cli.main import main as deepgisas

QUICK = os.environ.get("DEEPGISAS_TUTORIAL_QUICK") == "1"

# %% [markdown]
# ## A detector image
#
# A Pilatus 200K (407 x 487 pixels of 0.172 mm) 1 m behind a nanoparticle film, the direct
# beam at column 243.5 and 60 pixels above the bottom edge. In a description file this flat
# detector is `detector: {rectangular: ...}`; we take the bundled `film` template at fixed
# values and put it on this detector.

# %%
template = dg.load("film")
short = {path.split(".")[-1]: path for path in template.priors}
truth = {"alpha_i_deg": 0.25, "radius_nm": 6.0, "height_nm": 9.0, "sigma": 0.15,
         "distance_nm": 30.0, "omega_nm": 8.0}
description = template.at({short[k]: v for k, v in truth.items()}).to_dict()
description["beam"]["intensity"] = 1.0e9
description["detector"] = {"rectangular": {
    "shape": [407, 487], "pixel_size_mm": 0.172, "distance_mm": 1000.0,
    "beam_center_px": [243.5, 60.0]}}  # [column from the left, row from the bottom]
with open("measurement.yaml", "w") as f:
    yaml.safe_dump(description, f, sort_keys=False)
experiment = dg.load("measurement.yaml")
counts = np.random.default_rng(0).poisson(dg.simulate(experiment))
print(counts.shape, counts.max())

# %% [markdown]
# Detector files store the top row first, while deepgisas counts rows from the bottom (as
# the simulator's alpha_f axis runs), so the image is flipped before writing. The gap
# between the Pilatus modules (rows 195 to 211 from the top) reads -1, as real files have it:
# negative pixels are masked.

# %%
stored = np.flipud(counts).astype(np.int32)
stored[195:212] = -1
fabio.tifimage.TifImage(data=stored).write("sample.tif")

# %% [markdown]
# ## The PONI file
#
# pyFAI measures `Poni1` (along the rows, from the edge of the first row as stored: the top)
# and `Poni2` (along the columns) in metres; with no detector rotation the PONI is where the
# direct beam hits. deepgisas reads PONI files as text (pyFAI is not needed) and models an
# untilted detector only: `Rot1`, `Rot2`, `Rot3` must be 0.

# %%
pixel_m, rows = 0.172e-3, 407
poni = f"""\
poni_version: 2
Detector: Pilatus200k
Distance: 1.0
Poni1: {(rows - 60.0) * pixel_m:.7f}
Poni2: {243.5 * pixel_m:.7f}
Rot1: 0
Rot2: 0
Rot3: 0
Wavelength: {description['beam']['wavelength_nm'] * 1e-9:.4e}
"""
with open("detector.poni", "w") as f:
    f.write(poni)
print(poni)

# %% [markdown]
# ## Look at it
#
# A PONI file has no incidence angle: give it with `--alpha-i`. `show` draws the image on
# angle axes with the masked pixels, the direct beam, the specular peak and the Yoneda band,
# and says what it masked and why.

# %%
deepgisas(["show", "sample.tif", "--instrument", "detector.poni", "--alpha-i", "0.25",
           "-o", "view.png"])
Image("view.png")

# %% [markdown]
# ## Predict
#
# On the command line:
# `deepgisas predict film sample.tif --instrument detector.poni --alpha-i 0.25 -o answer.json`.
# The image is resampled onto the network's grid; the JSON records both beams and anything
# the network was not trained on (`extrapolation`).

# %%
deepgisas(["predict", "film", "sample.tif", "--instrument", "detector.poni",
           "--alpha-i", "0.25", "-o", "answer.json"])
with open("answer.json") as f:
    answer = json.load(f)["results"][0]
for name, value in answer["parameters"].items():
    print(f"{name:12s} {value:8.3f} +- {answer['std'][name]:.3f}   (true {truth[name]})")
print("extrapolation:", answer["extrapolation"] or "none")

# %% [markdown]
# In Python the same is `deepgisas.predict.predict_files("film", ["sample.tif"],
# instrument="detector.poni", alpha_i_deg=0.25)`, and `deepgisas fit film sample.tif
# --model film --instrument detector.poni --alpha-i 0.25` refines the answer through the
# simulator.
#
# ## Real data
#
# The same works with a description file as the instrument (`detector: {rectangular: ...}`
# and the beam; its sample part is ignored). The package ships instrument files for four
# real measurements (GALAXI, SWING, MARIA, CHESS; `deepgisas.bundled_instruments()`), usable
# by name, e.g. for the GALAXI Pilatus 1M image of BornAgain's fitting example:
# `deepgisas show galaxi_raw_data.tif.gz --instrument galaxi -o galaxi.png`. The measured
# files themselves are shared data, not part of the package.
