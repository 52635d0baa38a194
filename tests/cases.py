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
    return talk_geometry(hexagonal(xi, w, **kw), n)


def talk_geometry(interference: dict, n: int = 96,
                  shape: dict | None = None) -> dict:
    """The talk's beam, detector and CoFe particles (spheres of 10 nm by default)."""
    d = base(shape or {"sphere": {"radius_nm": 10.0}}, interference, n)
    d["beam"] = {"wavelength_nm": 0.1341, "alpha_i_deg": 0.164, "intensity": 2.0e8}
    d["detector"]["spherical"].update(phi_deg=[-1.07, 1.07], alpha_deg=[0.0, 2.2])
    d["sample"]["particles"]["material"] = dict(COFE)
    return d


def square(xi: list[float], w: list[float], **kw: Any) -> dict:
    d = {"a_nm": 30.0, "decay_nm": 150.0, "position_variance_nm2": 0.0,
         "orientation": {"xi_deg": xi, "weights": w}}
    d.update(kw)
    return {"square_lattice": d}


def paracrystal_2d(kind: str, xi: list[float], w: list[float], **kw: Any) -> dict:
    d = {"a_nm": 25.0, "damping_length_nm": 0.0, "domain_size_1_nm": 0.0,
         "domain_size_2_nm": 0.0, "omega_x_nm": 2.0, "omega_y_nm": 1.5, "eta": 0.0,
         "orientation": {"xi_deg": xi, "weights": w}}
    d.update(kw)
    return {f"{kind}_paracrystal": d}


CYL = {"cylinder": {"radius_nm": 5.0, "height_nm": 6.0}}


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


def _core_shell(shell: dict, core: dict, z: float | None = None,
                interference: dict | None = None) -> dict:
    """Core-shell particles: an Ag-like core in a shell of low contrast."""
    d = base(shell, interference)
    d["sample"]["particles"]["material"] = {"delta": 8.0e-6, "beta": 2.0e-7}
    d["sample"]["particles"]["core"] = {"material": {"delta": 2.0e-5, "beta": 1.2e-6},
                                        "shape": core}
    if z is not None:
        d["sample"]["particles"]["core"]["z_nm"] = z
    return d


def _thin_film(shape: dict, placement: str, z: float, thickness: float = 6.0, layer: int = 1,
               interference: dict | None = None) -> dict:
    """Particles in (or on) a thin film on SiO2 / Si that they stick out of."""
    d = base(shape, interference)
    d["sample"]["layers"] = [{"material": "vacuum"},
                             {"material": {"delta": 3.0e-6, "beta": 1.0e-8},
                              "thickness_nm": thickness}, dict(SIO2), dict(SI)]
    d["sample"]["particles"].update(layer=layer, placement=placement, z_nm=z)
    return d


def _galaxi_stack(placement: str, rough: bool) -> dict:
    """BornAgain's GALAXI sample: Ag spheres (lognormal sigma 0.4, whose larger members cross
    the interfaces) in 18.5 nm HMDSO on 22.1 nm PTFE on Si, radial paracrystal."""
    d = base({"sphere": {"radius_nm": 5.75}},
             {"radial_paracrystal": {"distance_nm": 53.6, "damping_length_nm": 1.0e3,
                                     "omega_nm": 10.5, "kappa": 17.5,
                                     "domain_size_nm": 20000.0}})
    d["beam"] = {"wavelength_nm": 0.134, "alpha_i_deg": 0.463, "intensity": 1.0e8}
    d["sample"]["layers"] = [
        {"material": "vacuum"},
        {"material": {"delta": 2.09e-6, "beta": 5.2e-9}, "thickness_nm": 18.5},
        {"material": {"delta": 5.21e-6, "beta": 1.9e-8}, "thickness_nm": 22.1},
        {"material": {"delta": 7.6e-6, "beta": 1.7e-7}}]
    if rough:
        d["sample"]["layers"][1]["roughness"] = {"sigma_nm": 1.1, "hurst": 0.3,
                                                 "correlation_length_nm": 5.0}
        d["sample"]["layers"][2]["roughness"] = {"sigma_nm": 2.3, "hurst": 0.3,
                                                 "correlation_length_nm": 5.0}
    d["sample"]["particles"].update(layer=1, placement=placement, z_nm=0.0,
                                    material={"delta": 2.26e-5, "beta": 1.6e-6},
                                    size_distribution={"lognormal": {"sigma": 0.4},
                                                       "samples": 9, "width": 2.0})
    return d


