"""The speed-motivated reformulations against their straightforward counterparts."""

from __future__ import annotations

import math

import pytest
import torch

from deepgisas.physics import cmath
from deepgisas.physics.multilayer import (
    amplitude_lists,
    amplitude_parts_in_layer,
    exit_amplitude_lists,
    kz_list,
    upward_amplitude_lists,
)
from deepgisas.physics.special import (
    sphere_amplitude,
    sphere_amplitude_direct,
    sphere_amplitude_ladder,
)
from deepgisas.physics.structures import hexagonal_lattice as itf


def _max_rel(got: torch.Tensor, ref: torch.Tensor, floor: float = 1e-30) -> float:
    return float(((got - ref).abs() / ref.abs().clamp(min=floor)).max())


def _samples() -> torch.Tensor:
    z = torch.randn(20000, dtype=torch.complex128) * torch.logspace(-5, 1, 20000)
    edge = [0j, -1 + 0j, complex(-1, -0.0), complex(-4, 1e-9), complex(-4, -1e-9), 3, 1j, -1j]
    return torch.cat([z, torch.tensor(edge, dtype=torch.complex128)])


def test_complex_helpers_match_torch() -> None:
    z = _samples()
    w = torch.randn(z.shape[0], dtype=torch.complex128) + 0.1
    assert _max_rel(cmath.csqrt(z), torch.sqrt(z), 1e-300) < 1e-14
    assert _max_rel(cmath.cdiv(z, w), z / w, 1e-300) < 1e-14
    small = z[z.abs() < 5]
    assert _max_rel(cmath.cexp(small), torch.exp(small)) < 1e-14
    plus, minus = cmath.expi_pair(small)
    assert _max_rel(plus, torch.exp(1j * small)) < 1e-14
    assert _max_rel(minus, torch.exp(-1j * small)) < 1e-14
    s, c = cmath.csincos(small)
    for got, ref in ((s, torch.sin(small)), (c, torch.cos(small))):
        assert float(((got - ref).abs() / (1.0 + ref.abs())).max()) < 1e-14


def test_expi_ladder_matches_direct_phases() -> None:
    z = _samples()
    z = z[z.abs() < 5][None, None]
    t = torch.linspace(-0.7, 2.3, 15, dtype=torch.float64)[None, :, None]
    c, s, e = cmath.expi_ladder(z.real, z.imag, t)
    ref = torch.exp(1j * t * z)
    assert _max_rel(torch.complex(e * c, e * s), ref, 1e-300) < 1e-13


@pytest.mark.parametrize("form", [sphere_amplitude_ladder, sphere_amplitude_direct])
@pytest.mark.parametrize("members", [1, 2, 15])
def test_sphere_amplitude_ladder_on_parts(members: int, form) -> None:
    """The members t_j x of a size distribution against the sphere amplitude at each of them,
    the series branch included (|t x| < 1/4 for some members of some samples): the eager
    ladder and the fused form."""
    x = _samples()
    w = (x * x)[None, None]
    t = torch.linspace(0.3, 3.0, members, dtype=torch.float64)[None, :, None]
    scale = torch.tensor(2.5, dtype=torch.float64)
    re, im = form(w.real.contiguous(), w.imag.contiguous(), t, scale)
    ref = scale * t**3 * sphere_amplitude(t * x)
    assert _max_rel(torch.complex(re, im), ref, 1e-3) < 1e-10


def test_sphere_amplitude_ladder_with_a_wider_scale() -> None:
    """A scale with more rows than w and t: every row gets the series where it applies."""
    x = _samples()
    w = (x * x)[None, None]
    t = torch.linspace(0.3, 3.0, 15, dtype=torch.float64)[None, :, None]
    scale = torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64)[:, None, None]
    re, im = sphere_amplitude_ladder(w.real.contiguous(), w.imag.contiguous(), t, scale)
    re1, im1 = sphere_amplitude_ladder(w.real.contiguous(), w.imag.contiguous(), t, 1.0)
    assert re.shape == (3, 15, x.shape[0])
    assert _max_rel(torch.complex(re, im), scale * torch.complex(re1, im1), 1e-3) < 1e-10


