"""The GISAS kernel: a batch of experiments of one structure -> intensity [B, rows, cols].

``Structure`` is the static (hashable) part of an experiment: which kernels run and with which
tensor shapes. Everything continuous is a tensor in ``params`` with a leading batch dimension,
so the whole function is differentiable with respect to every continuous parameter.

    I = I0 * dOmega_eff / sin(alpha_i) * rho * [interference strategy over |F_DWBA|^2]

F_DWBA = Delta * sum of BornAgain's four terms in the particles' slice, with Delta = (k^2 / 4 pi)
(n_p^2 - n_layer^2) against the un-averaged layer material. With average materials on, the
particles' height range is its own slice with n^2 = n_layer^2 + f (n_p^2 - n_layer^2),
f = rho * <V> / H. See docs/physics.md for sources.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from deepgisas.physics.cmath import abs2
from deepgisas.physics.crossing import Part, crossing_stack, empty_as
from deepgisas.physics.detector import (
    PixelGrid,
    apply_masks,
    rectangular_grid,
    row_exit_sines,
    spherical_grid,
)
from deepgisas.physics.dwba import dwba, dwba_sums, lerp, section_dwba
from deepgisas.physics.formfactors import SHAPES, Shape
from deepgisas.physics.instrument import detector_resolution, spread_members
from deepgisas.physics.multilayer import (
    Parts,
    amplitude_lists,
    amplitude_parts_in_layer,
    exit_amplitude_lists,
    kz_list,
)
from deepgisas.physics.structures import STRUCTURES, Amplitudes


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
    slice_above: bool = False  # a layer part above the particles' slice (thickness > 0)
    slice_below: bool = False  # a layer part below it
    core_kind: str | None = None  # the core's shape of core-shell particles
    core_centred: bool = True  # the core centred in the shell's height (else tensor core_z)
    crossing: tuple[tuple[int, bool, bool], ...] = ()  # the layers of particles that cross
    # interfaces, each with a part of the layer left above and below (physics.crossing)
    phi_i: bool = False  # an azimuthal incidence angle (tensor "phi_i")
    beam_spread: tuple[tuple[str, int, float], ...] = ()  # (name, samples, width) each
    resolution: bool = False  # a Gaussian detector resolution (tensor "resolution_sigma")
    subset: tuple[int, int, int] | None = None  # (rows, cols, f) of a spherical detector of
    # which the grid is every f-th pixel (offset f // 2) of every f-th row
    mixed: bool = False  # float64, with the sphere-like DWBA terms in float32 (dwba.lowered)

    @property
    def n_beam(self) -> int:
        """Members per experiment of the beam spreads (1 without)."""
        return math.prod(n for _, n, _ in self.beam_spread)


def pixel_grid(st: Structure, p: dict[str, Tensor]) -> PixelGrid:
    """The pixels' directions and weights. A spherical detector's are computed in float64
    whatever the batch's dtype (a few operations per pixel): in float32 its solid angles, as
    differences of sines, and its row ends lose up to 1e-4 of a pixel's value."""
    rows, cols = st.shape
    if st.detector == "spherical":
        n_rows, n_cols, f = st.subset or (rows, cols, 1)
        dtype = p["phi_edges"].dtype
        wide = (torch.float64 if dtype == torch.float32 and p["phi_edges"].device.type != "mps"
                else dtype)
        g = spherical_grid(p["phi_edges"].to(wide), p["alpha_edges"].to(wide), n_rows, n_cols)
        o = f // 2
        return PixelGrid(*(t[:, o::f, o::f].to(dtype) for t in (g.ux, g.uy, g.uz, g.weight)))
    return rectangular_grid(rows, cols, p["pixel_mm"], p["distance_mm"], p["center_px"],
                            p.get("alpha_i_nominal", p["alpha_i"]), p.get("phi_i_nominal",
                                                                        p.get("phi_i")))


