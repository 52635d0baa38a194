"""Predictions of a trained model for detector images: xi distributions, or parameters with
their standard deviations. Preprocessing comes from the model card's input specification."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgisas.data.augment import center_window, to_network_input
from deepgisas.data.preprocess import InputSpec
from deepgisas.io.description import read_instrument
from deepgisas.io.images import ModelImages
from deepgisas.models.heads import FlowHead, GaussianHead
from deepgisas.models.nets import for_inference
from deepgisas.models.onnx import select_engine
from deepgisas.models.store import model_dir
from deepgisas.models.trained import TrainedModel
from deepgisas.priors import bound_flag

BATCH = 64
FLOW_SAMPLES = 512  # draws behind a flow model's answer
QUANTILES = (0.05, 0.16, 0.5, 0.84, 0.95)
FOLD_MIN = 16  # images from which the folded copy (for_inference, ~5 ms to make) is used


def network_input(images: np.ndarray, spec: InputSpec) -> torch.Tensor:
    """[n, rows, cols] float64 with NaN = masked -> the network input [n, C, h, w] float32.

    The centre crop (the first step of ``spec.predict()``) is taken on the array first, so the
    type conversion and the mask see only the pixels the network uses (the same result)."""
    rows, cols = images.shape[-2:]
    if spec.crop[0] <= rows and spec.crop[1] <= cols:
        images = images[(..., *center_window((rows, cols), spec.crop))]
    x = torch.from_numpy(np.ascontiguousarray(images)).float()
    x, mask = spec.predict()(x, seed=0)  # NaN and infinite pixels are masked
    return to_network_input(x, mask, spec.mask_channel)


class Predictor:
    """A model loaded once, callable on batches of images: the results of :func:`predict_arrays`.

    ``model``: a bundled name or a model directory; ``net_and_card``: an already loaded
    network and card; ``engine``: "auto" runs the model's ``model.onnx`` with ONNX Runtime when
    its export measured that faster than eager torch (same result to 1e-5), "torch" or "onnx"
    force one; ``threads``: ONNX Runtime's threads (default torch's).
    Streaming keeps one of these for the whole run. The torch engine runs the network as
    trained until a call brings ``FOLD_MIN`` images; from then on its folded copy
    (:func:`~deepgisas.models.nets.for_inference`: for one image, making the copy costs more
    than it saves).
    """

    def __init__(self, model: str | Path, net_and_card: tuple | None = None,
                 engine: str = "auto", threads: int | None = None) -> None:
        self.model = trained = TrainedModel.load(model, net_and_card)
        net = trained.net
        runner = select_engine(model_dir(model), engine, threads)
        self.engine = "onnx" if runner is not None else "torch"
        # the caller's network runs as it is only if already in eval mode (never changed here)
        eager = runner is None and not net.training
        self.net = runner if runner is not None else (net if eager else for_inference(net))
        self._eager: Any = net if eager else None  # folded on demand
        self.card, self.head, self.spec = trained.card, trained.head, trained.spec
        self.template, self.labels, self.name = trained.template, trained.labels, trained.name

    @property
    def kind(self) -> str:
        """"distribution" (an orientation model), "gaussian" or "flow" (parameter models)."""
        return self.card.head

    @property
    def parameter_names(self) -> list[str]:
        """The names of a parameter model's outputs (as in its results), else []."""
        if self.kind == "distribution":
            return []
        return list(self.labels.names)

    def __call__(self, images: np.ndarray) -> list[dict[str, Any]]:
        """Results for images [n, rows, cols] (NaN = masked), one dict per image."""
        if self._eager is not None and len(images) >= FOLD_MIN:
            self.net, self._eager = for_inference(self._eager), None
        outs = []
        with torch.no_grad():
            for start in range(0, len(images), BATCH):
                outs.append(self.net(network_input(images[start:start + BATCH], self.spec)))
        out = torch.cat(outs).double()
        if self.kind == "distribution":
            p = torch.softmax(out, -1).numpy()
            xi = self.labels.xi_deg().tolist()
            return [{"xi_deg": xi, "probability": (row / row.sum()).tolist()} for row in p]
        results = (self._flow(out.float()) if isinstance(self.head, FlowHead)
                   else self._gaussian(out))
        labels = self.labels
        for r in results:
            outside = {}
            for path, prior in zip(labels.numeric, labels.priors, strict=True):
                name = labels.short[path]
                flag = bound_flag(prior, r["parameters"][name])
                if flag is not None:
                    outside[name] = flag
            if outside:  # the network's answer lies beyond the range it was trained on
                r["outside_prior"] = outside
        return results

    def _gaussian(self, out: torch.Tensor) -> list[dict[str, Any]]:
        """Mean and std per parameter; the std maps through the prior: half the width of the
        mapped +-1 std interval."""
        assert isinstance(self.head, GaussianHead)
        mean, std = self.head.mean_std(out)
        labels = self.labels
        val, lo = labels.decode(mean.numpy()), labels.decode((mean - std).numpy())
        hi = labels.decode((mean + std).numpy())
        return [{"parameters": {k: float(val[k][i]) for k in val},
                 "std": {k: float(abs(hi[k][i] - lo[k][i]) / 2) for k in val}}
                for i in range(out.shape[0])]

    def _flow(self, out: torch.Tensor) -> list[dict[str, Any]]:
        """From ``FLOW_SAMPLES`` draws of the flow (the same seeded base draws for every image,
        so an image's answer does not depend on its batch), in physical units: the posterior
        mean, std and quantiles (5, 16, 50, 84, 95 %) per parameter, and ``modes``: the
        draws of highest density (up to 3, one per cluster), starts for a fit."""
        assert isinstance(self.head, FlowHead)
        base = torch.randn((FLOW_SAMPLES, self.head.features),
                           generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            draws, logp = self.head.sample_and_log_prob(out, FLOW_SAMPLES, base)  # [S, B, P]
        unit = draws.clamp(0, 1).double().numpy()
        names = list(self.labels.names)
        results = []
        for i in range(out.shape[0]):
            phys = self.labels.decode(unit[:, i])
            arr = np.stack([phys[k] for k in names], 1)  # [S, P]
            q = np.quantile(arr, QUANTILES, axis=0)
            modes: list[dict[str, float]] = []
            taken: list[np.ndarray] = []
            for j in np.argsort(-logp[:, i].numpy()):
                if all(np.abs(unit[j, i] - u).max() > 0.1 for u in taken):
                    taken.append(unit[j, i])
                    modes.append({k: float(arr[j, n]) for n, k in enumerate(names)})
                if len(modes) == 3:
                    break
            results.append({
                "parameters": {k: float(arr[:, n].mean()) for n, k in enumerate(names)},
                "std": {k: float(arr[:, n].std()) for n, k in enumerate(names)},
                "quantiles": {k: {f"{int(round(100 * lv))}": float(q[m, n])
                                  for m, lv in enumerate(QUANTILES)}
                              for n, k in enumerate(names)},
                "modes": modes})
        return results


def predict_arrays(model: str | Path, images: np.ndarray, net_and_card: tuple | None = None,
                   engine: str = "auto") -> list[dict[str, Any]]:
    """Results for images [n, rows, cols] (NaN = masked), one dict per image.

    ``engine``: as for :class:`Predictor`.
    """
    return Predictor(model, net_and_card, engine)(images)


class ExtrapolationWarning(UserWarning):
    """The beam or detector lies outside what a model was trained on."""


def check_extrapolation(entries: Sequence[dict[str, Any]], where: str, strict: bool = False
                        ) -> None:
    """Warn (:class:`ExtrapolationWarning`) once per entry of :attr:`ModelImages.extrapolation`,
    or with ``strict`` raise a UserError naming ``where``."""
    from deepgisas.errors import UserError
    from deepgisas.io.instrument import describe

    if strict and entries:
        raise UserError("extrapolation (strict): " + "; ".join(describe(e) for e in entries),
                        where, setting="strict")
    for e in entries:
        warnings.warn(f"{where}: extrapolation: {describe(e)}", ExtrapolationWarning,
                      stacklevel=2)


def warn_outside_prior(results: Sequence[dict[str, Any]], names: Sequence[str]) -> None:
    """One warning per parameter a result puts beyond its prior (``outside_prior``)."""
    from deepgisas.priors import describe_bound

    for name, r in zip(names, results, strict=True):
        for k, flag in r.get("outside_prior", {}).items():
            warnings.warn(f"{name}: network: {describe_bound(k, flag)}", ExtrapolationWarning,
                          stacklevel=2)


def predict_files(model: str | Path, paths: Sequence[str | Path],
                  instrument: str | Path | None = None, engine: str = "auto",
                  alpha_i_deg: float | None = None, orientation: str | None = None,
                  keep_negative: bool = False, strict: bool = False) -> dict[str, Any]:
    """The contract's ``{"model": NAME, "results": [...]}`` for image files of any supported
    format. With ``instrument`` (a description file, its sample ignored, or a pyFAI PONI
    file; ``alpha_i_deg`` and ``orientation`` replace its incidence angle and detector
    orientation, see :func:`~deepgisas.io.description.read_instrument`) each image is resampled from
    the instrument's geometry onto the model's detector grid, in q (the instrument's
    wavelength and incidence angle matched to the model's, :mod:`deepgisas.io.instrument`),
    and ``"instrument"`` records both beams; without it each image must already have the
    model's shape. Each result holds ``extrapolation``: what the model was not trained on
    (warned, and with ``strict`` an error), and, for a parameter model, ``outside_prior``
    for values beyond the priors. Warns (``OutsideWarning``) per image when the model's grid
    reaches outside the measured detector. ``keep_negative``: negative pixel values are kept
    (background-subtracted data), not masked."""
    return predict_files_and_images(model, paths, instrument, engine, alpha_i_deg,
                                    orientation, keep_negative, strict)[0]


def predict_files_and_images(model: str | Path, paths: Sequence[str | Path],
                             instrument: str | Path | None = None, engine: str = "auto",
                             alpha_i_deg: float | None = None, orientation: str | None = None,
                             keep_negative: bool = False, strict: bool = False
                             ) -> tuple[dict[str, Any], np.ndarray, Predictor]:
    """:func:`predict_files`, with the images as the model saw them ([n, rows, cols] on its
    detector grid, NaN = masked) and the :class:`Predictor`."""
    predictor = Predictor(model, engine=engine)
    inst = (read_instrument(instrument, alpha_i_deg, orientation) if instrument is not None
            else None)
    reader = ModelImages(predictor.template, inst, str(instrument), keep_negative, orientation)
    if strict:
        check_extrapolation(reader.extrapolation, str(instrument), strict)
    # a grid partly outside the detector is said once, as extrapolation, above 1 %
    outside_said = any(e["what"] == "detector.outside_fraction" for e in reader.extrapolation)
    images = np.stack([reader(p, warn=not outside_said) for p in paths])
    check_extrapolation(reader.extrapolation, str(instrument))  # the files are good: warn
    results = predictor(images)
    warn_outside_prior(results, [str(p) for p in paths])
    out: dict[str, Any] = {"model": predictor.name}
    if reader.match is not None:
        out["instrument"] = {"file": str(instrument), **reader.match.to_dict()}
    out["results"] = [{"image": str(p), **r, "extrapolation": reader.extrapolation}
                      for p, r in zip(paths, results, strict=True)]
    return out, images, predictor