def test_sphere_amplitude_ladder_gradients() -> None:
    """Autograd through the ladder, the pixels that take the series included (some members
    small, all members small, w = 0), against autograd through the amplitude itself; the
    ladder t = t0 + j d stays linear (as the sizes of a distribution do)."""
    x = torch.cat([_samples()[:2000], torch.tensor([0.0, 0.01, 0.05j, 0.2 + 0.01j],
                                                    dtype=torch.complex128)])
    wr = (x * x).real.clone().requires_grad_(True)
    wi = (x * x).imag.clone().requires_grad_(True)
    t0 = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    d = torch.tensor(2.7 / 14, dtype=torch.float64, requires_grad=True)
    t = t0 + d * torch.arange(15, dtype=torch.float64)
    weights = torch.randn(2, 15, x.shape[0], dtype=torch.float64,
                          generator=torch.Generator().manual_seed(0))
    leaves = (wr, wi, t0, d)
    re, im = sphere_amplitude_ladder(wr[None, None], wi[None, None], t[None, :, None], 1.0)
    got = torch.autograd.grad((weights[0] * re[0] + weights[1] * im[0]).sum(), leaves,
                              retain_graph=True)
    # the reference: t^3 f(t x) with x = sqrt(w), differentiated through w; where |t x| < 0.1
    # (w = 0 among them) its Taylor series in v = t^2 w, 1 - v/10 + v^2/280 - v^3/15120
    w = torch.complex(wr, wi)
    v = t[:, None] ** 2 * w
    small = v.abs() < 0.01
    xs = torch.sqrt(torch.where(small, torch.ones_like(v), v))
    series = 1 - v / 10 + v * v / 280 - v * v * v / 15120
    ref = t[:, None] ** 3 * torch.where(small, series, sphere_amplitude(xs))
    want = torch.autograd.grad((weights[0] * ref.real + weights[1] * ref.imag).sum(), leaves)
    for g, r in zip(got, want, strict=True):
        assert _max_rel(g, r, 1e-6) < 1e-8


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-8), (torch.float32, 1e-4)])
def test_row_interpolation_of_the_outgoing_wave(dtype: torch.dtype, tol: float) -> None:
    """kz, T, R in the particles' slice of the talk's sample over a 2.2 deg x 2.14 deg
    spherical detector: the row interpolation against per-pixel evaluation."""
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64

    def n2(delta: float, beta: float) -> complex:  # chi = n^2 - 1, as compile_batch gives it
        return complex(1 - delta, beta) ** 2 - 1

    layers = [n2(0, 0), n2(2.0e-6, 1.5e-7), n2(5.44e-6, 5.44e-8), n2(5.78e-6, 1.02e-7)]
    n2t = torch.tensor([layers], dtype=cdt)
    thickness = torch.tensor([[0.0, 20.0, 60.0, 0.0]], dtype=dtype)
    sigma = torch.zeros_like(thickness)
    k = torch.tensor([2 * math.pi / 0.1341], dtype=dtype)
    phi = torch.linspace(-1.07, 1.07, 256, dtype=dtype)[None, :] * math.pi / 180
    alpha = torch.linspace(0.004, 2.2, 256, dtype=dtype)[:, None] * math.pi / 180
    uz = (alpha / torch.sqrt(1 + phi * phi + alpha * alpha))[None]  # [1, 256, 256]
    for j in (1, 2):
        parts = amplitude_parts_in_layer(n2t, k, thickness, sigma, j, uz)
        kz = kz_list(n2t, k, uz * uz)
        ts, rs = amplitude_lists(kz, thickness, sigma)
        wave = (ts[j].abs() + rs[j].abs()).amax(-1, keepdim=True)
        for (re, im), ref, scale in zip(parts, (kz[j], ts[j], rs[j]),
                                        (kz[j].abs().amax(-1, keepdim=True), wave, wave),
                                        strict=True):
            err = (torch.complex(re, im) - ref).abs() / scale
            assert float(err.max()) < tol


def test_far_table_matches_a_direct_window_sum() -> None:
    a = torch.tensor([30.0, 40.0, 34.0], dtype=torch.float64)
    w = torch.tensor([250.0, 100.0, 20.0], dtype=torch.float64)  # the last: a wider window
    n = itf.hex_window(a, w)
    grid = 17
    t = torch.linspace(-itf.FAR_HALF, itf.FAR_HALF, grid, dtype=torch.float64)
    fv, fu = torch.meshgrid(t, t, indexing="ij")
    ref = torch.zeros(3, grid, grid, dtype=torch.float64)
    for b in range(3):
        m = int(n[b]) + 1
        g = 2 * math.pi / float(a[b])
        for i in range(-m, m + 1):
            for j in range(-m, m + 1):
                if i == 0 and j == 0:
                    continue
                uu, vv = fu + i, fv + j
                gx, gy = uu * g, (uu + 2 * vv) * g / math.sqrt(3)
                base = 1 + (gx * gx + gy * gy) * float(w[b]) ** 2
                ref[b] += base ** -1.5
        ref[b] *= 2 * math.pi * float(w[b]) ** 2
    got = itf.far_table(a, w, grid)[:, 0]
    assert _max_rel(got, ref) < 1e-12


