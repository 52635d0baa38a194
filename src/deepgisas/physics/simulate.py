"""The GISAS kernel: a batch of experiments of one structure -> intensity [B, rows, cols].

``Structure`` is the static (hashable) part of an experiment: which kernels run and with which
tensor shapes. Everything continuous is a tensor in ``params`` with a leading batch dimension,
so the whole function is differentiable with respect to every continuous parameter.

    I = I0 * dOmega_eff / sin(alpha_i) * rho * [interference strategy over |F_DWBA|^2]

F_DWBA = Delta * sum of BornAgain's four terms in the particles' slice, with
Delta = (k^2 / 4 pi)(n_p^2 - n_layer^2) against the un-averaged layer material. With average
materials on, the particles' height range is its own slice with n^2 = n_layer^2 +
f (n_p^2 - n_layer^2), f = rho * <V> / H. See docs/physics.md for sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from deepgisas.physics import interference as itf
from deepgisas.physics.detector import PixelGrid, apply_masks, rectangular_grid, spherical_grid
from deepgisas.physics.formfactors import SHAPES
from deepgisas.physics.multilayer import amplitudes, layer_kz


@dataclass(frozen=True)
class Structure:
    """Static description of a batch: equal Structures simulate in one tensor pass."""

    detector: str  # "spherical" | "rectangular"
    shape: tuple[int, int]  # (rows, cols)
    n_layers: int
    roi: tuple[int, int, int, int] | None = None
    masks: tuple[tuple[int, int, int, int], ...] = ()
    particle_layer: int | None = None  # None: no particles
    placement: str = "deposit"
    shape_kind: str = "sphere"
    n_sizes: int = 1  # 1: no size distribution
    size_width: float = 2.0
    interference: str = "dilute"
    n_domains: int = 1
    use_average_materials: bool = True
    rough: bool = False


def pixel_grid(st: Structure, p: dict[str, Tensor]) -> PixelGrid:
    rows, cols = st.shape
    if st.detector == "spherical":
        return spherical_grid(p["phi_edges"], p["alpha_edges"], rows, cols)
    return rectangular_grid(rows, cols, p["pixel_mm"], p["distance_mm"], p["center_px"],
                            p["alpha_i"])


def size_samples(median: Tensor, sigma: Tensor, n: int, width: float) -> tuple[Tensor, Tensor]:
    """BornAgain's DistributionLogNormal(median, sigma, n, width).distributionSamples().

    Points linear from median e^{-width sigma} to median e^{+width sigma} (the midpoint for
    n = 1), weights the lognormal pdf (with its 1/x) normalised to sum 1. Returns [B, n] each.
    """
    lo = median * torch.exp(-width * sigma)
    hi = median * torch.exp(width * sigma)
    if n == 1:
        return (0.5 * (lo + hi)).unsqueeze(-1), torch.ones_like(median).unsqueeze(-1)
    t = torch.linspace(0.0, 1.0, n, dtype=median.dtype, device=median.device)
    x = lo.unsqueeze(-1) + t * (hi - lo).unsqueeze(-1)
    z = torch.log(x / median.unsqueeze(-1)) / sigma.unsqueeze(-1)
    pdf = torch.exp(-0.5 * z * z) / x
    return x, pdf / pdf.sum(-1, keepdim=True)


def _members(st: Structure, p: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
    """Shape parameters per size member [B, M] and their weights [B, M]."""
    spec = SHAPES[st.shape_kind]
    names = [q.name for q in spec.params]
    base = {n: p[f"shape.{n}"] for n in names}
    if st.n_sizes == 1 and "size_sigma" not in p:
        return {n: v.unsqueeze(-1) for n, v in base.items()}, torch.ones_like(base[names[0]])[:, None]
    x, wts = size_samples(base[names[0]], p["size_sigma"], st.n_sizes, st.size_width)
    ratio = x / base[names[0]].unsqueeze(-1)
    return {n: v.unsqueeze(-1) * ratio for n, v in base.items()}, wts


def _radial_extension(kind: str, sizes: dict[str, Tensor]) -> Tensor:
    return 0.5 * sizes["length_nm"] if kind == "box" else sizes["radius_nm"]


def structure_density(st: Structure, p: dict[str, Tensor]) -> Tensor:
    """Particles per nm^2 of one structure (before coverage), [B]."""
    if st.interference == "dilute":
        return p["density"]
    if st.interference == "hexagonal_lattice":
        return 1.0 / itf.hex_cell_area(p["lattice_a"])
    return itf.radial_paracrystal_density(p["para_distance"])


def _sliced_stack(st: Structure, p: dict[str, Tensor], height: Tensor, fraction: Tensor,
                  n2p: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
    """Insert the particles' slices into the layer stack. Returns n2, thickness, sigma [B, S]
    and the index of the particles' slice."""
    n2, d, sig = p["n2"], p["thickness"], p["sigma"]
    j = st.particle_layer
    assert j is not None
    z = p["particle_z"]
    zero = torch.zeros_like(z)
    n2j = n2[:, j]
    n2_slice = n2j + fraction * (n2p - n2j) if st.use_average_materials else n2j
    if st.placement == "deposit":
        above = zero if j == 0 else d[:, j] - z - height
        below = z
    else:
        above = -z
        below = zero if j == st.n_layers - 1 else d[:, j] + z - height
    new_n2 = [n2j, n2_slice, n2j]
    new_d = [above, height, below]
    new_s = [sig[:, j], zero, zero]
    n2s = torch.cat([n2[:, :j], torch.stack(new_n2, -1), n2[:, j + 1:]], -1)
    ds = torch.cat([d[:, :j], torch.stack(new_d, -1), d[:, j + 1:]], -1)
    ss = torch.cat([sig[:, :j], torch.stack(new_s, -1), sig[:, j + 1:]], -1)
    return n2s, ds, ss, j + 1