def pixel_steps(st: Structure, p: dict[str, Tensor]) -> Tensor:
    """[B, 2] bin steps (along the columns, along the rows): rad on a spherical detector, mm
    on a flat one."""
    if st.detector == "spherical":
        rows, cols, f = st.subset or (*st.shape, 1)
        return torch.stack([(p["phi_edges"][:, 1] - p["phi_edges"][:, 0]) * (f / cols),
                            (p["alpha_edges"][:, 1] - p["alpha_edges"][:, 0]) * (f / rows)], -1)
    return p["pixel_mm"][:, None].expand(-1, 2)


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


def _members(st: Structure, p: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Shape parameters per size member [B, M], their weights [B, M] and their size ratios to
    the description's shape [B, M] (lengths scale with it, angles do not)."""
    spec = SHAPES[st.shape_kind]
    names = [q.name for q in spec.params]
    base = {n: p[f"shape.{n}"] for n in names}
    if st.n_sizes == 1 and "size_sigma" not in p:
        ones = torch.ones_like(base[names[0]])[:, None]
        return {n: v.unsqueeze(-1) for n, v in base.items()}, ones, ones
    x, wts = size_samples(base[names[0]], p["size_sigma"], st.n_sizes, st.size_width)
    ratio = x / base[names[0]].unsqueeze(-1)
    return _scaled(spec, base, ratio), wts, ratio


def _scaled(spec: Shape, values: dict[str, Tensor], ratio: Tensor) -> dict[str, Tensor]:
    """Parameters [B] -> members [B, M]: the lengths times ``ratio`` [B, M]."""
    lengths = spec.lengths
    return {n: v.unsqueeze(-1) * ratio if n in lengths else v.unsqueeze(-1).expand_as(ratio)
            for n, v in values.items()}


def _core_members(st: Structure, p: dict[str, Tensor], sizes: dict[str, Tensor],
                  ratio: Tensor) -> tuple[dict[str, Tensor], Tensor]:
    """The core's parameters per size member [B, M] and its bottom above the shell's [B, M]."""
    assert st.core_kind is not None
    spec = SHAPES[st.core_kind]
    core = _scaled(spec, {q.name: p[f"core.{q.name}"] for q in spec.params}, ratio)
    if st.core_centred:
        lift = 0.5 * (SHAPES[st.shape_kind].height(sizes) - spec.height(core))
    else:
        lift = p["core_z"].unsqueeze(-1) * ratio
    return core, lift


def _sliced_stack(st: Structure, p: dict[str, Tensor], height: Tensor, fraction: Tensor,
                  n2p: Tensor) -> tuple[dict[str, Tensor], int]:
    """Insert the particles' slices (above, particles, below) into the layer stack.

    Returns the sliced stack (chi = n^2 - 1, thickness, sigma, hurst, corr: [B, S]) and the
    index of the particles' slice (its chi averaged when the option is on; the diffuse roughness
    term sees the averaged stack too, as BornAgain 25 does).

    Roughness, as in BornAgain 25: with average materials on, a layer below the ambient that
    holds particles is cut into slices, and every slice's top interface carries the layer's
    top roughness (the same spectrum, uncorrelated between interfaces): for the Névot-Croce
    factors and for the diffuse term. With the option off the slices all have the layer's
    material, so only the first carries the roughness (on the others it would change nothing:
    equal materials on both sides).
    """
    j = st.particle_layer
    assert j is not None
    z = p["particle_z"]
    zero, one = torch.zeros_like(z), torch.ones_like(z)
    d = p["thickness"]
    n2j = p["chi"][:, j]
    n2_slice = n2j + fraction * (n2p - n2j) if st.use_average_materials else n2j
    if st.placement == "deposit":
        above = zero if j == 0 else d[:, j] - z - height
        below = z
    else:
        above = -z
        below = zero if j == st.n_layers - 1 else d[:, j] + z - height
    keep_above = j == 0 or st.slice_above
    keep_below = j == st.n_layers - 1 or st.slice_below
    parts = ([(n2j, above) if j == 0 else empty_as(n2_slice, n2j, above)] if keep_above
             else []) + [(n2_slice, height)] + ([(n2j, below) if j == st.n_layers - 1 else
                                                 empty_as(n2_slice, n2j, below)]
                                                if keep_below else [])
    top = (p["sigma"][:, j], p["hurst"][:, j], p["corr_length"][:, j])
    n_rough = len(parts) if st.use_average_materials and j > 0 else 1
    roughness = [top] * n_rough + [(zero, one, one)] * (len(parts) - n_rough)
    inserted = {"chi": [q[0] for q in parts], "thickness": [q[1] for q in parts],
                "sigma": [r[0] for r in roughness], "hurst": [r[1] for r in roughness],
                "corr_length": [r[2] for r in roughness]}
    stack = {name: torch.cat([p[name][:, :j], torch.stack(vals, -1), p[name][:, j + 1:]], -1)
             for name, vals in inserted.items()}
    return stack, j + (1 if keep_above else 0)


@dataclass
class _Batch:
    """Everything per experiment (no pixel axis) that the pixel blocks share."""

    k: Tensor  # [B] 1/nm
    stack: dict[str, Tensor]  # slice stack, [B, S]
    srms: Tensor  # [B, S] rms roughness used by the Fresnel factors
    incoming: tuple[list[Tensor], list[Tensor], list[Tensor]]  # kz, T, R: S x [B, 1, 1]
    js: int = 0  # the particles' slice
    sizes: dict[str, Tensor] | None = None  # [B, M]
    wts: Tensor | None = None  # [B, M]
    h_slice: Tensor | None = None  # [B]
    rho: Tensor | None = None  # [B]
    coverage: Tensor | float = 1.0
    prepared: Any = None  # the interference type's shared work (StructureType.prepare)
    core: tuple[dict[str, Tensor], Tensor] | None = None  # core sizes [B, M], bottom lift [B, M]
    parts: list[Part] | None = None  # the parts of particles that cross interfaces


BLOCK_BYTES = 1 << 21  # bytes of a real pixel x member tensor per block of rows


def _prepare(st: Structure, p: dict[str, Tensor]) -> _Batch:
    from deepgisas.physics.roughness import sigma_rms

    k = 2.0 * math.pi / p["wavelength"]
    stack = {name: p[name] for name in ("chi", "thickness", "sigma", "hurst", "corr_length")}
    extra: dict = {}
    if st.particle_layer is not None:
        spec, kind = SHAPES[st.shape_kind], STRUCTURES[st.interference]
        sizes, wts, ratio = _members(st, p)  # [B, M]
        h_slice = spec.height(sizes).max(-1).values
        rho = kind.density(p)
        coverage = kind.coverage(p)
        volume = (wts * spec.volume(sizes)).sum(-1)
        fraction = coverage * rho * volume / h_slice
        chi = p["chi_particle"]
        core = None
        if st.core_kind is not None:
            core = _core_members(st, p, sizes, ratio)
            inner = (wts * SHAPES[st.core_kind].volume(core[0])).sum(-1)
            chi = chi + (p["chi_core"] - chi) * (inner / volume)  # the particles' mean n^2 - 1
        parts = None
        if st.crossing:
            stack, parts = crossing_stack(st.crossing, st.n_layers, st.placement,
                                          st.particle_layer, st.use_average_materials, p, spec,
                                          sizes, wts, coverage * rho, chi)
            js = parts[0].slice
        else:
            stack, js = _sliced_stack(st, p, h_slice, fraction, chi)
        extra = dict(js=js, sizes=sizes, wts=wts, h_slice=h_slice, rho=rho, coverage=coverage,
                     prepared=kind.prepare(p), core=core, parts=parts)
    srms = sigma_rms(stack["sigma"], stack["hurst"], stack["corr_length"])
    kz_in = kz_list(stack["chi"], k, (torch.sin(p["alpha_i"]) ** 2)[:, None, None])
    t_in, r_in = amplitude_lists(kz_in, stack["thickness"], srms)
    return _Batch(k, stack, srms, (kz_in, t_in, r_in), **extra)


def mirror_symmetric(st: Structure, p: dict[str, Tensor]) -> bool:
    """Whether every pattern of the batch is mirror-symmetric in phi_f (column c equals column
    cols - 1 - c): a spherical detector whose phi edges are symmetric about 0, and an
    isotropic interference (dilute or radial paracrystal). Every shape is even in q_y,
    roughness depends on |q_par| only, and the other pixel quantities on phi_f^2 (the
    detector's u_y is odd in phi_c, u_x and u_z even); the hexagonal lattice's domains break
    the symmetry (``StructureType.isotropic``). A subset of the pixels (``st.subset``) is not."""
    if st.detector != "spherical" or st.subset or not STRUCTURES[st.interference].isotropic:
        return False
    if st.phi_i and bool((p["phi_i"] != 0).any()):
        return False
    lo, hi = p["phi_edges"][:, 0], p["phi_edges"][:, 1]
    return bool(((lo + hi).abs() <= 1e-12 * (hi - lo).abs()).all())


def simulate_tensors(st: Structure, p: dict[str, Tensor]) -> Tensor:
    """Simulate a batch of experiments of structure ``st``; returns [B, rows, cols] intensity.

    ``p`` (all [B, ...], lengths nm, angles rad) is made by ``deepgisas.compile``. Masked
    pixels and pixels outside the region of interest are 0. A mirror-symmetric batch
    (:func:`mirror_symmetric`) is simulated on the columns up to the centre only, and the
    others are their mirror images: half the work. With beam spreads (``st.beam_spread``)
    each experiment is the weighted sum of its spread members, simulated as extra batch
    members; with ``st.resolution`` the masked image is convolved with the detector's
    resolution (:mod:`deepgisas.physics.instrument`). The per-experiment work is done
    once; the pixels are then processed in blocks of rows such that a real [B, M, rows, cols]
    tensor has about ``BLOCK_BYTES``: the many elementwise temporaries stay near cache size
    (and reuse mapped memory when the application opts in,
    :mod:`deepgisas.physics.memory`), and the blocks' own small
    tensors (per row and member) stay few (the size was measured: CHANGELOG.md).
    """
    image = apply_masks(_unmasked(st, p), st.roi, st.masks)
    if not st.resolution:
        return image
    image = detector_resolution(image, p["resolution_sigma"], pixel_steps(st, p))
    return apply_masks(image, st.roi, st.masks)


def _unmasked(st: Structure, p: dict[str, Tensor]) -> Tensor:
    """:func:`simulate_tensors` before masks and detector resolution: the beam spreads'
    members (:func:`spread_members`) simulated as one batch and summed with their weights."""
    rows, cols = st.shape
    if st.beam_spread:
        q, weights = spread_members(st.beam_spread, p)
        each = _unmasked(replace(st, beam_spread=()), q)
        return (each.reshape(*weights.shape, rows, cols) * weights[:, :, None, None]).sum(1)
    if cols > 1 and mirror_symmetric(st, p):
        h = (cols + 1) // 2  # the centre column too, when cols is odd
        lo, hi = p["phi_edges"][:, 0], p["phi_edges"][:, 1]
        q = {**p, "phi_edges": torch.stack([lo, lo + (hi - lo) * (h / cols)], -1)}
        left = simulate_all_columns(replace(st, shape=(rows, h), roi=None, masks=()), q)
        return torch.cat([left, left[..., :cols - h].flip(-1)], -1)
    return simulate_all_columns(st, p)


def simulate_all_columns(st: Structure, p: dict[str, Tensor]) -> Tensor:
    """:func:`simulate_tensors` on every pixel of ``st``'s grid, before masks."""
    pre = _prepare(st, p)
    grid = pixel_grid(st, p)
    rows, cols = st.shape
    bsz = pre.k.shape[0]
    members = 1 if pre.wts is None else pre.wts.shape[-1]
    step = max(1, BLOCK_BYTES // (pre.k.element_size() * bsz * cols * members))
    full = (bsz, rows, cols)
    ux, uy, uz, weight = (t.expand(full) for t in (grid.ux, grid.uy, grid.uz, grid.weight))
    sines, lin = row_exit_sines(uz)
    blocks = [_block(st, p, pre, ux[:, r:r + step], uy[:, r:r + step], uz[:, r:r + step],
                     weight[:, r:r + step], sines[:, r:r + step],
                     None if lin is None else lin[:, r:r + step])
              for r in range(0, rows, step)]
    return torch.cat(blocks, 1)


def _block(st: Structure, p: dict[str, Tensor], pre: _Batch, ux: Tensor, uy: Tensor, uz: Tensor,
           weight: Tensor, sines: Tensor, lin: Tensor | None) -> Tensor:
    """Intensity of a block of pixels with directions ux, uy, uz and weights, [B, h, W] each;
    the exit waves are computed at the sines ``sines`` and interpolated with ``lin``
    (:func:`deepgisas.physics.detector.row_exit_sines`: on a spherical detector at the rows'
    ends, the exit waves and their phases then computed per row)."""
    k, ai = pre.k, p["alpha_i"]
    kk = k[:, None, None]
    # q_x = k (cos ai - u_x) = k ((1 - u_x) - 2 sin^2(ai / 2)), with 1 - u_x = (u_y^2 + u_z^2) /
    # (1 + u_x): no cancellation against 1 (in float32 it cost 1e-4 of q_x near phi_f = 0)
    half_ai = torch.sin(0.5 * ai)[:, None, None]
    qx = kk * ((uy * uy + uz * uz) / (1.0 + ux) - 2.0 * half_ai * half_ai)
    qy = -kk * uy
    if st.phi_i:  # k_i = k (cos ai cos phi_i, cos ai sin phi_i, -sin ai)
        phi = p["phi_i"]
        cos_ai = torch.cos(ai)[:, None, None]
        half_phi = torch.sin(0.5 * phi)[:, None, None]
        qx = qx - kk * cos_ai * 2.0 * half_phi * half_phi  # cos ai cos phi_i - u_x
        qy = qy + kk * cos_ai * torch.sin(phi)[:, None, None]
    norm = (p["intensity"] / torch.sin(ai))[:, None, None] * weight
    total = torch.zeros_like(qx)
    if st.rough:
        kz_out, t_out, r_out = exit_amplitude_lists(pre.stack["chi"], k, sines,
                                                    pre.stack["thickness"], pre.srms)
    if st.particle_layer is not None:
        def waves_in(js: int) -> tuple[tuple[Tensor, ...], tuple[Parts, ...]]:
            incoming = tuple(x[js] for x in pre.incoming)  # [B, 1, 1]
            if st.rough:
                return incoming, tuple((x[js].real, x[js].imag) for x in (kz_out, t_out, r_out))
            return incoming, amplitude_parts_in_layer(pre.stack["chi"], k,
                                                      pre.stack["thickness"], pre.srms, js, sines)

        if pre.parts is None:
            total = total + _particle_scattering(st, p, pre, *waves_in(pre.js), qx, qy, lin)
        else:
            total = total + _crossing_scattering(st, p, pre, waves_in, qx, qy, lin)
    if st.rough:
        from deepgisas.physics.roughness import diffuse_roughness

        stack, shape = pre.stack, qx.shape

        def st_(xs: list[Tensor]) -> Tensor:
            return torch.stack(torch.broadcast_tensors(*xs), -1)

        def out(xs: list[Tensor]) -> Tensor:
            return torch.stack([lerp(x, lin).expand(shape) for x in xs], -1)

        total = total + diffuse_roughness(
            stack["chi"], stack["thickness"], stack["sigma"], stack["hurst"],
            stack["corr_length"], k, st_(pre.incoming[0]), st_(pre.incoming[1]),
            st_(pre.incoming[2]), out(kz_out), out(t_out), out(r_out), qx, qy)
    return norm * total


def _bottoms(st: Structure, sizes: dict[str, Tensor], h_slice: Tensor) -> Tensor:
    """The particles' bottom in the frame of their slice (whose top is z = 0), [B, M] nm."""
    heights = SHAPES[st.shape_kind].height(sizes)
    return -h_slice[:, None].expand_as(heights) if st.placement == "deposit" else -heights


def _crossing_scattering(st: Structure, p: dict[str, Tensor], pre: _Batch,
                         waves_in: Callable[[int], tuple[tuple[Tensor, ...], tuple[Parts, ...]]],
                         qx: Tensor, qy: Tensor, lin: Tensor | None) -> Tensor:
    """:func:`_particle_scattering` of particles that cross interfaces: the sum over their
    parts of each part's DWBA amplitude (its slice's waves, its z-range) times its contrast
    against its layer's material."""
    sizes, wts, rho, k, parts = pre.sizes, pre.wts, pre.rho, pre.k, pre.parts
    assert sizes is not None and wts is not None and rho is not None and parts is not None
    spec = SHAPES[st.shape_kind]
    factor = k * k / (4.0 * math.pi)
    amp = torch.zeros((), dtype=pre.stack["chi"].dtype, device=qx.device)
    for part in parts:
        incoming, outgoing = waves_in(part.slice)
        kzi, ti, ri = (x[:, None] for x in incoming)
        out = [(re[:, None], im[:, None]) for re, im in outgoing]
        contrast = factor * (p["chi_particle"] - p["chi"][:, part.layer])
        amp = amp + contrast[:, None, None, None] * section_dwba(
            spec, (kzi, ti, ri), out, sizes, part.z0, qx, qy, span=(part.lo, part.hi),
            w=None if lin is None else lin[:, None])
    a = Amplitudes(qx, qy, amp, wts, spec.radial(sizes))
    return rho[:, None, None] * STRUCTURES[st.interference].intensity(p, pre.prepared, a)


def _particle_scattering(st: Structure, p: dict[str, Tensor], pre: _Batch,
                         incoming: tuple[Tensor, ...], outgoing: tuple[Parts, ...], qx: Tensor,
                         qy: Tensor, lin: Tensor | None) -> Tensor:
    """rho x the interference strategy over the particles' DWBA amplitudes, [B, h, W].

    incoming, outgoing: (kz, T, R) in the particles' slice, [B, 1, 1] complex and (Re, Im)
    pairs [B, h, W] (or per row, or at the rows' ends with weights ``lin``: :func:`dwba`)."""
    sizes, wts, rho, k = pre.sizes, pre.wts, pre.rho, pre.k
    assert sizes is not None and wts is not None and pre.h_slice is not None and rho is not None
    spec, kind = SHAPES[st.shape_kind], STRUCTURES[st.interference]
    z0 = _bottoms(st, sizes, pre.h_slice)
    factor = k * k / (4.0 * math.pi)
    contrast = factor * (p["chi_particle"] - p["chi"][:, st.particle_layer])
    scale = (rho * abs2(contrast))[:, None, None]  # rho |contrast|^2, [B, 1, 1]
    sums = None if pre.core is not None or kind.needs_members(p) else \
        dwba_sums(spec, incoming, outgoing, sizes, z0, qx, qy, wts, lin, st.mixed)
    if sums is not None:  # the members' averages only (fused: the members stay in the loop)
        a = Amplitudes(qx, qy, None, wts, spec.radial(sizes), sums)
        return scale * kind.intensity(p, pre.prepared, a)
    amp = dwba(spec, incoming, outgoing, sizes, z0, qx, qy, lin, st.mixed)  # F_DWBA / contrast
    if pre.core is not None:  # shell contrast times the shell, plus core-minus-shell's core
        assert st.core_kind is not None
        core, lift = pre.core
        inner = dwba(SHAPES[st.core_kind], incoming, outgoing, core, z0 + lift, qx, qy, lin)
        step = factor * (p["chi_core"] - p["chi_particle"])
        amp = contrast[:, None, None, None] * amp + step[:, None, None, None] * inner
        scale = rho[:, None, None]
    a = Amplitudes(qx, qy, amp, wts, spec.radial(sizes))
    return scale * kind.intensity(p, pre.prepared, a)
