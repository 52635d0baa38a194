"""Differentiable special functions that torch lacks, for real or complex tensors."""

from __future__ import annotations

import torch
from torch import Tensor

from deepgisas.physics.cmath import abs2, cdiv, csincos, csqrt, expi_ladder

_SMALL = 1e-3


class _BesselJ1(torch.autograd.Function):
    """J1(x) for real x, with the derivative J1'(x) = J0(x) - J1(x)/x."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.special.bessel_j1(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        small = x.abs() < _SMALL
        xs = torch.where(small, torch.ones_like(x), x)
        deriv = torch.special.bessel_j0(x) - torch.special.bessel_j1(xs) / xs
        deriv = torch.where(small, 0.5 - 3.0 * x * x / 16.0, deriv)
        return grad * deriv


def bessel_j1(x: Tensor) -> Tensor:
    """Bessel function of the first kind, order 1, for real ``x``; differentiable."""
    return _BesselJ1.apply(x)


def airy_amplitude(x: Tensor) -> Tensor:
    """2 J1(x) / x for real ``x``, equal to 1 at x = 0 (series below |x| < 1e-3)."""
    small = x.abs() < _SMALL
    xs = torch.where(small, torch.ones_like(x), x)
    full = 2.0 * bessel_j1(xs) / xs
    series = 1.0 - x * x / 8.0
    return torch.where(small, series, full)


def sinc(z: Tensor) -> Tensor:
    """sin(z)/z for real or complex ``z``, equal to 1 at z = 0."""
    small = z.abs() < _SMALL
    zs = torch.where(small, torch.ones_like(z), z)
    series = 1.0 - z * z / 6.0
    return torch.where(small, series, torch.sin(zs) / zs)


def sphere_amplitude(x: Tensor) -> Tensor:
    """3 (sin x - x cos x) / x^3 for real or complex ``x``, equal to 1 at x = 0.

    The normalised form factor of a sphere; below |x| < 0.05 a series is used (error < 1e-13).
    """
    small = x.abs() < 0.05
    xs = torch.where(small, torch.ones_like(x), x)
    full = 3.0 * (torch.sin(xs) - xs * torch.cos(xs)) / (xs * xs * xs)
    x2 = x * x
    series = 1.0 - x2 / 10.0 + x2 * x2 / 280.0
    return torch.where(small, series, full)



_SPHERE_SERIES = (1.0, -1.0 / 10.0, 1.0 / 280.0, -1.0 / 15120.0, 1.0 / 1330560.0)


def sinc_sq(y2: Tensor) -> Tensor:
    """sin(y)/y as a function of y^2 (complex ``y2``), in real arithmetic; even in y."""
    small = abs2(y2) < 1e-4
    ys2 = torch.where(small, torch.ones_like(y2), y2)
    y = csqrt(ys2)
    s, _ = csincos(y)
    series = 1.0 - y2 / 6.0 + y2 * y2 / 120.0 - y2 * y2 * y2 / 5040.0
    return torch.where(small, series, cdiv(s, y))


def sphere_amplitude_ladder(wr: Tensor, wi: Tensor, t: Tensor, scale: Tensor
                            ) -> tuple[Tensor, Tensor]:
    """scale t^3 f(t x) for f(x) = 3 (sin x - x cos x) / x^3 at x^2 = w = wr + i wi, on real
    tensors only: (Re, Im). w [B, 1, ...], a linear ladder of positive factors t [B, M, 1, ...]
    (see :func:`deepgisas.physics.cmath.expi_ladder`), scale broadcasting against w; returns
    [B, M, ...] each.

    This is V f for a sphere-like shape (argument and volume scaling with the size) at sizes t_j
    times those of w and scale = V: the members of a size distribution. Per pixel: the root x,
    3 / x^3 and the phases of :func:`~deepgisas.physics.cmath.expi_ladder`; per member only
    products, t^3 f(t x) = 3 (sin tx - tx cos tx) / x^3. f is even in x; x is either root of w:
    with m = |w|, r = sqrt((m + |wr|)/2), o = wi/(2r), x = r + i o for wr >= 0 and o + i r
    otherwise (no cancellation). Below |t x| < 1/4 a five-term series in t^2 w is used
    (truncation < 1e-11, no cancellation in float32), evaluated on the few pixels that need it
    only (near q = 0; blending it in everywhere took a third of the function's time). No complex
    tensors at all (complex128 kernels are unvectorised on CPU).
    """
    m2 = torch.addcmul(wr * wr, wi, wi)  # |w|^2
    t2 = t * t
    t4_lo, t4_hi = (t2 * t2).amin(1, keepdim=True), (t2 * t2).amax(1, keepdim=True)
    near = m2 * t4_lo < 0.0625**2  # |t x| < 1/4 for some member
    any_small = bool(near.any())
    if any_small:  # a pixel with every member small: any root will do (the series replaces it)
        all_small = m2 * t4_hi < 0.0625**2
        wr_s = torch.where(all_small, torch.ones_like(wr), wr)
        wi_s = torch.where(all_small, torch.zeros_like(wi), wi)
    else:
        wr_s, wi_s = wr, wi
    f_re, f_im = _closed_form(wr_s, wi_s, t, scale, ladder=True)
    if not any_small:
        return f_re, f_im
    # where |t x| < 1/4 the series replaces f, member by member; only on the pixels where some
    # member is that small (a few near q = 0), gathered: [K, M]
    found = torch.broadcast_to(near, (f_re.shape[0], 1, *f_re.shape[2:]))[:, 0].nonzero(
        as_tuple=True)
    index: tuple[Tensor | slice, ...] = (found[0], slice(None), *found[1:])

    def at(x: Tensor) -> Tensor:
        x = torch.as_tensor(x, dtype=f_re.dtype, device=f_re.device)
        return torch.broadcast_to(x, f_re.shape)[index]

    tk2 = at(t2)
    vr, vi = tk2 * at(wr), tk2 * at(wi)
    small = at(m2) * (tk2 * tk2) < 0.0625**2
    # series in t^2 w = (t x)^2: Horner on (re, im), times scale t^3
    s_re = torch.full_like(vr, _SPHERE_SERIES[-1])
    s_im = torch.zeros_like(vi)
    for coef in _SPHERE_SERIES[-2::-1]:
        s_re, s_im = (torch.addcmul(s_re * vr, s_im, vi, value=-1.0) + coef,
                      torch.addcmul(s_re * vi, s_im, vr))
    t3 = at(scale) * tk2 * at(t)
    f_re[index] = torch.where(small, t3 * s_re, f_re[index])
    f_im[index] = torch.where(small, t3 * s_im, f_im[index])
    return f_re, f_im


def sphere_amplitude_direct(wr: Tensor, wi: Tensor, t: Tensor, scale: Tensor
                            ) -> tuple[Tensor, Tensor]:
    """:func:`sphere_amplitude_ladder` written for one fused loop (:mod:`deepgisas.physics.fused`):
    the phases of every member evaluated directly and the series taken wherever |t x| < 1/4,
    by selection at every element. The same values to rounding, with no data-dependent
    branch; eagerly it is slower (more transcendentals and pixel-sized temporaries)."""
    m2 = torch.addcmul(wr * wr, wi, wi)
    t2 = t * t
    small = m2 * (t2 * t2) < 0.0625**2
    tiny = m2 * (t2 * t2).amax(1, keepdim=True) < 0.0625**2  # every member small
    f_re, f_im = _closed_form(torch.where(tiny, 1.0, wr), torch.where(tiny, 0.0, wi), t, scale,
                              ladder=False)
    vr, vi = t2 * wr, t2 * wi
    s_re = torch.full_like(vr, _SPHERE_SERIES[-1])
    s_im = torch.zeros_like(vi)
    for coef in _SPHERE_SERIES[-2::-1]:
        s_re, s_im = (torch.addcmul(s_re * vr, s_im, vi, value=-1.0) + coef,
                      torch.addcmul(s_re * vi, s_im, vr))
    t3 = scale * t2 * t
    return torch.where(small, t3 * s_re, f_re), torch.where(small, t3 * s_im, f_im)


def _closed_form(wr: Tensor, wi: Tensor, t: Tensor, scale: Tensor, ladder: bool
                 ) -> tuple[Tensor, Tensor]:
    """scale t^3 f(t x) by the closed form (no series), the members' phases by the ladder of
    products (eager) or directly (``ladder=False``, the fused form)."""
    m2 = torch.addcmul(wr * wr, wi, wi)
    r = torch.sqrt(0.5 * (torch.sqrt(m2) + wr.abs()))
    o = wi / (2.0 * r)
    pos = wr >= 0
    a, b = torch.where(pos, r, o), torch.where(pos, o, r)
    if ladder:  # cos(t a), sin(t a), exp(-t b)
        ca, sa, ei = expi_ladder(a, b, t)
    else:
        ca, sa, ei = torch.cos(t * a), torch.sin(t * a), torch.exp(-t * b)
    e = torch.reciprocal(ei)
    ch, sh = e + ei, e - ei  # 2 cosh(t b), 2 sinh(t b)
    ta, tb = t * a, t * b
    # 2 (sin tx - tx cos tx)
    n_re = torch.addcmul(ch * torch.addcmul(sa, ta, ca, value=-1.0), tb, sa * sh, value=-1.0)
    n_im = torch.addcmul(sh * torch.addcmul(ca, ta, sa), tb, ca * ch, value=-1.0)
    # 3 scale / (2 x^3) with x^3 = w x: 1.5 scale conj(w x) / |w x|^2, per pixel
    d_re = torch.addcmul(wr * a, wi, b, value=-1.0)
    d_im = torch.addcmul(wr * b, wi, a)
    inv = 1.5 * scale / torch.addcmul(d_re * d_re, d_im, d_im)
    k_re, k_im = d_re * inv, -d_im * inv
    f_re = torch.addcmul(n_re * k_re, n_im, k_im, value=-1.0)
    f_im = torch.addcmul(n_re * k_im, n_im, k_re)
    return f_re, f_im