LOGNORMAL7 = {"lognormal": {"sigma": 0.2}, "samples": 7, "width": 2.0}


ROUGH = {"sigma_nm": 1.0, "hurst": 0.3, "correlation_length_nm": 5.0}


def _rough_film(placement: str, z: float) -> dict:
    """Issue 18's stack: particles in a 20 nm layer whose top interface is rough (BornAgain 25
    gives that roughness to every slice of the layer when average materials are on)."""
    d = base({"spheroid": {"radius_nm": 5.0, "height_nm": 6.0}})
    d["sample"]["layers"] = [
        {"material": "vacuum"},
        {"material": {"delta": 3.3e-6, "beta": 1.0e-8}, "thickness_nm": 20.0,
         "roughness": dict(ROUGH)},
        {"material": {"delta": 5.2e-6, "beta": 1.0e-8}, "thickness_nm": 25.0}, dict(SI)]
    d["sample"]["particles"].update(layer=1, placement=placement, z_nm=z)
    return d


def _galaxi_like() -> dict:
    """A film with particles on a rough substrate, its own top rough too: both interfaces of
    the particles' layer rough, radial paracrystal."""
    d = base({"sphere": {"radius_nm": 4.0}}, PARA)
    d["sample"]["layers"] = [
        {"material": "vacuum"},
        {"material": {"delta": 3.3e-6, "beta": 1.0e-8}, "thickness_nm": 30.0,
         "roughness": {"sigma_nm": 0.8, "hurst": 0.5, "correlation_length_nm": 10.0}},
        {**SI, "roughness": dict(ROUGH)}]
    d["sample"]["particles"].update(layer=1, placement="deposit", z_nm=2.0)
    return d

