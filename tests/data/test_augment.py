"""Each augmentation step on a known image (constant, delta, ramp), then pipelines as a whole."""

from __future__ import annotations

import math

import pytest
import torch

from deepgisas.data.augment import (
    BeamStop,
    Blur,
    CenterShift,
    Compose,
    DeadStrip,
    FlatBackground,
    Log,
    ModuleGaps,
    Poisson,
    RandomCrop,
    Scale,
    SmoothBackground,
    Standardize,
    detector_pipeline,
    talk_pipeline,
    to_network_input,
)
from deepgisas.errors import UserError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _const(value: float, b: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((b, h, w), value, dtype=torch.float64), torch.ones(b, h, w, dtype=torch.bool)


def _ramp(b: int, h: int, w: int) -> torch.Tensor:
    """Pixel (i, j) holds i * w + j + 1: every value names its pixel."""
    return (torch.arange(h * w, dtype=torch.float64) + 1).view(h, w).expand(b, h, w).clone()


def test_scale_factor_is_10_to_a_uniform_in_minus2_2() -> None:
    x, m = _const(1.0, 4000, 1, 2)
    m[:, 0, 1] = False  # a masked pixel keeps its value
    y, m2 = Scale()(x, m, _gen())
    u = torch.log10(y[:, 0, 0])
    assert u.min() >= -2 and u.max() <= 2 and torch.equal(m2, m)
    assert abs(u.mean().item()) < 0.06 and abs(u.std().item() - 4 / math.sqrt(12)) < 0.04
    counts = torch.histc(u, bins=4, min=-2, max=2)
    assert torch.all((counts - 1000).abs() < 120), counts
    assert torch.all(y[:, 0, 1] == 1.0)


def test_poisson_mean_and_variance_equal_the_rate() -> None:
    x, m = _const(50.0, 4, 64, 64)
    x[:, 0, 0], m[:, 0, 0] = -1.0, False
    y, _ = Poisson()(x, m, _gen())
    counts = y[m]
    assert torch.equal(counts, counts.round()) and counts.min() >= 0
    assert abs(counts.mean().item() - 50) < 0.5 and abs(counts.var().item() - 50) < 2.5
    assert torch.all(y[:, 0, 0] == -1.0)


def test_beam_stop_zeros_and_masks_exactly_the_central_bottom_block() -> None:
    x, m = _const(7.0, 2, 20, 21)
    y, m2 = BeamStop(width_px=(4, 4), height_px=(6, 6))(x, m, _gen())
    block = torch.zeros(20, 21, dtype=torch.bool)
    block[:6, 8:12] = True  # centre column 10, 4 columns: 8..11
    assert torch.equal(y == 0, block.expand(2, -1, -1)) and torch.equal(m2, ~y.eq(0))
    assert torch.all(y[~block.expand(2, -1, -1)] == 7.0)


def test_beam_stop_random_sizes_stay_in_range_and_centred() -> None:
    x, m = _const(1.0, 300, 40, 41)
    y, _ = BeamStop(width_px=(3, 9), height_px=(5, 15))(x, m, _gen())
    zero = y == 0
    widths = zero[:, 0, :].sum(1)
    heights = zero[:, :, 20].sum(1)
    assert widths.min() == 3 and widths.max() == 9 and heights.min() == 5 and heights.max() == 15
    cols = torch.arange(41)
    centre = (zero[:, 0, :] * cols).sum(1) / widths  # mean column of the block
    assert torch.all((centre - 20).abs() <= 0.5)
    assert not zero[:, 15:].any()  # never above the highest allowed row


def test_dead_strip_is_3_to_5_columns_over_the_full_height() -> None:
    x, m = _const(1.0, 600, 8, 40)
    y, m2 = DeadStrip()(x, m, _gen())
    dead = y == 0
    assert torch.equal(m2, ~dead)
    full = dead.all(1)  # [B, W]: columns dead over every row
    assert torch.equal(full, dead.any(1))
    widths = full.sum(1)
    assert set(widths.tolist()) == {3, 4, 5}
    first = full.float().argmax(1)
    cols = torch.arange(40)
    contiguous = (cols >= first[:, None]) & (cols < (first + widths)[:, None])
    assert torch.equal(full, contiguous)
    assert first.min() == 0 and (first + widths).max() == 40  # both edges reachable


def test_module_gaps_follow_the_module_grid() -> None:
    x, m = _const(3.0, 1, 20, 20)
    y, m2 = ModuleGaps(module_px=(5, 7), gap_px=(2, 1), random_offset=False)(x, m, _gen())
    i, j = torch.meshgrid(torch.arange(20), torch.arange(20), indexing="ij")
    gap = (i % 7 >= 5) | (j % 8 >= 7)
    assert torch.equal(y[0] == -1, gap) and torch.equal(m2[0], ~gap)
    assert torch.all(y[0][~gap] == 3.0)


def test_module_gaps_random_offset_keeps_the_period() -> None:
    x, m = _const(1.0, 200, 30, 3)
    y, _ = ModuleGaps(module_px=(5, 100), gap_px=(2, 0))(x, m, _gen())
    rows = (y[:, :, 0] == -1)  # [B, H]
    assert torch.equal(rows[:, 7:], rows[:, :-7]) and torch.all(rows[:, :7].sum(1) == 2)
    assert len({tuple(r.tolist()) for r in rows}) == 7  # all seven offsets occur


def test_pilatus_defaults_put_a_17_row_gap_in_a_256_image() -> None:
    x, m = _const(1.0, 50, 256, 256)
    y, _ = ModuleGaps()(x, m, _gen())
    gap_rows = (y == -1).all(2).sum(1)
    assert torch.all(gap_rows >= 17 - 1) and torch.all(gap_rows <= 2 * 17)
    gap_cols = (y == -1).all(1).sum(1)
    assert set(gap_cols.unique().tolist()) <= set(range(8)) and gap_cols.max() == 7


def test_flat_background_adds_a_level_relative_to_the_mean_or_absolute() -> None:
    x, m = _const(10.0, 3, 8, 8)
    x[:, 0, 0], m[:, 0, 0] = -1.0, False
    y, _ = FlatBackground(level=(0.1, 0.1))(x, m, _gen())
    assert torch.allclose(y[m], torch.tensor(11.0, dtype=torch.float64)) and y[0, 0, 0] == -1
    y, _ = FlatBackground(level=(2.0, 2.0), relative=False)(x, m, _gen())
    assert torch.allclose(y[m], torch.tensor(12.0, dtype=torch.float64))
    y, _ = FlatBackground(level=(0.0, 1.0))(x, m, _gen())
    assert len(set(y[:, 1, 1].tolist())) == 3  # one level per image


def test_smooth_background_is_positive_smooth_and_of_the_drawn_level() -> None:
    x, m = _const(0.0, 8, 64, 64)
    y, _ = SmoothBackground(level=(1.0, 1.0), relative=False)(x, m, _gen())
    assert torch.all(y > 0)
    assert torch.allclose(y.mean((1, 2)), torch.ones(8, dtype=torch.float64))
    top = y.amax((1, 2))[:, None, None]
    steps = torch.cat([(y.diff(dim=1) / top).flatten(), (y.diff(dim=2) / top).flatten()])
    assert steps.abs().max() <= 1 / 21 + 1e-9  # bilinear between nodes 21 px apart
    assert (y[0] - y[1]).abs().max() > 0.1


def test_center_shift_moves_the_pattern_by_the_drawn_whole_pixels() -> None:
    b, h, w = 1500, 9, 11
    x = _ramp(b, h, w)
    y, m = CenterShift(max_px=3)(x, torch.ones_like(x, dtype=torch.bool), _gen())
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    src = y.long() - 1  # the source pixel's flat index, where measured
    dy = torch.where(m, i - src // w, 99).amin((1, 2))
    dx = torch.where(m, j - src % w, 99).amin((1, 2))
    assert torch.all(torch.where(m, i - src // w, dy[:, None, None]) == dy[:, None, None])
    assert torch.all(torch.where(m, j - src % w, dx[:, None, None]) == dx[:, None, None])
    assert len(set(zip(dy.tolist(), dx.tolist(), strict=True))) == 49  # all of [-3, 3]^2
    expected = (h - dy.abs()) * (w - dx.abs())
    assert torch.equal(m.sum((1, 2)), expected) and torch.all(y[~m] == 0)


@pytest.mark.parametrize("sigma", [1.0, 2.5])
def test_blur_keeps_the_total_and_spreads_a_delta_to_sigma(sigma: float) -> None:
    x, m = _const(0.0, 2, 41, 41)
    x[:, 20, 20] = 100.0
    y, _ = Blur(sigma_px=(sigma, sigma))(x, m, _gen())
    assert torch.allclose(y.sum((1, 2)), torch.full((2,), 100.0, dtype=torch.float64))
    k = torch.arange(41, dtype=torch.float64) - 20
    for marginal in (y.sum(1) / 100, y.sum(2) / 100):
        assert torch.allclose((marginal * k).sum(1), torch.zeros(2, dtype=torch.float64), atol=1e-9)
        assert torch.allclose((marginal * k**2).sum(1).sqrt(),
                              torch.full((2,), sigma, dtype=torch.float64), rtol=1e-3)


def test_blur_draws_sigma_per_image_and_respects_the_mask() -> None:
    x, m = _const(0.0, 64, 21, 21)
    x[:, 10, 10] = 1.0
    x[:, 10, 13], m[:, 10, 13] = -1.0, False  # a gap pixel must not leak its -1
    y, _ = Blur(sigma_px=(0.0, 2.0))(x, m, _gen())
    assert y[m].min() >= 0 and torch.all(y[:, 10, 13] == -1)
    width = y[:, 10, 10]
    assert width.max() > 0.9 and width.min() < 0.1  # sigma near 0 and sigma near 2 both drawn
    y0, _ = Blur(sigma_px=(0.0, 0.0))(x, m, _gen())
    assert torch.allclose(y0, x)


def test_log_has_no_nan_for_gaps_and_zeros() -> None:
    x = torch.tensor([[[-1.0, 0.0, 10.0, 1e9]]])
    y, _ = Log()(x, torch.tensor([[[False, True, True, True]]]), _gen())
    assert torch.all(torch.isfinite(y))
    assert torch.allclose(y, torch.log(torch.tensor([[[0.1, 0.1, 10.1, 1e9 + 0.1]]])))


def test_random_crop_is_a_sub_window_of_the_same_place_in_x_and_mask() -> None:
    b, h, w = 300, 12, 16
    x = _ramp(b, h, w)
    mask = torch.rand(b, h, w, generator=_gen(1)) > 0.3
    y, m = RandomCrop((8, 10))(x, mask, _gen())
    assert y.shape == m.shape == (b, 8, 10)
    top, left = (y[:, 0, 0].long() - 1) // w, (y[:, 0, 0].long() - 1) % w
    for k in range(b):
        t, lft = int(top[k]), int(left[k])
        assert torch.equal(y[k], x[k, t:t + 8, lft:lft + 10])
        assert torch.equal(m[k], mask[k, t:t + 8, lft:lft + 10])
    assert set(top.tolist()) == set(range(5)) and set(left.tolist()) == set(range(7))
    yc, _ = RandomCrop(8, center=True)(x, mask, _gen())
    assert torch.equal(yc, x[:, 2:10, 4:12])
    with pytest.raises(UserError, match="larger than the image"):
        RandomCrop(13)(x, mask, _gen())


def test_standardize_gives_zero_mean_unit_std_on_measured_pixels() -> None:
    x = torch.rand(5, 30, 30, generator=_gen(2), dtype=torch.float64) * 100 + 7
    mask = torch.rand(5, 30, 30, generator=_gen(3)) > 0.2
    x[~mask] = 1e6  # masked values must not count
    y, m = Standardize()(x, mask, _gen())
    for k in range(5):
        v = y[k][mask[k]]
        assert abs(v.mean().item()) < 1e-12 and abs(v.std(unbiased=False).item() - 1) < 1e-12
    assert torch.all(y[~m] == 0)
    flat, fm = _const(3.0, 1, 4, 4)
    assert torch.all(Standardize()(flat, fm, _gen())[0] == 0)


def test_same_seed_same_output_other_seed_other_output() -> None:
    x = torch.rand(4, 64, 64, generator=_gen(4), dtype=torch.float64) * 1e3
    pipe = detector_pipeline(crop=48)
    a, ma = pipe(x, seed=3)
    b, mb = pipe(x, seed=3)
    c, _ = pipe(x, gen=torch.Generator().manual_seed(3))
    d, _ = pipe(x, seed=4)
    assert torch.equal(a, b) and torch.equal(ma, mb) and torch.equal(a, c)
    assert not torch.equal(a, d)
    torch.manual_seed(5)
    e, _ = pipe(x)
    torch.manual_seed(5)
    assert torch.equal(e, pipe(x)[0])  # without gen or seed: follows torch's global seed


@pytest.mark.parametrize("make", [talk_pipeline, detector_pipeline])
def test_images_of_a_batch_get_their_own_draws(make) -> None:
    x = _ramp(6, 64, 64).float() * 10
    y, m = make(crop=56)(x, seed=0)
    assert y.dtype == torch.float32 and y.shape == (6, 56, 56) and torch.all(torch.isfinite(y))
    for k in range(1, 6):
        assert not torch.equal(y[0], y[k]) and not torch.equal(m[0], m[k])


def test_nan_pixels_become_masked_and_network_input_has_a_mask_channel() -> None:
    x = torch.full((2, 32, 32), 100.0)
    x[:, 5, 5] = float("nan")
    y, m = talk_pipeline(crop=None)(x, seed=0)
    assert torch.all(torch.isfinite(y)) and not m[:, 5, 5].any() and y[0, 5, 5] == 0
    net = to_network_input(y, m)
    assert net.shape == (2, 2, 32, 32) and torch.equal(net[:, 1], m.float())
    assert torch.equal(net[:, 0], y) and to_network_input(y, m, mask_channel=False).shape[1] == 1


def test_pipeline_orders() -> None:
    assert [type(s).__name__ for s in talk_pipeline().steps] == [
        "Scale", "Poisson", "BeamStop", "DeadStrip", "Log", "RandomCrop", "Standardize"]
    names = [type(s).__name__ for s in detector_pipeline().steps]
    assert names.index("Blur") < names.index("Poisson") < names.index("ModuleGaps")
    assert names.index("SmoothBackground") < names.index("Poisson") < names.index("Log")
    assert names[-3:] == ["Log", "RandomCrop", "Standardize"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_runs_on_the_gpu_with_a_gpu_generator() -> None:
    x = _ramp(3, 64, 64).cuda()
    a, ma = detector_pipeline(crop=32)(x, seed=1)
    b, _ = detector_pipeline(crop=32)(x, gen=torch.Generator("cuda").manual_seed(1))
    assert a.is_cuda and ma.is_cuda and torch.equal(a, b)


@pytest.mark.parametrize("make", [
    lambda: Scale((2.0, -2.0)), lambda: Scale((0.0, math.inf)), lambda: Scale(1.0),
    lambda: BeamStop(width_px=(0, 3)), lambda: DeadStrip(width_px=(3.5, 4)),
    lambda: ModuleGaps(scale=0.0), lambda: ModuleGaps(gap_px=(-1, 7)),
    lambda: FlatBackground(level=(-1.0, 0.0)), lambda: SmoothBackground(grid=1),
    lambda: CenterShift(-1), lambda: Blur(sigma_px=(-1.0, 1.0)), lambda: Log(offset=0.0),
    lambda: RandomCrop(0), lambda: RandomCrop((10, 0)), lambda: Compose(("nope",)),
])
def test_bad_settings_are_user_errors(make) -> None:
    with pytest.raises(UserError):
        make()


def test_downsample_averages_measured_pixels_of_each_block() -> None:
    from deepgisas.data.augment import Downsample

    x = torch.arange(16.0).reshape(1, 4, 4)
    mask = torch.ones(1, 4, 4, dtype=torch.bool)
    mask[0, 0, 0] = False  # value 0 is not measured
    mask[0, 2:, 2:] = False  # a whole block missing
    y, m = Downsample((2, 2))(x, mask, torch.Generator())
    assert torch.allclose(y, torch.tensor([[[(1 + 4 + 5) / 3, 4.5], [10.5, 0.0]]]))
    assert m.tolist() == [[[True, True], [True, False]]]
    y2, _ = Downsample((1, 2))(x, torch.ones_like(mask), torch.Generator())
    assert y2.shape == (1, 4, 2) and y2[0, 0, 0] == 0.5
    with pytest.raises(UserError):
        Downsample((3, 3))(x, mask, torch.Generator())


def test_downsample_equals_the_reshape_reduction() -> None:
    """The block sums (strided slices, for speed) equal the plain reshape-and-sum."""
    from deepgisas.data.augment import Downsample

    x = torch.rand(3, 12, 10, generator=_gen(4), dtype=torch.float64)
    mask = torch.rand(3, 12, 10, generator=_gen(5)) > 0.3
    for f in ((4, 2), (3, 5), (1, 1), (12, 10)):
        m = mask.to(x.dtype)
        s = (x * m).reshape(3, 12 // f[0], f[0], 10 // f[1], f[1]).sum(dim=(2, 4))
        n = m.reshape(3, 12 // f[0], f[0], 10 // f[1], f[1]).sum(dim=(2, 4))
        y, ym = Downsample(f, "sum")(x, mask, torch.Generator())
        assert torch.allclose(y, s / n.clamp_min(1) * (f[0] * f[1])) and torch.equal(ym, n > 0)


def test_downsample_sum_bins_counts() -> None:
    """reduce="sum": the counts of a detector with bigger pixels; a partly masked block is
    extrapolated from its measured pixels."""
    from deepgisas.data.augment import Downsample

    x = torch.arange(16.0).reshape(1, 4, 4)
    mask = torch.ones_like(x, dtype=torch.bool)
    y, m = Downsample((2, 2), "sum")(x, mask, torch.Generator())
    assert torch.equal(y[0], torch.tensor([[10.0, 18.0], [42.0, 50.0]])) and m.all()
    mask[0, 0, 0] = False  # block 0 has measured 1, 4, 5: mean 10/3, times 4 pixels
    y, m = Downsample((2, 2), "sum")(x, mask, torch.Generator())
    assert y[0, 0, 0].item() == pytest.approx(40 / 3) and m.all()
    with pytest.raises(UserError, match="reduce"):
        Downsample((2, 2), "max")


def test_random_crop_jitter_stays_near_the_centre() -> None:
    from deepgisas.data.augment import RandomCrop

    x = torch.arange(20.0)[None, None, :].expand(64, 4, 20).contiguous()  # value = column
    mask = torch.ones_like(x, dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)
    y, _ = RandomCrop((4, 10), jitter=2)(x, mask, gen)
    left = y[:, 0, 0]
    assert left.min() == 3 and left.max() == 7  # centre window starts at column 5
    y0, _ = RandomCrop((4, 10), jitter=0)(x, mask, gen)
    yc, _ = RandomCrop((4, 10), center=True)(x, mask, gen)
    assert torch.equal(y0, yc)
    anywhere, _ = RandomCrop((4, 10))(x, mask, gen)
    assert anywhere[:, 0, 0].min() < 3 and anywhere[:, 0, 0].max() > 7
    with pytest.raises(UserError, match="jitter"):
        RandomCrop(10, jitter=-1)
