"""Description-file cases compared against BornAgain 25 (shared by tests and benchmarks)."""

from __future__ import annotations

import copy
from typing import Any

SI = {"material": {"delta": 5.78e-6, "beta": 1.02e-7}}
SIO2 = {"material": {"delta": 5.44e-6, "beta": 5.44e-8}, "thickness_nm": 60.0}
COFE = {"delta": 2.03e-5, "beta": 1.5e-6}
AU = {"delta": 4.6e-5, "beta": 4.6e-6}


def base(shape: dict | None = None, interference: dict | None = None, n: int = 64) -> dict:
    return {
        "beam": {"wavelength_nm": 0.1341, "alpha_i_deg": 0.2, "intensity": 1.0e8},
        "detector": {"spherical": {"phi_deg": [-1.5, 1.5], "alpha_deg": [0.0, 2.5],
                                   "shape": [n, n]}},
        "sample": {
            "layers": [{"material": "vacuum"}, dict(SIO2), dict(SI)],
            "particles": {"layer": 0, "placement": "deposit", "material": dict(AU),
                          "shape": shape or {"sphere": {"radius_nm": 5.0}}},
            "interference": interference or {"dilute": {"area_density_per_nm2": 0.002}},
        },
    }


def hexagonal(xi: list[float], w: list[float], **kw: Any) -> dict:
    d = {"a_nm": 34.0, "decay_nm": 150.0, "position_variance_nm2": 6.2,
         "orientation": {"xi_deg": xi, "weights": w}}
    d.update(kw)
    return {"hexagonal_lattice": d}


def talk(xi: list[float], w: list[float], n: int = 96, **kw: Any) -> dict:
    d = base({"sphere": {"radius_nm": 10.0}}, hexagonal(xi, w, **kw), n)
    d["beam"] = {"wavelength_nm": 0.1341, "alpha_i_deg": 0.164, "intensity": 2.0e8}
    d["detector"]["spherical"].update(phi_deg=[-1.07, 1.07], alpha_deg=[0.0, 2.2])
    d["sample"]["particles"]["material"] = dict(COFE)
    return d


PARA = {"radial_paracrystal": {"distance_nm": 25.0, "damping_length_nm": 1.0e4,
                               "omega_nm": 4.0, "kappa": 0.0, "domain_size_nm": 0.0}}


def _with(d: dict, path: str, value: Any) -> dict:
    d = copy.deepcopy(d)
    node = d
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return d


def _three_layer(placement: str, z: float) -> dict:
    d = base({"cylinder": {"radius_nm": 4.0, "height_nm": 6.0}})
    d["sample"]["layers"] = [{"material": "vacuum"},
                             {"material": {"delta": 3.0e-6, "beta": 1.0e-8}, "thickness_nm": 30.0},
                             dict(SIO2), dict(SI)]
    d["sample"]["particles"].update(layer=1, placement=placement, z_nm=z)
    return d


CASES: dict[str, dict] = {
    "sphere-dilute": base(),
    "sphere-dilute-avg-off": {**base(), "options": {"use_average_materials": False}},
    "cylinder-dilute": base({"cylinder": {"radius_nm": 4.0, "height_nm": 8.0}}),
    "spheroid-dilute": base({"spheroid": {"radius_nm": 6.0, "height_nm": 5.0}}),
    "hemisphere-dilute": base({"hemisphere": {"radius_nm": 7.0}}),
    "box-dilute": base({"box": {"length_nm": 12.0, "width_nm": 8.0, "height_nm": 5.0}}),
    "sphere-lifted": _with(base(), "sample.particles.z_nm", 3.0),
    "spheroid-lognormal": _with(base({"spheroid": {"radius_nm": 5.0, "height_nm": 6.0}}),
                                "sample.particles.size_distribution",
                                {"lognormal": {"sigma": 0.3}, "samples": 9, "width": 2.0}),
    "hex-xi0": talk([0.0], [1.0]),
    "hex-xi10": talk([10.0], [1.0]),
    "hex-two-domains": talk([0.0, 30.0], [0.7, 0.3]),
    "hex-five-domains": talk([3.5, 12.0, 27.5, 41.0, 55.0], [0.1, 0.3, 0.2, 0.25, 0.15],
                             position_variance_nm2=0.0, decay_nm=250.0, a_nm=31.0),
    "hex-two-domains-avg-off": {**talk([0.0, 30.0], [0.7, 0.3]),
                                "options": {"use_average_materials": False}},
    "paracrystal-cylinder": base({"cylinder": {"radius_nm": 5.0, "height_nm": 5.0}}, PARA),
    "paracrystal-lognormal-kappa": _with(
        base({"cylinder": {"radius_nm": 5.0, "height_nm": 5.0}},
             _with(PARA, "radial_paracrystal.kappa", 1.5)),
        "sample.particles.size_distribution",
        {"lognormal": {"sigma": 0.2}, "samples": 7, "width": 2.0}),
    "buried-suspend-middle": _three_layer("suspend", -4.0),
    "buried-deposit-middle": _three_layer("deposit", 2.0),
    "roughness": _with(base(), "sample.layers.2.roughness",
                       {"sigma_nm": 1.0, "hurst": 0.3, "correlation_length_nm": 5.0}),
    "roughness-two-interfaces": _with(
        _with(base(), "sample.layers.2.roughness",
              {"sigma_nm": 0.8, "hurst": 0.5, "correlation_length_nm": 10.0}),
        "sample.layers.1.roughness", {"sigma_nm": 1.0, "hurst": 0.3, "correlation_length_nm": 5.0}),
    "roi-and-mask": _with(_with(base(), "detector.roi_px", [4, 2, 60, 50]),
                          "detector.mask_px", [[28, 0, 36, 10]]),
    "resolution-spherical": _with(base(), "detector.resolution",
                                  {"gaussian_sigma_deg": [0.05, 0.08]}),
    "resolution-hex-roi-mask": _with(_with(_with(
        talk([10.0], [1.0], n=48), "detector.roi_px", [2, 1, 46, 40]),
        "detector.mask_px", [[20, 0, 28, 12]]),
        "detector.resolution", {"gaussian_sigma_deg": [0.06, 0.03]}),
    "divergence-alpha_i": _with(base(), "beam.divergence",
                                {"alpha_i_deg": {"gaussian_std_deg": 0.02, "samples": 5}}),
    "phi_i-hexagonal": _with(talk([10.0], [1.0], n=48), "beam.phi_i_deg", 4.0),
    "divergence-phi_i-hexagonal": _with(talk([10.0], [1.0], n=48), "beam.divergence",
                                        {"phi_i_deg": {"gaussian_std_deg": 1.5, "samples": 7,
                                                       "width": 2.5}}),
    "wavelength-spread": _with(base(), "beam.divergence",
                               {"wavelength": {"relative_std": 0.03, "samples": 7,
                                               "width": 3.0}}),
    "divergence-all-resolution-wavelength": _with(_with(
        {**talk([5.0, 35.0], [0.6, 0.4], n=32), "beam": {
            "wavelength_nm": 0.1341, "alpha_i_deg": 0.164, "intensity": 2.0e8,
            "phi_i_deg": -2.0, "divergence": {
                "alpha_i_deg": {"gaussian_std_deg": 0.01, "samples": 3},
                "phi_i_deg": {"gaussian_std_deg": 0.3, "samples": 3},
                "wavelength": {"relative_std": 0.01, "samples": 3}}}},
        "detector.resolution", {"gaussian_sigma_deg": [0.04, 0.04]}),
        "detector.mask_px", [[0, 0, 4, 4]]),
}
