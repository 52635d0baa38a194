"""Predictions of a trained model for detector images: xi distributions, or parameters with
their standard deviations. Preprocessing comes from the model card's input specification."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgisas.data.augment import center_window, to_network_input
from deepgisas.data.labels import LabelSpace
from deepgisas.data.preprocess import InputSpec
from deepgisas.io.images import ModelImages
from deepgisas.models.nets import for_inference
from deepgisas.models.onnx import select_engine
from deepgisas.models.store import load_model, model_dir
from deepgisas.sample import parse_experiment, read_instrument
from deepgisas.training.losses import split_gaussian

BATCH = 64
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
        net, card = net_and_card or load_model(model)
        runner = select_engine(model_dir(model), engine, threads)
        self.engine = "onnx" if runner is not None else "torch"
        # the caller's network runs as it is only if already in eval mode (never changed here)
        eager = runner is None and not net.training
        self.net = runner if runner is not None else (net if eager else for_inference(net))
        self._eager: Any = net if eager else None  # folded on demand
        self.card = card
        self.spec = InputSpec.from_dict(card["input"])
        self.template = parse_experiment(card["template"], "model card")
        self.labels = LabelSpace.of(self.template)
        self.name = str(card.get("name") or Path(str(model)).name)

    @property
    def kind(self) -> str:
        """"distribution" (an orientation model) or "gaussian" (a parameter model)."""
        return str(self.card["head"])

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
        mean, std = split_gaussian(out)
        # the std maps through the prior: half the width of the mapped +-1 std interval
        labels = self.labels
        val, lo = labels.decode(mean.numpy()), labels.decode((mean - std).numpy())
        hi = labels.decode((mean + std).numpy())
        return [{"parameters": {k: float(val[k][i]) for k in val},
                 "std": {k: float(abs(hi[k][i] - lo[k][i]) / 2) for k in val}}
                for i in range(len(images))]


def predict_arrays(model: str | Path, images: np.ndarray, net_and_card: tuple | None = None,
                   engine: str = "auto") -> list[dict[str, Any]]:
    """Results for images [n, rows, cols] (NaN = masked), one dict per image.

    ``engine``: as for :class:`Predictor`.
    """
    return Predictor(model, net_and_card, engine)(images)


def predict_files(model: str | Path, paths: Sequence[str | Path],
                  instrument: str | Path | None = None, engine: str = "auto",
                  alpha_i_deg: float | None = None) -> dict[str, Any]:
    """The contract's ``{"model": NAME, "results": [...]}`` for image files of any supported
    format. With ``instrument`` (a description file, its sample ignored, or a pyFAI PONI
    file; ``alpha_i_deg`` replaces its incidence angle, see
    :func:`~deepgisas.sample.read_instrument`) each image is
    resampled from the instrument's geometry onto the model's detector grid; without it each
    image must already have the model's shape. Warns (``OutsideWarning``) per image when the
    model's grid reaches outside the measured detector."""
    predictor = Predictor(model, engine=engine)
    inst = read_instrument(instrument, alpha_i_deg) if instrument is not None else None
    reader = ModelImages(predictor.template, inst, str(instrument))
    results = predictor(np.stack([reader(p) for p in paths]))
    return {"model": predictor.name, "results": [{"image": str(p), **r}
                                                 for p, r in zip(paths, results, strict=True)]}