def test_upward_wave_is_continuous_and_leaves_through_the_ambient() -> None:
    """The exit wave of a direction below the horizon (BornAgain 25: coming up from the
    substrate, amplitude 1 there): psi and dpsi/dz continuous at every interface, nothing
    coming down from the ambient, and on one interface Fresnel's t and r from below."""
    chi = torch.tensor([[0.0, -6e-6 + 2e-8j, -1.1e-5 + 1e-7j, -1.16e-5 + 2e-7j]],
                       dtype=torch.complex128)
    d = torch.tensor([[0.0, 20.0, 35.0, 0.0]], dtype=torch.float64)
    k = torch.tensor([2 * math.pi / 0.1341], dtype=torch.float64)
    s2 = torch.tensor([[math.sin(math.radians(0.3)) ** 2]], dtype=torch.float64)
    kz, ts, rs = upward_amplitude_lists(chi, k, s2, d, torch.zeros_like(d))
    assert abs(complex(ts[0])) == 0 and complex(rs[-1]) == 1
    for j in range(3):  # layer j at its bottom (z' = -d_j) against layer j + 1 at its top
        e = torch.exp(1j * kz[j] * d[:, j]) if j > 0 else 1.0
        psi = ts[j] * e + rs[j] / e
        dpsi = -1j * kz[j] * (ts[j] * e - rs[j] / e)
        assert complex(psi - ts[j + 1] - rs[j + 1]) == pytest.approx(0, abs=1e-12)
        assert complex(dpsi + 1j * kz[j + 1] * (ts[j + 1] - rs[j + 1])) == pytest.approx(
            0, abs=1e-12 * float(kz[j].abs()))
    kz, ts, rs = upward_amplitude_lists(chi[:, [0, 3]], k, s2, d[:, [0, 3]], d[:, :2] * 0)
    k0, k1 = complex(kz[0]), complex(kz[1])
    assert complex(rs[0]) == pytest.approx(2 * k1 / (k1 + k0), rel=1e-12)
    assert complex(ts[1]) == pytest.approx((k1 - k0) / (k1 + k0), rel=1e-12)


def test_rows_across_the_horizon_are_evaluated_per_pixel() -> None:
    """Rows whose exit angles change sign (a tilted grid through the horizon) get the ambient's
    or the substrate's wave per pixel, not an interpolation across the jump."""
    chi = torch.tensor([[0.0, -6e-6 + 2e-8j, -1.16e-5 + 2e-7j]], dtype=torch.complex128)
    d = torch.tensor([[0.0, 20.0, 0.0]], dtype=torch.float64)
    sigma = torch.zeros_like(d)
    k = torch.tensor([2 * math.pi / 0.1341], dtype=torch.float64)
    phi = torch.linspace(-1.0, 1.0, 200, dtype=torch.float64)[None, :] * math.pi / 180
    alpha = torch.linspace(-0.5, 1.0, 120, dtype=torch.float64)[:, None] * math.pi / 180
    uz = torch.sin(alpha + 0.05 * phi)[None]  # [1, 120, 200], some rows cross 0
    assert bool(((uz.amin(-1) < 0) & (uz.amax(-1) > 0)).any())
    parts = amplitude_parts_in_layer(chi, k, d, sigma, 1, uz)
    kz, ts, rs = exit_amplitude_lists(chi, k, uz, d, sigma)
    for (re, im), ref in zip(parts, (kz[1], ts[1], rs[1]), strict=True):
        assert torch.equal(torch.complex(re, im), ref)


@pytest.mark.parametrize("name", ["sphere-dilute", "spheroid-lognormal", "cylinder-dilute",
                                  "box-dilute", "spherical-segment", "core-shell-spheres",
                                  "crossing-galaxi-rough", "below-horizon-rough-film"])
def test_exit_waves_interpolated_along_rows_equal_per_pixel(name: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """A spherical detector's exit waves at the rows' ends, interpolated along the rows (every
    DWBA path: sphere-like pairs, E(qz^2) shapes, general kernels, sections, core-shell,
    crossing parts, roughness), against exit waves per pixel."""
    import numpy as np

    from deepgisas import simulate
    from deepgisas.parse import parse_experiment
    from deepgisas.physics import detector
    from tests.cases import CASES

    e = parse_experiment(CASES[name])
    rows = simulate(e, mixed=False)
    monkeypatch.setattr(detector, "ROW_SPREAD", -1.0)
    pixels = simulate(e, mixed=False)
    assert np.abs(rows / pixels - 1).max() < 1e-9
