"""docs/format.md, generated from the parameter tables: every key of the description format
with its unit, default and bounds.

    python -m deepgisas.format_doc docs/format.md    # write it
    python -m deepgisas.format_doc --check docs/format.md    # exit 1 when it is stale

The numbers' tables are the ones the parsers validate with (:mod:`deepgisas.physics.params`):
the shapes' and the interference types' own, and those of the beam, materials, layers,
particles and size distributions. The keys that are not numbers of the physics (detector
geometry, masks, placement, sampling settings) are listed beside them, and the constraints
between priors and the overfill rule (:mod:`deepgisas.constraints`, :mod:`deepgisas.fill`)
after them.
"""

from __future__ import annotations

import sys

from deepgisas.constraints import FEASIBILITY_DRAWS
from deepgisas.docpage import page_main
from deepgisas.io.readers import ORIENTATIONS
from deepgisas.parse import (
    ANGLE_SPREAD_PARAMS,
    BEAM_PARAMS,
    CORE_PARAMS,
    LAYER_PARAMS,
    PARTICLE_PARAMS,
    RESOLUTION_PARAMS,
    WAVELENGTH_SPREAD_PARAMS,
)
from deepgisas.physics.formfactors import SHAPES
from deepgisas.physics.params import table_markdown
from deepgisas.physics.structures import STRUCTURES
from deepgisas.sample import (
    MATERIAL_PARAMS,
    N_XI_BINS_DEFAULT,
    ROUGHNESS_PARAMS,
    SIZE_DISTRIBUTION_PARAMS,
)

SETTINGS = (
    ("`beam.divergence`", "{alpha_i_deg, phi_i_deg, wavelength}, each optional",
     "Gaussian spreads of the beam (ba.ParameterDistribution BeamGrazingAngle, "
     "BeamAzimuthalAngle, BeamWavelength): every combination of their samples is simulated "
     "and summed with the product of their weights"),
    ("`beam.divergence.NAME.samples`", "integer >= 1 (5)",
     "points of the spread (1: the value alone, no spread)"),
    ("`beam.divergence.NAME.width`", "[1e-6, 10] (2)",
     "the points span +-width standard deviations"),
    ("`detector.spherical.phi_deg`", "[min, max], deg",
     "outer bin edges in phi_f (columns)"),
    ("`detector.spherical.alpha_deg`", "[min, max], deg",
     "outer bin edges in alpha_f (rows)"),
    ("`detector.spherical.shape`", "[rows, columns]",
     "bins: [n_alpha, n_phi]"),
    ("`detector.rectangular.shape`", "[rows, columns]",
     "pixels of a flat detector perpendicular to the direct beam"),
    ("`detector.rectangular.pixel_size_mm`", "mm, > 0",
     "pixel pitch"),
    ("`detector.rectangular.distance_mm`", "mm, > 0",
     "sample to detector"),
    ("`detector.rectangular.beam_center_px`", "[column, row]",
     "the direct beam, column from the left, row from the bottom"),
    ("`detector.roi_px`", "[col0, row0, col1, row1]",
     "optional region of interest (rows from the bottom)"),
    ("`detector.mask_px`", "list of [col0, row0, col1, row1]",
     "optional masked rectangles (beam stop)"),
    ("`detector.orientation`", "__ORIENTATIONS__",
     "how the instrument's detector files store the image"),
    ("`sample.layers`", "list, at least 2",
     "top (ambient) to bottom (substrate); `material: vacuum` or {delta, beta}"),
    ("`sample.layers.N.roughness`", "{sigma_nm, hurst, correlation_length_nm}",
     "a layer's top interface (not the ambient's)"),
    ("`sample.particles.layer`", "integer >= 0 (0)",
     "the layer that holds them"),
    ("`sample.particles.placement`", "deposit (default) or suspend",
     "on the layer's bottom interface, or below its top one"),
    ("`sample.particles.shape`", "one of the shapes above",
     ""),
    ("`sample.particles.core`", "{material, shape, z_nm}",
     "a core inside the particle's shape (the shell): ba.CoreAndShell; one of the shapes "
     "above, its lengths and z_nm scaled with the shell's by a size distribution"),
    ("`sample.particles.size_distribution.samples`", "integer >= 1 (20)",
     "members of the lognormal mixture"),
    ("`sample.particles.size_distribution.width`", "[1e-6, 10] (2)",
     "the mixture's range in units of sigma"),
    ("`sample.interference`", "one of the types above",
     ""),
    ("`...orientation.xi_deg`, `...orientation.weights`", "deg; weights in [0, 1]",
     "domains of a lattice and their weights"),
    ("`...orientation.random_bins.bins`", "integer >= 1 (__BINS__)",
     "a prior: xi in equal bins of 60 deg"),
    ("`...orientation.random_bins.nonzero`", "[lo, hi] (1, 5)",
     "a prior: lo to hi non-zero bins, weights i.i.d. uniform, normalised"),
    ("`options.use_average_materials`", "true (default) or false",
     "BornAgain's SimulationOptions.setUseAvgMaterials; when true, an overfilled slice is "
     "refused (below)"),
    ("`labels`", "list of free-parameter names",
     "what a network trained on the template predicts"),
    ("`constraints`", "list of text, e.g. \"distance_nm >= 2 * radius_nm\"",
     "a template's draws keep only values where every one holds (below)"),
)  # (key, value, meaning) of the keys that are not physics numbers

