"""Complex elementary functions in real arithmetic, for speed on CPU.

PyTorch evaluates complex ``exp``, ``sqrt``, ``sin``, ``/`` and ``abs`` element by element with
scalar library calls, 10 to 50 times slower than the vectorised real functions. These helpers
take and return complex tensors (any shape, complex64 or complex128) but do the work on the
real and imaginary parts, so they stay differentiable through autograd and keep the dtype and
device of their inputs. They are for the moderate arguments that occur in GISAS (no overflow
guards beyond what is noted).

Tensors of at most ``TINY`` elements (the per-experiment quantities: the incoming wave, the
layer stack) take torch's own complex functions: there the cost is the number of operations
dispatched, not the arithmetic.
"""

from __future__ import annotations

import torch
from torch import Tensor

TINY = 256


def _tiny(*zs: Tensor) -> bool:
    return all(z.numel() <= TINY for z in zs)


def abs2(z: Tensor) -> Tensor:
    """|z|^2 (real), differentiable at z = 0."""
    return z.real * z.real + z.imag * z.imag


def cexp(z: Tensor) -> Tensor:
    """exp(z) for complex z."""
    if _tiny(z):
        return torch.exp(z)
    m = torch.exp(z.real)
    return torch.complex(m * torch.cos(z.imag), m * torch.sin(z.imag))


def expi(z: Tensor) -> Tensor:
    """exp(i z) for complex z."""
    if _tiny(z):
        return torch.exp(1j * z)
    m = torch.exp(-z.imag)
    return torch.complex(m * torch.cos(z.real), m * torch.sin(z.real))


def expi_pair(z: Tensor) -> tuple[Tensor, Tensor]:
    """(exp(i z), exp(-i z)) for complex z, sharing the trigonometric work."""
    if _tiny(z):
        return torch.exp(1j * z), torch.exp(-1j * z)
    e = torch.exp(-z.imag)
    c, s = torch.cos(z.real), torch.sin(z.real)
    ei = 1.0 / e
    return torch.complex(e * c, e * s), torch.complex(ei * c, -ei * s)


def expi_ladder(re: Tensor, im: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """cos(t re), sin(t re) and exp(-t im), the parts of exp(i t z) for z = re + i im, at a
    linear ladder t_j = t_0 + j (t_1 - t_0) along axis 1 (e.g. the members of a size
    distribution): re, im [B, 1, ...], t [B, M, 1, ...] -> each [B, M, ...].

    Only 6 pixel-sized transcendentals: exp(i t_0 z) times exp(i s z), exp(2 i s z),
    exp(4 i s z), ... (s the ladder's step, each factor the square of the one before),
    doubling the members done with every product; each value is a product of at most
    log2(M) + 1 factors. Squaring doubles a factor's phase error, so rounding grows about
    linearly with M: ~1e-14 relative in float64 up to M = 64 (4e-14 at 200), ~3e-5 in float32
    at 200. The step is taken from the ends of t, so t must be linear to working precision.
    """
    n = t.shape[1]
    t0 = t[:, :1]
    c, s, e = torch.cos(t0 * re), torch.sin(t0 * re), torch.exp(-t0 * im)
    if n == 1:
        return c, s, e
    step = (t[:, -1:] - t0) / (n - 1)
    cs, ss, es = torch.cos(step * re), torch.sin(step * re), torch.exp(-step * im)
    while c.shape[1] < n:  # members [k, k + m) from [0, m) and exp(i k s z), k = 1, 2, 4, ...
        m = min(c.shape[1], n - c.shape[1])
        cm, sm = c[:, :m], s[:, :m]
        c, s = (torch.cat([c, torch.addcmul(cm * cs, sm, ss, value=-1.0)], 1),
                torch.cat([s, torch.addcmul(sm * cs, cm, ss)], 1))
        e = torch.cat([e, e[:, :m] * es], 1)
        if c.shape[1] < n:  # exp(i 2k s z) = exp(i k s z)^2
            cs, ss, es = torch.addcmul(cs * cs, ss, ss, value=-1.0), 2.0 * cs * ss, es * es
    return c, s, e


def crecip(w: Tensor) -> Tensor:
    """1 / w for complex w (w != 0)."""
    if _tiny(w):
        return torch.reciprocal(w)
    inv = 1.0 / abs2(w)
    return torch.complex(w.real * inv, -w.imag * inv)


def cdiv(z: Tensor, w: Tensor) -> Tensor:
    """z / w for complex z, w (w != 0)."""
    if _tiny(z, w):
        return z / w
    return z * crecip(w)


def csqrt(z: Tensor) -> Tensor:
    """Principal square root (Re >= 0; the sign of Im follows Im z, also for signed zeros).

    Uses t = sqrt((|z| + |Re z|)/2), which has no cancellation; z = 0 gives 0.
    """
    if _tiny(z):
        return torch.sqrt(z)
    a, b = z.real, z.imag
    t = torch.sqrt(0.5 * (torch.sqrt(a * a + b * b) + a.abs()))
    safe = torch.where(t > 0, t, torch.ones_like(t))
    other = b / (2.0 * safe)
    pos = a >= 0
    re = torch.where(pos, t, other.abs())
    im = torch.where(pos, other, torch.copysign(t, b))
    return torch.complex(re, im)


def csincos(z: Tensor) -> tuple[Tensor, Tensor]:
    """(sin z, cos z) for complex z with moderate |Im z|.

    cosh and sinh come from one exp (torch's own are scalar loops); sinh loses relative
    accuracy for tiny Im z, but not absolute accuracy of sin z and cos z.
    """
    a, b = z.real, z.imag
    sa, ca = torch.sin(a), torch.cos(a)
    e = torch.exp(b)
    ei = torch.reciprocal(e)
    ch, sh = 0.5 * (e + ei), 0.5 * (e - ei)
    return torch.complex(sa * ch, ca * sh), torch.complex(ca * ch, -sa * sh)
