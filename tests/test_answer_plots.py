"""The answer pictures zoom to the pixels that count, in angles, q or pixels."""

from __future__ import annotations

import numpy as np
import pytest

import deepgisas as dg
from deepgisas.answer_plots import detector_edges, predict_figure, view_box
from deepgisas.fit.files import fit_figure
from deepgisas.fit.problem import FitResult
from deepgisas.io.geometry import pixel_to_angles, q_at
from deepgisas.templates import parse_template

ROI = (10, 20, 40, 50)  # col0, row0, col1, row1


def _flat_template() -> dg.Template:
    """The bundled film template on a small flat detector with a region of interest."""
    d = dg.load("film").to_dict()
    d["beam"]["alpha_i_deg"] = 0.3
    d["detector"] = {"rectangular": {"shape": [60, 50], "pixel_size_mm": 0.172,
                                     "distance_mm": 1730.0, "beam_center_px": [25.0, 5.0]},
                     "roi_px": list(ROI)}
    return parse_template(d)


def test_the_view_box_is_the_roi_less_masked_borders() -> None:
    t = _flat_template()
    data = np.ones((60, 50))
    c0, r0, c1, r1 = ROI
    assert view_box(data, t) == (slice(r0, r1), slice(c0, c1))
    data[:, :15] = np.nan  # a masked band across the ROI's left edge
    data[r0:r0 + 3] = np.nan  # and its lowest rows
    assert view_box(data, t) == (slice(r0 + 3, r1), slice(15, c1))
    assert view_box(np.full((60, 50), np.nan), t) == (slice(0, 60), slice(0, 50))


@pytest.mark.parametrize("axes", ["pixels", "angles", "q"])
def test_the_fit_figure_spans_the_roi_in_the_units_shown(axes: str) -> None:
    t = _flat_template()
    data = np.exp(np.random.default_rng(0).normal(size=(60, 50)))
    result = FitResult(parameters={"radius_nm": 5.0}, std={"radius_nm": 0.1}, misfit=0.1,
                       seconds=1.0, fitted=data * 1.1)
    fig = fit_figure(data, result, t, "test", axes=axes)
    c0, r0, c1, r1 = ROI
    cols, rows = np.meshgrid(np.arange(c0, c1 + 1.0), np.arange(r0, r1 + 1.0))
    if axes == "pixels":
        x, y = cols, rows
    else:
        alpha, phi = pixel_to_angles(cols, rows, t.base.detector.geometry, np.radians(0.3))
        x, y = ((np.degrees(phi), np.degrees(alpha)) if axes == "angles"
                else q_at(alpha, phi, np.radians(0.3), 0.1341)[1:])
    for ax in fig.axes[:3]:  # data, fit, residual (then the colour bars)
        assert ax.get_xlim() == pytest.approx((x.min(), x.max()))
        assert ax.get_ylim() == pytest.approx((y.min(), y.max()))
    label = {"pixels": "column (px)", "angles": r"$\phi_f$ (deg)", "q": r"$q_y$ (1/nm)"}
    assert fig.axes[0].get_xlabel() == label[axes]


def test_q_needs_the_beam_else_the_axes_fall_back() -> None:
    t = dg.load("film")  # alpha_i is free: q needs its value
    box = (slice(0, 128), slice(0, 128))
    assert detector_edges(t, box, "q")[3] == "angles"
    assert detector_edges(t, box, "q", {"alpha_i_deg": 0.2})[3] == "q"


def test_the_predict_figure_draws_one_answer_or_a_summary() -> None:
    t = dg.load("film")
    images = np.ones((3, 128, 128))
    one = {"image": "a.npy", "parameters": {"radius_nm": 5.0, "sigma": 0.2},
           "std": {"radius_nm": 0.5, "sigma": 0.01}}
    fig = predict_figure({"model": "film", "results": [one]}, images[:1], t)
    image_ax, answer_ax = fig.axes[0], fig.axes[1]
    assert image_ax.get_xlim() == pytest.approx((-2.0, 2.0), abs=0.01)  # in deg
    texts = [x.get_text() for x in answer_ax.texts]
    assert "radius_nm = 5 ± 0.5" in texts and "15" in texts  # the prior's upper end
    many = predict_figure({"model": "film", "results": [one] * 3}, images, t)
    assert [ax.get_ylabel() for ax in many.axes] == ["radius_nm", "sigma"]
    assert many.axes[0].lines[0].get_xydata()[:, 0].tolist() == [0, 1, 2]