def simulate_tensors(st: Structure, p: dict[str, Tensor]) -> Tensor:
    """Simulate a batch of experiments of structure ``st``; returns [B, rows, cols] intensity.

    ``params`` (all [B, ...], lengths nm, angles rad) are made by ``deepgisas.compile``.
    """
    k = 2.0 * math.pi / p["wavelength"]
    ai = p["alpha_i"]
    grid = pixel_grid(st, p)
    kk = k[:, None, None]
    qx = kk * (torch.cos(ai)[:, None, None] - grid.ux)
    qy = -kk * grid.uy
    norm = (p["intensity"] / torch.sin(ai))[:, None, None] * grid.weight
    total = torch.zeros_like(qx)
    if st.particle_layer is not None:
        total = total + _particle_scattering(st, p, k, ai, grid, qx, qy)
    if st.rough:
        from deepgisas.physics.roughness import diffuse_roughness

        total = total + diffuse_roughness(p, k, ai, grid, qx, qy)
    return apply_masks(norm * total, st.roi, st.masks)


def _particle_scattering(st: Structure, p: dict[str, Tensor], k: Tensor, ai: Tensor,
                         grid: PixelGrid, qx: Tensor, qy: Tensor) -> Tensor:
    spec = SHAPES[st.shape_kind]
    sizes, wts = _members(st, p)  # [B, M]
    heights = spec.height(sizes)
    volumes = spec.volume(sizes)
    h_slice = heights.max(-1).values
    rho = structure_density(st, p)
    coverage = p["coverage"].sum(-1) if st.interference == "hexagonal_lattice" else 1.0
    fraction = coverage * rho * (wts * volumes).sum(-1) / h_slice
    n2p = p["n2_particle"]
    n2s, ds, ss, js = _sliced_stack(st, p, h_slice, fraction, n2p)
    # incoming: [B, 1, 1, S]; outgoing: [B, H, W, S]
    kz_in = layer_kz(n2s, k, (torch.cos(ai) ** 2)[:, None, None])
    t_in, r_in = amplitudes(kz_in, ds, ss)
    cos2_f = (grid.ux**2 + grid.uy**2).expand_as(qx)
    kz_out = layer_kz(n2s, k, cos2_f)
    t_out, r_out = amplitudes(kz_out, ds, ss)
    kzi, ti, ri = kz_in[..., js], t_in[..., js], r_in[..., js]
    kzo, to, ro = kz_out[..., js], t_out[..., js], r_out[..., js]
    contrast = (k * k / (4.0 * math.pi))[:, None, None] * (n2p - p["n2"][:, st.particle_layer])[
        :, None, None]
    # member axis: [B, M, H, W]
    if st.placement == "deposit":
        z0 = -h_slice[:, None].expand_as(heights)
    else:
        z0 = -heights
    szs = {n: v[:, :, None, None] for n, v in sizes.items()}
    z0 = z0[:, :, None, None]
    qx4, qy4 = qx[:, None], qy[:, None]
    terms = ((ti * to, -kzi - kzo), (ri * to, kzi - kzo), (ti * ro, -kzi + kzo),
             (ri * ro, kzi + kzo))
    amp = torch.zeros((), dtype=kzo.dtype, device=kzo.device)
    for coef, qz in terms:
        qz4 = qz[:, None]
        amp = amp + coef[:, None] * spec.kernel(qx4, qy4, qz4, szs) * torch.exp(1j * qz4 * z0)
    amp = amp * contrast[:, None]  # F_DWBA per member, [B, M, H, W]
    w4 = wts[:, :, None, None]
    mean_abs2 = (w4 * amp.abs() ** 2).sum(1)
    if st.interference == "dilute":
        return rho[:, None, None] * mean_abs2
    if st.interference == "hexagonal_lattice":
        s = itf.hexagonal_lattice(qx, qy, p["lattice_a"], p["lattice_decay"], p["lattice_var"],
                                  p["xi"])
        cov = p["coverage"][:, :, None, None]
        coherent = (w4 * amp).sum(1).abs() ** 2
        weighted = (cov * (s - 1.0)).sum(1)
        return rho[:, None, None] * (coverage[:, None, None] * mean_abs2 + coherent * weighted)
    # radial paracrystal, size-spacing coupling approximation (decoupling when kappa = 0)
    qp = torch.sqrt(qx * qx + qy * qy)
    f = itf.radial_paracrystal_phase(qp, p["para_distance"][:, None, None],
                                     p["para_damping"][:, None, None],
                                     p["para_omega"][:, None, None])
    rk = _radial_extension(st.shape_kind, sizes)
    rdev = (rk - (wts * rk).sum(-1, keepdim=True))[:, :, None, None]
    kap = p["para_kappa"][:, None, None, None]
    ph = torch.exp(1j * kap * qp[:, None] * rdev)
    ph2 = torch.exp(2j * kap * qp[:, None] * rdev)
    m = (w4 * ph * amp).sum(1) * (w4 * ph * amp.conj()).sum(1)
    denom = 1.0 - (w4 * ph2).sum(1) * f
    return rho[:, None, None] * (mean_abs2 + 2.0 * (m * f / denom).real)
