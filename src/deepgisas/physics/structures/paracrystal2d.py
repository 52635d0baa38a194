"""2D paracrystal domains (ba.Paracrystal2D) on a square or hexagonal basis.

BornAgain's 2D paracrystal is the product of two 1D paracrystals, one along each lattice vector
a_i (a1 at xi, a2 at xi + alpha, both of length a): S = P_1 P_2 with, for each,
f_i(q) = exp(i q.a_i) phi(q_1, q_2) exp(-a / lambda) (no damping for lambda = 0), where
(q_1, q_2) is q_par in the frame of a_i (q_1 along it) and phi the pdf's Fourier transform
normalised to phi(0) = 1: Cauchy (1 + q_1^2 w_x^2 + q_2^2 w_y^2)^(-3/2), Gauss
exp(-(q_1^2 w_x^2 + q_2^2 w_y^2) / 2), or the pseudo-Voigt mix eta Gauss + (1 - eta) Cauchy.
With n_i = floor(domain_size_i / a) cells in the coherent domain:

- n_i < 1 (infinite domain): P = Re[(1 + f) / (1 - f)];
- |1 - f|^2 < 2.2e-16: P = n;
- n |1 - f| < 2e-4: the series 1 + 2 Re[(n - 1)/2 + (n^2 - 1)(f - 1)/6
  + (n^3 - 2 n^2 - n + 2)(f - 1)^2 / 24];
- else P = 1 + 2 Re[f / (1 - f) - f (1 - f^n) / (n (1 - f)^2)].

The orientation is fixed (``setIntegrationOverXi(False)``); each xi is its own weighted deposit,
as for the lattices. The density is 1 / cell area; there is no position variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from deepgisas.physics.params import INF, ParamSpec
from deepgisas.physics.structures.base import Amplitudes, Domains, Particle, StructureType, key
from deepgisas.physics.structures.lattice2d import HEXAGONAL, SQUARE, Basis, decoupled

TWO_PI = 2.0 * math.pi
EPS = 2.220446049250313e-16  # BornAgain's threshold on |1 - f|^2 (double's epsilon)
A, DAMPING, SIZE_1, SIZE_2, OMEGA_X, OMEGA_Y, ETA = (key(n) for n in (
    "a_nm", "damping_length_nm", "domain_size_1_nm", "domain_size_2_nm", "omega_x_nm",
    "omega_y_nm", "eta"))


def pdf_ft(q1: Tensor, q2: Tensor, wx: Tensor, wy: Tensor, eta: Tensor) -> tuple[Tensor, Tensor]:
    """phi(q_1, q_2), the pdf's Fourier transform (phi(0) = 1), and 1 - phi computed without
    cancellation, each [B, H, W] (wx, wy, eta: [B, 1, 1]); eta = 0 is the Cauchy, eta = 1 the
    Gauss profile."""
    s = (q1 * wx) ** 2 + (q2 * wy) ** 2
    log_c = -1.5 * torch.log1p(s)
    cauchy, cauchy_m = torch.exp(log_c), -torch.expm1(log_c)
    if not eta.requires_grad and not bool(eta.any()):
        return cauchy, cauchy_m
    gauss, gauss_m = torch.exp(-0.5 * s), -torch.expm1(-0.5 * s)
    return eta * gauss + (1.0 - eta) * cauchy, eta * gauss_m + (1.0 - eta) * cauchy_m


def damping_factor(a: Tensor, damping: Tensor) -> tuple[Tensor, Tensor]:
    """exp(-a / lambda) and 1 - exp(-a / lambda), [B]; 1 and 0 where lambda = 0 (no
    damping)."""
    on = damping > 0
    x = torch.where(on, -a / torch.where(on, damping, torch.ones_like(damping)),
                    torch.zeros_like(damping))
    return torch.exp(x), -torch.expm1(x)


def paracrystal_1d(g: Tensor, h: Tensor, fu: Tensor, n: Tensor) -> Tensor:
    """BornAgain's 1D paracrystal factor P of f = g exp(2 pi i fu), [B, H, W].

    g: |f| and h: 1 - g (computed without cancellation), [B, H, W]; fu: the phase q.a_i / 2pi
    less its nearest integer; n: [B, 1, 1] the whole cells in the domain (n < 1: infinite).
    1 - f = h + 2 g sin^2(pi fu) - i g sin(2 pi fu) is formed from h, and
    |1 - f|^2 = h^2 + 4 g sin^2(pi fu), so that P stays accurate near the peaks (float32).
    """
    sin_half = torch.sin(math.pi * fu)
    sin2 = sin_half * sin_half
    dist2 = torch.addcmul(h * h, g, sin2, value=4.0)  # |1 - f|^2
    infinite = h * (2.0 - h) / dist2  # Re[(1 + f) / (1 - f)] = (1 - g^2) / |1 - f|^2
    if not bool((n >= 1.0).any()):
        return infinite
    theta = TWO_PI * fu
    f = torch.polar(g, theta)
    one_m = torch.complex(torch.addcmul(h, g, sin2, value=2.0), -g * torch.sin(theta))
    nn = n.clamp_min(1.0)
    nfu = nn * fu
    fn = torch.polar(g ** nn, TWO_PI * (nfu - torch.round(nfu)))  # f^n
    tiny = dist2 < EPS
    safe = torch.where(tiny, torch.ones_like(one_m), one_m)
    general = 1.0 + 2.0 * (f / safe - f * (1.0 - fn) / (nn * safe * safe)).real
    fm = -one_m
    series = 1.0 + 2.0 * ((nn - 1.0) / 2.0 + (nn * nn - 1.0) * fm / 6.0
                          + (nn * (nn * (nn - 2.0) - 1.0) + 2.0) * fm * fm / 24.0).real
    finite = torch.where(tiny, nn.expand_as(g),
                         torch.where(torch.sqrt(dist2) * nn < 2e-4, series, general))
    return torch.where(n < 1.0, infinite, finite)


def paracrystal_2d(basis: Basis, qx: Tensor, qy: Tensor, p: dict[str, Tensor]) -> Tensor:
    """S(q_par) of rotated 2D paracrystal domains, [B, K, H, W].

    qx, qy: [B, H, W] (1/nm); ``p`` holds the type's tensors [B] (nm, 1) and ``xi`` [B, K]
    (rad).
    """
    a = p[A]
    d, d_m = (x[:, None, None] for x in damping_factor(a, p[DAMPING]))
    wx, wy, eta = (p[k][:, None, None] for k in (OMEGA_X, OMEGA_Y, ETA))
    ns = [torch.floor((p[k] / a).abs())[:, None, None] for k in (SIZE_1, SIZE_2)]
    c, s = torch.cos(p["xi"]), torch.sin(p["xi"])  # [B, K]
    axes = ((c, s), (c * basis.cos - s * basis.sin, s * basis.cos + c * basis.sin))
    out = []
    for k in range(p["xi"].shape[1]):
        prod = None
        for (ck, sk), n in zip(axes, ns, strict=True):
            cx, sx = ck[:, k, None, None], sk[:, k, None, None]
            q1 = torch.addcmul(qx * cx, qy, sx)  # along a_i
            q2 = torch.addcmul(qy * cx, qx, -sx)  # across it
            u = q1 * (a / TWO_PI)[:, None, None]
            phi, phi_m = pdf_ft(q1, q2, wx, wy, eta)
            # 1 - d phi = (1 - d) + d (1 - phi)
            one = paracrystal_1d(d * phi, torch.addcmul(d_m, d, phi_m), u - torch.round(u), n)
            prod = one if prod is None else prod * one
        assert prod is not None
        out.append(prod)
    return torch.stack(out, 1)


@dataclass(frozen=True)
class Paracrystal2D(StructureType):
    """Weighted 2D paracrystal domains of one basis, in the decoupling approximation."""

    basis: Basis = SQUARE

    def density(self, p: dict[str, Tensor]) -> Tensor:
        return 1.0 / self.basis.cell_area(p[A])

    def intensity(self, p: dict[str, Tensor], prepared: Any, a: Amplitudes) -> Tensor:
        s = paracrystal_2d(self.basis, a.qx, a.qy, p)
        weighted = (p["coverage"][:, :, None, None] * (s - 1.0)).sum(1)
        return decoupled(a, p["coverage"], weighted)

    def bornagain(self, ba: Any, particle: Particle, values: dict[str, float],
                  xi_rad: Sequence[float] = (), weights: Sequence[float] = ()) -> Domains:
        wx, wy, eta = values["omega_x_nm"], values["omega_y_nm"], values["eta"]
        out: Domains = []
        for xi, w in zip(xi_rad, weights, strict=True):
            pc = ba.Paracrystal2D(particle(), self.basis.lattice(ba, values["a_nm"], xi),
                                  values["damping_length_nm"], values["domain_size_1_nm"],
                                  values["domain_size_2_nm"])
            pc.setIntegrationOverXi(False)
            pdf = ba.Profile2DCauchy(wx, wy, 0.0) if eta == 0.0 else \
                ba.Profile2DGauss(wx, wy, 0.0) if eta == 1.0 else \
                ba.Profile2DVoigt(wx, wy, 0.0, eta)
            pc.setProbabilityDistributions(pdf, pdf)
            out.append((w, pc))
        return out


PARACRYSTAL_PARAMS = (
    ParamSpec("a_nm", "nm", 20.0, (0.0, INF), "mean lattice constant (both vectors)"),
    ParamSpec("damping_length_nm", "nm", 0.0, (0.0, INF), "damping length (0: none)",
              lo_open=False),
    ParamSpec("domain_size_1_nm", "nm", 0.0, (0.0, INF),
              "coherent domain size along a1 (below a: infinite)", lo_open=False),
    ParamSpec("domain_size_2_nm", "nm", 0.0, (0.0, INF),
              "coherent domain size along a2 (below a: infinite)", lo_open=False),
    ParamSpec("omega_x_nm", "nm", 2.0, (0.0, INF),
              "width of each neighbour-position pdf along its lattice vector"),
    ParamSpec("omega_y_nm", "nm", 2.0, (0.0, INF),
              "width of each neighbour-position pdf across its lattice vector"),
    ParamSpec("eta", "1", 0.0, (0.0, 1.0), "pdf profile: Gauss fraction (0: Cauchy, 1: Gauss)",
              lo_open=False, hi_open=False),
)


def _paracrystal(basis: Basis, lattice: str) -> Paracrystal2D:
    return Paracrystal2D(
        f"{basis.name}_paracrystal",
        PARACRYSTAL_PARAMS,
        f"ba.Paracrystal2D(particle, ba.{lattice}(a, xi), damping_length, domain_size_1, "
        "domain_size_2) with the same 2D pdf (ba.Profile2DCauchy / Gauss / Voigt(omega_x, "
        "omega_y, 0, eta)) for both lattice vectors, fixed orientation, one weighted deposit "
        "per lattice rotation xi",
        has_orientation=True,
        isotropic=False,
        spacing="a_nm",
        basis=basis,
    )


SQUARE_PARACRYSTAL = _paracrystal(SQUARE, "SquareLattice2D")
HEXAGONAL_PARACRYSTAL = _paracrystal(HEXAGONAL, "HexagonalLattice2D")