CONSTRAINTS = """## Constraints

`constraints: ["distance_nm >= 2 * radius_nm"]` restricts a template's priors: its draws (for
training, generation and analysis) are drawn from the priors and kept only where every
constraint holds (by rejection, reproducibly from the seed). A constraint is a comparison of
arithmetic expressions:

- numbers (`2`, `0.5`, `1e-3`); names: a free parameter's short name (the last part of its
  path, when no other free parameter ends the same: `radius_nm`) or full path
  (`sample.particles.shape.spheroid.radius_nm`), or a fixed number of the description by its
  full path (`sample.layers.1.thickness_nm`) or by the last part of it when no other number
  ends the same;
- `+ - * / **`, unary `-`, parentheses;
- comparisons `< <= > >=`, chained (`1 < x / y < 2`), and `and` between comparisons.

Nothing else is accepted (no calls, no other names); an unknown name, bad syntax, or a
constraint that holds in none of __DRAWS__ draws from the priors is an error naming
`constraints.N`. When fewer than 1 in 1000 of 10000 or more candidates are kept, drawing is
an error. A fit (`deepgisas fit`) starts from prior points where the constraints hold; its
search is not constrained, and an answer that breaks one is flagged (`outside_constraints`).

## Overfilled slices

With `options.use_average_materials` on (the default), the particles' height range is a slice
of the layer whose material mixes in the particles in proportion to their volume fraction
f = coverage x density x mean volume / height (the density of the interference type; the
coverage: the summed weights of a lattice's domains, else 1; the mean volume and the height, the
tallest member's, over the size distribution). BornAgain 25 refuses f > 1 ("Volume of sample
components exceeds base volume"), and so does deepgisas: a description file whose particles
overfill their slice is an error (`deepgisas simulate` exits 2 and writes nothing), and a
template's draws never give one. With average materials off, any f is accepted, as in
BornAgain. A fit's answer that overfills is flagged (`overfilled`: its f).
"""


def format_reference() -> str:
    """The Markdown of docs/format.md."""
    out = ["# The description format: every key", "",
           "Generated from the parameter tables by `python -m deepgisas.format_doc "
           "docs/format.md`; do not edit. A test fails when it is stale. The format and its "
           "example are in shared/CONTRACT.md, section 1. Lengths are in nm, angles in degrees. "
           "Any number in the tables may be a prior instead, `{uniform: [lo, hi]}` or "
           "`{log_uniform: [lo, hi]}`, within the bounds; bounds in round brackets are "
           "excluded, in square ones included.", ""]
    numbers = [("`beam`", BEAM_PARAMS),
               ("`beam.divergence.alpha_i_deg`, `beam.divergence.phi_i_deg`",
                ANGLE_SPREAD_PARAMS),
               ("`beam.divergence.wavelength`", WAVELENGTH_SPREAD_PARAMS),
               ("`detector.resolution`: one of, each a list [horizontal, vertical]",
                RESOLUTION_PARAMS),
               ("`material` (of a layer or of the particles)", MATERIAL_PARAMS),
               ("`sample.layers.N`", LAYER_PARAMS),
               ("`sample.layers.N.roughness`", ROUGHNESS_PARAMS),
               ("`sample.particles`", PARTICLE_PARAMS),
               ("`sample.particles.core`", CORE_PARAMS),
               ("`sample.particles.size_distribution.lognormal`", SIZE_DISTRIBUTION_PARAMS)]
    for title, table in numbers:
        out += [f"## {title}", "", table_markdown(table), ""]
    out += ["## `sample.particles.shape`: one of", ""]
    for name, shape in SHAPES.items():
        out += [f"### `{name}`: {shape.description}", "", table_markdown(shape.params), ""]
    out += ["## `sample.interference`: one of", ""]
    for name, st in STRUCTURES.items():
        extra = " It also takes `orientation` (Other keys)." if st.has_orientation else ""
        out += [f"### `{name}`: {st.description}.{extra}", "", table_markdown(st.params), ""]
    out += ["## Other keys", "", "| key | value | meaning |", "|---|---|---|"]
    for key, value, meaning in SETTINGS:
        value = value.replace("__BINS__", str(N_XI_BINS_DEFAULT)).replace(
            "__ORIENTATIONS__", " or ".join(ORIENTATIONS))
        out.append(f"| {key} | {value} | {meaning} |")
    out += ["", CONSTRAINTS.replace("__DRAWS__", str(FEASIBILITY_DRAWS))]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    """``python -m deepgisas.format_doc [--check] docs/format.md``."""
    return page_main(argv, "deepgisas.format_doc", format_reference)

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
