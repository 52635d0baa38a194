"""The DWBA amplitudes of particles in their slice: the four terms (incoming and outgoing
waves, each transmitted or reflected) of every size member, without the contrast factor.

Three evaluations of the same sum, chosen by the shape: shapes whose form factor is
E(qz^2) exp(i qz c) pair the terms (:func:`dwba`), sphere-like ones do it in real arithmetic
for all size members at once (``_dwba_pairs``), and shapes given by their cross-sections share
one z-quadrature between the terms (``section_dwba``). For an interference that needs only
the size distribution's averages <|F|^2> and <F>, :func:`dwba_sums` gives those of the
sphere-like shapes directly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from deepgisas.physics import fused
from deepgisas.physics.cmath import abs2, expi, expi_ladder, expi_pair
from deepgisas.physics.formfactors import Shape
from deepgisas.physics.multilayer import Parts
from deepgisas.physics.shape import nodes_for, quadrature
from deepgisas.physics.special import sphere_amplitude_direct, sphere_amplitude_ladder


def lerp(v: Tensor, w: Tensor | None) -> Tensor:
    """Values at the two ends of every row, [..., h, 2], linearly at the row's pixels with
    weights ``w`` (0 at the first end, 1 at the second; broadcastable to [..., h, W]); ``v``
    itself when ``w`` is None."""
    if w is None:
        return v
    a = v[..., :1]
    if a.is_complex():
        return a + w * (v[..., 1:] - a)
    return torch.addcmul(a, w, v[..., 1:] - a)


def dwba(spec: Shape, incoming: tuple[Tensor, ...], outgoing: tuple[Parts, ...],
         sizes: dict[str, Tensor], z0: Tensor, qx: Tensor, qy: Tensor,
         w: Tensor | None = None, float32: bool = False) -> Tensor:
    """The four DWBA terms of every size member of shape ``spec`` with bottom ``z0`` [B, M] in
    the particles' slice, without the contrast factor: [B, M, H, W] complex (nm^3).

    outgoing: the exit wave's (kz, T, R) as (Re, Im) pairs [B, h, W], or [B, h, 1] (one per
    row), or [B, h, 2] at the two ends of every row with ``w`` [B, h, W] the pixels' weights
    between them (:func:`deepgisas.physics.detector.row_exit_sines`): the factors that depend
    on the exit wave alone are then computed at the ends and interpolated linearly (:func:`lerp`).

    For shapes with F = E(qz^2) exp(i qz c) the terms pair up: qz = -+(kzi + kzo) share
    E(Q+^2), qz = +-(kzi - kzo) share E(Q-^2), and every phase factor is a product of
    exp(+-i kzi h) and exp(+-i kzo h), h = c + z0 (z0 the particle bottom in the slice frame).

    ``float32``: the paired terms of a float64 batch computed in float32 (mixed precision:
    :func:`lowered`); other shapes ignore it.
    """
    paired = _paired_args(spec, incoming, outgoing, sizes, z0, qx, qy, w)
    if paired is not None:
        return (_dwba_pairs(*paired) if not float32 else
                _dwba_pairs(*lowered(paired)).to(torch.complex128))
    szs = {n: v[:, :, None, None] for n, v in sizes.items()}
    kzi, ti, ri = (x[:, None] for x in incoming)  # [B, 1, 1, 1]
    parts = [(re[:, None], im[:, None]) for re, im in outgoing]  # [B, 1, h, W | 1 | 2]
    w4 = None if w is None else w[:, None]  # [B, 1, h, W]
    h = (spec.center(sizes) + z0)[:, :, None, None] if spec.center is not None else None
    if spec.even is None and spec.section is not None:
        return section_dwba(spec, (kzi, ti, ri), parts, sizes, z0, qx, qy, w=w4)
    kzo, to, ro = (torch.complex(re, im) for re, im in parts)
    qx4, qy4 = qx[:, None], qy[:, None]
    if spec.even is None or spec.center is None:
        kzo, to, ro = (lerp(x, w4) for x in (kzo, to, ro))
        z4 = z0[:, :, None, None]
        terms = ((ti * to, -kzi - kzo), (ri * to, kzi - kzo), (ti * ro, -kzi + kzo),
                 (ri * ro, kzi + kzo))
        amp = torch.zeros((), dtype=kzo.dtype, device=kzo.device)
        for coef, qz in terms:
            amp = amp + coef * spec.kernel(qx4, qy4, qz, szs) * expi(qz * z4)
        return amp
    assert h is not None  # [B, M, 1, 1]
    qp2 = qx4 * qx4 + qy4 * qy4
    kzp = lerp(kzo, w4)
    kzo2, cross, kzi2 = kzp * kzp, 2.0 * kzi * kzp, kzi * kzi
    e_plus = spec.even(qx4, qy4, qp2, kzi2 + kzo2 + cross, szs)
    e_minus = spec.even(qx4, qy4, qp2, kzi2 + kzo2 - cross, szs)
    a_p, a_m = expi_pair(kzi * h)
    p_p, p_m = expi_pair(kzo * h)
    u1, u2 = ti * a_m, ri * a_p  # [B, M, 1, 1]
    x, y = to * p_m, ro * p_p  # [B, M, h, W | 1 | 2]
    return e_plus * lerp(u1 * x + u2 * y, w4) + e_minus * lerp(u2 * x + u1 * y, w4)


def section_dwba(spec: Shape, incoming: tuple[Tensor, ...], outgoing: list[Parts],
                 sizes: dict[str, Tensor], z0: Tensor, qx: Tensor, qy: Tensor,
                 span: tuple[Tensor, Tensor] | None = None, w: Tensor | None = None) -> Tensor:
    """The DWBA terms of :func:`dwba` by the z-quadrature of the shape's cross-sections
    (``spec.section``): sum_n w_n (hi - lo) S_n U_n X_n with S_n the section's transform at
    height z_n = lo + t_n (hi - lo) above the bottom, zeta_n = z0 + z_n its height in the slice,
    U_n = T_in e^{-i kzi zeta_n} + R_in e^{i kzi zeta_n} and X_n likewise outgoing (the four
    terms' phases factorise into an incoming and an outgoing part). ``span`` = (lo, hi) [B, M]
    limits the integral to a part of the particle (one layer's, when it crosses interfaces);
    None is the whole particle, (0, height).
    incoming [B, 1, 1, 1] complex, outgoing (Re, Im) pairs [B, 1, h, W] (or [B, 1, h, 1], or
    [B, 1, h, 2] at the rows' ends with weights ``w`` [B, 1, h, W]: :func:`dwba`), sizes and z0
    [B, M], qx, qy [B, h, W]. Returns [B, M, h, W] complex."""
    assert spec.section is not None
    kzi, ti, ri = incoming
    kzo, to, ro = (torch.complex(re, im) for re, im in outgoing)
    szs = {n: v[:, :, None, None] for n, v in sizes.items()}
    if span is None:
        lo, height = torch.zeros_like(z0)[:, :, None, None], spec.height(szs)  # [B, M, 1, 1]
    else:
        lo = span[0][:, :, None, None]
        height = (span[1] - span[0])[:, :, None, None]
    bottom = z0[:, :, None, None]
    qx4, qy4 = qx[:, None], qy[:, None]
    lengths = [sizes[n] for n in spec.lengths]
    reach = float((kzi.abs().amax() + kzo.abs().amax()) * height.amax())
    lateral = float(torch.sqrt(qx * qx + qy * qy).amax() * torch.stack(lengths).amax())
    t, weights = quadrature(qx, nodes_for(max(reach, lateral)))
    # sums over the nodes of lateral x wave, in real arithmetic (the sections' transforms are
    # real): (Re, Im), and with ``w`` also those of the second end's wave minus the first's
    sums: list[Tensor] = []
    for tn, wn in zip(t, weights, strict=True):
        z = lo + height * tn
        zeta = bottom + z
        a_p, a_m = expi_pair(kzi * zeta)  # [B, M, 1, 1]
        b_p, b_m = expi_pair(kzo * zeta)  # [B, M, h, W | 1 | 2]
        lateral = (wn * height) * spec.section(qx4, qy4, szs, z)  # [B, M, h, W] real
        wave = (ti * a_m + ri * a_p) * (to * b_m + ro * b_p)
        waves = [wave] if w is None else [wave[..., :1], wave[..., 1:] - wave[..., :1]]
        parts = [x for v in waves for x in (v.real, v.imag)]
        sums = [torch.addcmul(acc, lateral, v) for acc, v in zip(sums, parts, strict=True)] \
            if sums else [lateral * v for v in parts]
    if w is not None:
        sums = [torch.addcmul(sums[0], w, sums[2]), torch.addcmul(sums[1], w, sums[3])]
    return torch.complex(sums[0], sums[1])


def _cmul(ar: Tensor, ai: Tensor, br: Tensor, bi: Tensor) -> tuple[Tensor, Tensor]:
    """(a b) on real and imaginary parts."""
    return torch.addcmul(ar * br, ai, bi, value=-1.0), torch.addcmul(ar * bi, ai, br)


def _dwba_pairs_direct(spec: Shape, incoming: tuple[Tensor, ...], outgoing: list[Parts],
                       sizes: dict[str, Tensor], h: Tensor, qp2: Tensor,
                       w: Tensor | None = None) -> Tensor:
    """:func:`_dwba_pairs` for one fused loop: every member's phases evaluated directly
    (:func:`~deepgisas.physics.special.sphere_amplitude_direct`), no data-dependent branch."""
    return torch.complex(*_pairs(spec, incoming, outgoing, sizes, h, qp2, w, direct=True))


@fused.kernel(fused_form=_dwba_pairs_direct)
def _dwba_pairs(spec: Shape, incoming: tuple[Tensor, ...], outgoing: list[Parts],
                sizes: dict[str, Tensor], h: Tensor, qp2: Tensor,
                w: Tensor | None = None) -> Tensor:
    """The paired DWBA terms of :func:`dwba` for a sphere-like shape (``spec.sphere_arg``),
    with every pixel-sized tensor real (complex128 kernels are unvectorised on CPU). incoming
    [B, 1, 1, 1] complex, outgoing (Re, Im) pairs [B, 1, h, W] (or [B, 1, h, 1], or
    [B, 1, h, 2] with weights ``w`` [B, 1, h, W]: :func:`dwba`), sizes [B, M], h [B, M, 1, 1].
    Returns [B, M, h, W] complex.

    The size members (:func:`_members`) are copies of the first scaled by factors linear in the
    member index, so are their phase heights h: the form factors and the outgoing phases of
    all members come from pixel-sized work and products (:func:`sphere_amplitude_ladder`,
    :func:`expi_ladder`)."""
    return torch.complex(*_pairs(spec, incoming, outgoing, sizes, h, qp2, w, direct=False))


def dwba_sums(spec: Shape, incoming: tuple[Tensor, ...], outgoing: tuple[Parts, ...],
              sizes: dict[str, Tensor], z0: Tensor, qx: Tensor, qy: Tensor, weights: Tensor,
              w: Tensor | None = None, float32: bool = False) -> tuple[Tensor, Tensor] | None:
    """The size average of :func:`dwba`'s amplitudes F_m with ``weights`` [B, M]: the diffuse
    <|F|^2> [B, H, W] real and the coherent <F> [B, H, W] complex, for a sphere-like shape
    (``spec.sphere_arg``; None for other shapes, whose members :func:`dwba` gives). Fused, the
    members are summed in the loop that makes them and never reach memory. ``float32``: the
    members and their sums computed in float32 for a float64 batch (:func:`lowered`)."""
    paired = _paired_args(spec, incoming, outgoing, sizes, z0, qx, qy, w)
    if paired is None:
        return None
    args = (*paired, weights[:, :, None, None])
    diffuse, mean_re, mean_im = (_member_sums(*args) if not float32 else
                                 (x.to(qx.dtype) for x in _member_sums(*lowered(args))))
    return diffuse, torch.complex(mean_re, mean_im)


def lowered(args: Any) -> Any:
    """``args`` (tensors in tuples, lists and dicts) with float64 tensors in float32 and
    complex128 in complex64: mixed precision. The sphere-like DWBA terms (the bulk of a
    simulation: every member at every pixel) then run in float32, while the waves, phases
    and interference around them stay float64; a film of 15 size members then agrees with
    float64 to 6e-6 relative L2, where all float32 gives 3.5e-5
    (tests/physics/test_precision.py)."""
    if isinstance(args, Tensor):
        return (args.to(torch.complex64) if args.dtype == torch.complex128 else
                args.float() if args.dtype == torch.float64 else args)
    if isinstance(args, (tuple, list)):
        return type(args)(lowered(a) for a in args)
    if isinstance(args, dict):
        return {k: lowered(v) for k, v in args.items()}
    return args


def _paired_args(spec: Shape, incoming: tuple[Tensor, ...], outgoing: tuple[Parts, ...],
                 sizes: dict[str, Tensor], z0: Tensor, qx: Tensor, qy: Tensor,
                 w: Tensor | None) -> tuple[Any, ...] | None:
    """The arguments of :func:`_dwba_pairs` (broadcast over the members) for a sphere-like
    shape, None for the others."""
    if spec.sphere_arg is None or spec.center is None:
        return None
    kzi, ti, ri = (x[:, None] for x in incoming)  # [B, 1, 1, 1]
    parts = [(re[:, None], im[:, None]) for re, im in outgoing]  # [B, 1, h, W | 1 | 2]
    h = (spec.center(sizes) + z0)[:, :, None, None]  # [B, M, 1, 1]
    qp2 = (qx * qx + qy * qy)[:, None]
    return spec, (kzi, ti, ri), parts, sizes, h, qp2, None if w is None else w[:, None]


def _member_sums_direct(spec: Shape, incoming: tuple[Tensor, ...], outgoing: list[Parts],
                        sizes: dict[str, Tensor], h: Tensor, qp2: Tensor, w: Tensor | None,
                        w4: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_member_sums` for one fused loop, in real arithmetic (:func:`_dwba_pairs_direct`):
    the members are summed where they are made, so no [B, M, h, W] tensor reaches memory."""
    re, im = _pairs(spec, incoming, outgoing, sizes, h, qp2, w, direct=True)
    wr, wi = w4 * re, w4 * im
    return torch.addcmul(wr * re, wi, im).sum(1), wr.sum(1), wi.sum(1)


@fused.kernel(fused_form=_member_sums_direct)
def _member_sums(spec: Shape, incoming: tuple[Tensor, ...], outgoing: list[Parts],
                 sizes: dict[str, Tensor], h: Tensor, qp2: Tensor, w: Tensor | None,
                 w4: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """<|F|^2>, Re <F> and Im <F> over the members of :func:`_dwba_pairs` with weights ``w4``
    [B, M, 1, 1], each [B, h, W]."""
    amp = _dwba_pairs(spec, incoming, outgoing, sizes, h, qp2, w)
    mean = (w4 * amp).sum(1)
    return (w4 * abs2(amp)).sum(1), mean.real, mean.imag


def _pairs(spec: Shape, incoming: tuple[Tensor, ...], outgoing: list[Parts],
           sizes: dict[str, Tensor], h: Tensor, qp2: Tensor, w: Tensor | None,
           direct: bool) -> tuple[Tensor, Tensor]:
    """Re and Im of :func:`_dwba_pairs`, by the ladder or (``direct``) its fused form."""
    kzi, ti, ri = incoming
    (kr, ki), (to_re, to_im), (ro_re, ro_im) = outgoing
    ir, ii = kzi.real, kzi.imag
    first = {n: v[:, :1, None, None] for n, v in sizes.items()}
    size = sizes[spec.size_param]
    t = (size / size[:, :1])[:, :, None, None]  # [B, M, 1, 1]
    vol = spec.volume(first)

    def square(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        return torch.addcmul(a * a, b, b, value=-1.0), 2.0 * a * b

    def even(q2: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        assert spec.sphere_arg is not None
        amplitude = sphere_amplitude_direct if direct else sphere_amplitude_ladder
        return amplitude(*spec.sphere_arg(qp2, *q2, first), t, vol)

    # E(Q+-^2), Q+- = kzi +- kzo; with ``w`` Q^2 is interpolated between the rows' ends (its
    # error w (1 - w) (kzo_b - kzo_a)^2 is below rounding)
    def q2(sign: float) -> tuple[Tensor, Tensor]:
        re, im = square(ir + sign * kr, ii + sign * ki)
        return lerp(re, w), lerp(im, w)

    ep_re, ep_im = even(q2(1.0))  # E(Q+^2)
    em_re, em_im = even(q2(-1.0))  # E(Q-^2)
    # X = T_out exp(-i kzo h), Y = R_out exp(+i kzo h)
    if direct:
        c, s, e = torch.cos(h * kr), torch.sin(h * kr), torch.exp(-h * ki)
    else:
        c, s, e = expi_ladder(kr, ki, h)
    ei = torch.reciprocal(e)
    x_re = torch.addcmul(to_re * c, to_im, s) * ei
    x_im = torch.addcmul(to_im * c, to_re, s, value=-1.0) * ei
    y_re = torch.addcmul(ro_re * c, ro_im, s, value=-1.0) * e
    y_im = torch.addcmul(ro_im * c, ro_re, s) * e
    # E+ (u1 X + u2 Y) + E- (u2 X + u1 Y) = (E+ + E-) V+ (X + Y) + (E+ - E-) V- (X - Y),
    # u1 = T_in exp(-i kzi h), u2 = R_in exp(i kzi h), V+- = (u1 +- u2) / 2
    a_p, a_m = expi_pair(kzi * h)  # [B, M, 1, 1]
    u1, u2 = ti * a_m, ri * a_p
    vp, vm = 0.5 * (u1 + u2), 0.5 * (u1 - u2)
    sp_re, sp_im = _cmul(vp.real, vp.imag, x_re + y_re, x_im + y_im)
    sm_re, sm_im = _cmul(vm.real, vm.imag, x_re - y_re, x_im - y_im)
    sp_re, sp_im, sm_re, sm_im = (lerp(v, w) for v in (sp_re, sp_im, sm_re, sm_im))
    plus_re, plus_im = _cmul(ep_re + em_re, ep_im + em_im, sp_re, sp_im)
    minus_re, minus_im = _cmul(ep_re - em_re, ep_im - em_im, sm_re, sm_im)
    return plus_re + minus_re, plus_im + minus_im