def _below_horizon(d: dict, shape: tuple[int, int] = (32, 24)) -> dict:
    """The detector reaching below the sample horizon (alpha_f from -0.6 deg): BornAgain 25
    takes those pixels' exit waves from the substrate side."""
    d = copy.deepcopy(d)
    d["detector"]["spherical"].update(alpha_deg=[-0.6, 0.9], shape=list(shape))
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
    "square-xi0": talk_geometry(square([0.0], [1.0])),
    "square-two-domains-variance-avg-off": {
        **talk_geometry(square([10.0, 45.0], [0.6, 0.4], a_nm=28.0, decay_nm=120.0,
                               position_variance_nm2=4.0)),
        "options": {"use_average_materials": False}},
    "paracrystal-square": talk_geometry(paracrystal_2d("square", [0.0], [1.0]), shape=CYL),
    "paracrystal-square-domains-gauss": talk_geometry(paracrystal_2d(
        "square", [20.0], [1.0], damping_length_nm=2000.0, domain_size_1_nm=1000.0,
        domain_size_2_nm=300.0, omega_x_nm=2.5, omega_y_nm=2.0, eta=1.0), shape=CYL),
    "paracrystal-square-voigt": talk_geometry(paracrystal_2d(
        "square", [5.0], [1.0], damping_length_nm=500.0, eta=0.5), shape=CYL),
    "paracrystal-hex-two-domains": talk_geometry(paracrystal_2d(
        "hexagonal", [0.0, 15.0], [0.6, 0.4], a_nm=30.0, omega_x_nm=2.5, omega_y_nm=2.5),
        shape=CYL),
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
    "spherical-segment": base({"spherical_segment": {"radius_nm": 6.0, "top_cut_nm": 1.5,
                                                     "bottom_cut_nm": 2.0}}),
    "spheroidal-segment-lognormal": _with(
        base({"spheroidal_segment": {"radius_nm": 5.0, "radius_z_nm": 3.0, "top_cut_nm": 0.0,
                                     "bottom_cut_nm": 1.0}}),
        "sample.particles.size_distribution", {"lognormal": {"sigma": 0.3}, "samples": 9,
                                               "width": 2.0}),
    "cone-paracrystal-lognormal-kappa": _with(
        base({"cone": {"radius_nm": 5.0, "height_nm": 4.0, "alpha_deg": 70.0}},
             _with(PARA, "radial_paracrystal.kappa", 1.5)),
        "sample.particles.size_distribution", LOGNORMAL7),
    "cone-buried-deposit": _with(_three_layer("deposit", 2.0), "sample.particles.shape",
                                 {"cone": {"radius_nm": 5.0, "height_nm": 6.0,
                                           "alpha_deg": 75.0}}),
    "pyramid4-two-domains": base({"pyramid4": {"base_edge_nm": 14.0, "height_nm": 5.0,
                                               "alpha_deg": 60.0}},
                                 hexagonal([10.0, 40.0], [0.6, 0.4], a_nm=30.0)),
    "spherical-segment-suspend-avg-off": {
        **_with(_three_layer("suspend", -4.0), "sample.particles.shape",
                {"spherical_segment": {"radius_nm": 5.0, "top_cut_nm": 1.0,
                                       "bottom_cut_nm": 3.0}}),
        "options": {"use_average_materials": False}},
    "core-shell-spheres": _core_shell({"sphere": {"radius_nm": 8.0}},
                                      {"sphere": {"radius_nm": 5.0}}),
    "core-shell-offset-lognormal-paracrystal": _with(
        _core_shell({"sphere": {"radius_nm": 6.0}}, {"sphere": {"radius_nm": 3.5}}, z=1.0,
                    interference=PARA),
        "sample.particles.size_distribution", LOGNORMAL7),
    "core-shell-box-cone-avg-off": {
        **_core_shell({"box": {"length_nm": 12.0, "width_nm": 10.0, "height_nm": 8.0}},
                      {"cone": {"radius_nm": 4.0, "height_nm": 3.0, "alpha_deg": 70.0}}, z=2.0),
        "options": {"use_average_materials": False}},
    "crossing-protruding-sphere": _thin_film({"sphere": {"radius_nm": 5.0}}, "deposit", 0.0),
    "crossing-protruding-sphere-avg-off": {
        **_thin_film({"sphere": {"radius_nm": 5.0}}, "deposit", 0.0),
        "options": {"use_average_materials": False}},
    "crossing-sunk-box": _thin_film({"box": {"length_nm": 10.0, "width_nm": 8.0,
                                             "height_nm": 5.0}}, "deposit", -2.0),
    "crossing-buried-spheroid-three-layers": _thin_film(
        {"spheroid": {"radius_nm": 6.0, "height_nm": 16.0}}, "suspend", -2.0),
    "crossing-capped-lognormal-paracrystal": _with(
        _thin_film({"sphere": {"radius_nm": 4.0}}, "deposit", 0.0, thickness=9.0,
                   interference=PARA),
        "sample.particles.size_distribution", {"lognormal": {"sigma": 0.3}, "samples": 9,
                                               "width": 2.0}),
    "crossing-cone-into-ambient": _thin_film(
        {"cone": {"radius_nm": 5.0, "height_nm": 7.0, "alpha_deg": 70.0}}, "deposit", 0.0,
        thickness=4.0),
    "crossing-from-ambient-into-film": _thin_film({"sphere": {"radius_nm": 4.0}}, "deposit",
                                                  -3.0, layer=0),
    "crossing-lattice": _thin_film({"cylinder": {"radius_nm": 4.0, "height_nm": 8.0}},
                                   "deposit", 1.0,
                                   interference=hexagonal([5.0], [1.0], a_nm=25.0)),
    "crossing-galaxi": _galaxi_stack("suspend", rough=False),
    "crossing-galaxi-rough": _galaxi_stack("deposit", rough=True),
    "roi-and-mask": _with(_with(base(), "detector.roi_px", [4, 2, 60, 50]),
                          "detector.mask_px", [[28, 0, 36, 10]]),
    "roughness-on-particle-layer": _rough_film("deposit", 0.0),
    "roughness-on-particle-layer-suspend": _rough_film("suspend", -2.0),
    "roughness-galaxi-like": _galaxi_like(),
    "roughness-on-particle-substrate": _with(
        _with(base(), "sample.layers.2.roughness", dict(ROUGH)), "sample.particles",
        {"layer": 2, "placement": "suspend", "z_nm": -3.0, "material": dict(AU),
         "shape": {"sphere": {"radius_nm": 5.0}}}),
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
    "below-horizon-dilute": _below_horizon(base()),
    "below-horizon-buried-film": _below_horizon(_three_layer("deposit", 2.0)),
    "below-horizon-rough-film": _below_horizon(_galaxi_like()),
    "below-horizon-crossing-galaxi-rough": _below_horizon(_galaxi_stack("deposit", rough=True)),
}
