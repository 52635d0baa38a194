"""Detector files -> one image, rows from the bottom, with its mask and metadata.

One function, :func:`read_detector_image`, reads every supported format:

=================================  ==========  =======================================
format (each also ``.gz``)         library     orientation in the file (default)
=================================  ==========  =======================================
``.tif``/``.tiff``, ``.cbf``,      fabio       row 0 = top of the detector: flipped
``.edf`` (multi-frame: ``frame``)
``.h5``/``.hdf5``/``.nxs``/``.nx``  h5py        row 0 = top (NeXus/beamline habit): flipped
``.txt``/``.dat``/``.asc`` (ASCII  numpy       row 0 = top: flipped
matrix, e.g. MARIA)
``.npy``                           numpy       as written by ``deepgisas simulate``:
                                               row 0 = bottom (lowest alpha_f), kept
=================================  ==========  =======================================

``orientation`` overrides the default: ``"top-down"`` (flip the rows), ``"bottom-up"`` (keep),
or ``"vertical"`` (a vertical-sample instrument such as MARIA: file columns are alpha_f,
growing to the right, and file rows are phi_f; the image is transposed so that rows are
alpha_f from the bottom). In the returned image, row 0 is always the bottom of the detector
(lowest alpha_f) and columns grow with phi_f.

Integer counts become float64. Masked (``mask`` True): negative pixels (Pilatus module gaps are
-1, bad pixels -2), pixels at the largest value of an integer type (saturated / overflow
markers) and non-finite values. ``keep_negative`` keeps negative values (background-subtracted
data). Why pixels were masked is counted in ``metadata["masked"]``
(:func:`mask_reasons`, :func:`describe_mask`). Every problem is a one-line :class:`UserError`
naming the file.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepgisas.errors import UserError

FABIO_SUFFIXES = (".tif", ".tiff", ".cbf", ".edf")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx", ".nx5")
ASCII_SUFFIXES = (".txt", ".dat", ".asc")
SUFFIXES = (".npy", *FABIO_SUFFIXES, *HDF5_SUFFIXES, *ASCII_SUFFIXES)
ORIENTATIONS = ("top-down", "bottom-up", "vertical")
MAX_PIXELS = 64_000_000  # refuse larger images: a corrupt header must not exhaust memory
MAX_BYTES = 2_000_000_000  # refuse to decompress more than this
CBF_STARTER = b"\x0c\x1a\x04\xd5"  # start of a CBF binary section


@dataclass(frozen=True)
class DetectorImage:
    """``data``: float64 [rows, cols], row 0 = bottom of the detector, masked pixels NaN;
    ``mask``: bool [rows, cols], True where a pixel is masked; ``metadata``: header values
    (strings or numbers) and ``format``, ``orientation``, ``frame``, ``dtype``."""

    path: str
    data: np.ndarray
    mask: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.data.shape[0]), int(self.data.shape[1]))


class _Quiet:
    """Silence stdout and warnings while fabio reads, safely across threads.

    ``contextlib.redirect_stdout`` and ``warnings.catch_warnings`` swap process-wide state and
    are not thread-safe: two overlapping readers would restore each other's replacement and
    leave stdout silenced. Here the first reader to enter swaps, the last to leave restores.
    (While any reader is inside, warnings of other threads are ignored too.)
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.stack: contextlib.ExitStack | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self.lock:
            if self.depth == 0:
                self.stack = contextlib.ExitStack()
                self.stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
                self.stack.enter_context(warnings.catch_warnings())
                warnings.simplefilter("ignore")
            self.depth += 1
        try:
            yield
        finally:
            with self.lock:
                self.depth -= 1
                if self.depth == 0 and self.stack is not None:
                    self.stack.close()
                    self.stack = None


_quiet = _Quiet()


def _kind(p: Path) -> tuple[str, bool]:
    """(format suffix without .gz, gzipped?)."""
    suffixes = [s.lower() for s in p.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    suffix = (suffixes[-2] if len(suffixes) > 1 else "") if gz else (suffixes[-1] if suffixes
                                                                      else "")
    if suffix not in SUFFIXES:
        raise UserError(f"unsupported image format {''.join(p.suffixes[-2:])!r} "
                        f"(supported: {', '.join(SUFFIXES)}, each optionally .gz)", str(p))
    return suffix, gz


def _bytes(p: Path, gz: bool) -> bytes:
    if not gz:
        return p.read_bytes()
    with gzip.open(p, "rb") as f:
        out = f.read(MAX_BYTES + 1)
    if len(out) > MAX_BYTES:
        raise UserError(f"decompresses to more than {MAX_BYTES} bytes", str(p))
    return out


def _read_npy(p: Path, gz: bool) -> tuple[np.ndarray, dict]:
    arr = np.load(io.BytesIO(_bytes(p, gz)), allow_pickle=False)
    return arr, {}


def _read_ascii(p: Path, gz: bool) -> tuple[np.ndarray, dict]:
    text = _bytes(p, gz).decode("ascii")
    rows = [line.split() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise UserError("no numbers in the ASCII matrix", str(p))
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise UserError("the rows of the ASCII matrix have different lengths", str(p))
    return np.array(rows, dtype=np.float64), {}


def _edf_fix(img: Any, raw: bytes) -> np.ndarray | None:
    """Some EDF writers (SOLEIL SWING 2010) declare ``Size`` for 16-bit data but store the
    ``DataType`` they name (SignedInteger = 32 bit), one frame filling the rest of the file.
    Returns that frame when the numbers say so, else None."""
    h = img.header
    try:
        n1, n2, size = int(h["Dim_1"]), int(h["Dim_2"]), int(h.get("Size", -1))
        start = int(img._frames[0].start)  # end of the first header (fabio's own parse)
    except (KeyError, ValueError, AttributeError, IndexError):
        return None
    dtypes = {"signedinteger": "i4", "unsignedinteger": "u4", "signedshort": "i2",
              "unsignedshort": "u2", "signedlong": "i4", "unsignedlong": "u4",
              "floatvalue": "f4", "float": "f4", "doublevalue": "f8", "signedbyte": "i1",
              "unsignedbyte": "u1"}
    name = str(h.get("DataType", "")).strip().lower()
    if name not in dtypes or getattr(img, "nframes", 1) != 1:
        return None
    order = "<" if "low" in str(h.get("ByteOrder", "LowByteFirst")).lower() else ">"
    dt = np.dtype(order + dtypes[name])
    need = n1 * n2 * dt.itemsize
    if size == need or len(raw) - start != need:
        return None
    return np.frombuffer(raw, dt, count=n1 * n2, offset=start).reshape(n2, n1)


def _read_fabio(p: Path, gz: bool, frame: int) -> tuple[np.ndarray, dict]:
    import fabio

    logging.getLogger("fabio").setLevel(logging.CRITICAL)  # fabio logs corrupt headers
    suffix = p.suffixes[-2 if gz else -1].lower()
    raw = _bytes(p, gz) if suffix in (".cbf", ".edf") else b""
    if suffix == ".cbf" and CBF_STARTER not in raw:  # fabio 2026.6 loops forever without it
        raise UserError("not a CBF image: no binary section", str(p))
    with _quiet():  # fabio prints when it gunzips; PIL warns on bad TIFFs
        img = fabio.open(str(p))
    nframes = int(getattr(img, "nframes", 1) or 1)
    if not 0 <= frame < nframes:
        raise UserError(f"frame {frame} does not exist ({nframes} frame(s) in the file)", str(p))
    fixed = _edf_fix(img, raw) if suffix == ".edf" else None
    if frame > 0:
        with _quiet():
            img = img.getframe(frame)
    data = fixed if fixed is not None else img.data
    meta = {str(k): v for k, v in dict(img.header).items() if isinstance(v, str | int | float)}
    meta.update(nframes=nframes, reader=type(img).__name__)
    if fixed is not None:
        meta["edf_size_ignored"] = True
    return data, meta


def _find_nxdata(f: Any) -> str | None:
    """The first NXdetector's ``data`` (or an NXdata's signal), else the largest 2-D/3-D set."""
    found: list[str] = []
    best: list[tuple[int, str]] = []

    def visit(name: str, obj: Any) -> None:
        cls = obj.attrs.get("NX_class", b"")
        cls = cls.decode() if isinstance(cls, bytes) else str(cls)
        if cls == "NXdetector" and "data" in obj and hasattr(obj["data"], "shape"):
            found.append(f"{name}/data")
        if hasattr(obj, "shape") and hasattr(obj, "dtype") and len(obj.shape) in (2, 3) \
                and np.issubdtype(obj.dtype, np.number):
            best.append((int(np.prod(obj.shape)), name))

    f.visititems(visit)
    if found:
        return found[0]
    return max(best)[1] if best else None


def _read_hdf5(p: Path, gz: bool, frame: int, dataset: str | None) -> tuple[np.ndarray, dict]:
    import h5py

    src: Any = io.BytesIO(_bytes(p, gz)) if gz else str(p)
    with h5py.File(src, "r") as f:
        name = dataset or _find_nxdata(f)
        if name is None:
            raise UserError("no 2-D image dataset (NXdetector/data) in the file", str(p))
        if name not in f or not hasattr(f[name], "shape"):
            raise UserError(f"no dataset {name!r} in the file", str(p))
        ds = f[name]
        if int(np.prod(ds.shape)) > MAX_PIXELS * 64:
            raise UserError(f"dataset {name!r} is too large: {ds.shape}", str(p))
        if len(ds.shape) == 3:
            if not 0 <= frame < ds.shape[0]:
                raise UserError(f"frame {frame} does not exist ({ds.shape[0]} frames in "
                                f"{name!r})", str(p))
            data = ds[frame]
        else:
            if frame != 0:
                raise UserError(f"frame {frame} does not exist (one frame in {name!r})", str(p))
            data = ds[()]
        meta = {"dataset": name, "nframes": ds.shape[0] if len(ds.shape) == 3 else 1}
    return np.asarray(data), meta


def _checked(raw: np.ndarray, p: Path) -> np.ndarray:
    """``raw`` as one 2-D numeric image of a sensible size, else a UserError."""
    while raw.ndim > 2 and raw.shape[0] == 1:  # [1, rows, cols]: one frame
        raw = raw[0]
    if raw.ndim != 2 or raw.size == 0 or not (np.issubdtype(raw.dtype, np.integer)
                                               or np.issubdtype(raw.dtype, np.floating)
                                               or raw.dtype == np.bool_):
        raise UserError(f"expected a 2-D numeric image, got {raw.dtype} {raw.shape}", str(p))
    if raw.size > MAX_PIXELS:
        raise UserError(f"image of {raw.shape} is too large", str(p))
    return raw


def _to_float(raw: np.ndarray, keep_negative: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Counts -> float64 and the mask (negative unless ``keep_negative``, integer-saturated,
    non-finite)."""
    data = raw.astype(np.float64)
    mask = masked_pixels(raw, keep_negative)
    data[mask] = np.nan
    return data, mask


def _negative(raw: np.ndarray) -> np.ndarray:
    if raw.dtype == np.bool_ or np.issubdtype(raw.dtype, np.unsignedinteger):
        return np.zeros(raw.shape, bool)
    with np.errstate(invalid="ignore"):
        return raw < 0


def _saturated(raw: np.ndarray) -> np.ndarray:
    if np.issubdtype(raw.dtype, np.integer) and raw.dtype.itemsize > 1:
        return raw == np.iinfo(raw.dtype).max
    return np.zeros(raw.shape, bool)


def masked_pixels(raw: np.ndarray, keep_negative: bool = False) -> np.ndarray:
    """True where a pixel value (any shape, the file's dtype) is masked: negative (gaps; kept
    with ``keep_negative``), the largest value of a wider integer type (saturated /
    overflow), or not finite."""
    mask = _saturated(raw)
    if not keep_negative:
        mask |= _negative(raw)
    if np.issubdtype(raw.dtype, np.floating):
        mask |= ~np.isfinite(raw)
    return mask


GAP_MARKERS = (-1.0, -2.0)  # Pilatus / Eiger: -1 module gaps, -2 bad pixels


def mask_reasons(raw: np.ndarray, keep_negative: bool = False) -> dict[str, Any]:
    """Why pixels of ``raw`` (the file's values) are masked: counts of ``gaps`` (negative
    values that are all -1 or -2, the gap and bad-pixel markers of hybrid-pixel detectors),
    ``negative`` (other negative values, e.g. background-subtracted data; with their
    ``negative_range`` [min, median, max]), ``saturated`` (the integer type's largest value)
    and ``not_finite``; ``kept_negative`` counts the negative values kept with
    ``keep_negative``. ``pixels``: the image's size."""
    out: dict[str, Any] = {"pixels": int(raw.size)}
    neg = _negative(raw)
    n_neg = int(neg.sum())
    if n_neg:
        values = raw[neg].astype(np.float64)
        if keep_negative:
            out["kept_negative"] = n_neg
        elif np.isin(values, GAP_MARKERS).all():
            out["gaps"] = n_neg
        else:
            out["negative"] = n_neg
            out["negative_range"] = [float(values.min()), float(np.median(values)),
                                     float(values.max())]
    sat = int(_saturated(raw).sum())
    if sat:
        out["saturated"] = sat
    if np.issubdtype(raw.dtype, np.floating):
        bad = int((~np.isfinite(raw)).sum())
        if bad:
            out["not_finite"] = bad
    return out


def describe_mask(reasons: dict[str, Any]) -> str:
    """One line: what was masked and why, e.g. "31.0% masked: 31.0% negative values (-257 to
    -1, median -44: background-subtracted? --keep-negative keeps them)"."""
    n = max(int(reasons.get("pixels", 1)), 1)
    parts = []
    if reasons.get("gaps"):
        parts.append(f"{reasons['gaps'] / n:.1%} gaps and bad pixels (-1, -2)")
    if reasons.get("negative"):
        lo, med, hi = reasons["negative_range"]
        parts.append(f"{reasons['negative'] / n:.1%} negative values ({lo:g} to {hi:g}, "
                     f"median {med:g}: background-subtracted? --keep-negative keeps them)")
    if reasons.get("saturated"):
        parts.append(f"{reasons['saturated'] / n:.1%} saturated (the type's largest value)")
    if reasons.get("not_finite"):
        parts.append(f"{reasons['not_finite'] / n:.1%} not finite")
    masked = sum(int(reasons.get(k, 0)) for k in ("gaps", "negative", "saturated",
                                                  "not_finite"))
    text = f"{masked / n:.1%} masked" + (f": {'; '.join(parts)}" if parts else "")
    if reasons.get("kept_negative"):
        text += f"; {reasons['kept_negative'] / n:.1%} negative values kept"
    return text


def _orient(a: np.ndarray, orientation: str) -> np.ndarray:
    if orientation == "top-down":
        return np.ascontiguousarray(a[::-1])
    if orientation == "vertical":
        return np.ascontiguousarray(a.T)
    return a


@dataclass(frozen=True)
class RawImage:
    """A detector image as stored: ``raw`` [rows, cols] in the file's dtype and row order (not
    yet oriented, nothing masked); ``orientation`` says how it maps to row 0 = bottom."""

    path: str
    raw: np.ndarray
    orientation: str
    metadata: dict[str, Any] = field(default_factory=dict)


def read_raw_image(path: str | Path, frame: int = 0, dataset: str | None = None,
                   orientation: str | None = None) -> RawImage:
    """The file's 2-D image as stored (see :func:`read_detector_image`, which orients it and
    converts it to float64 with NaN = masked). Streaming uses this to resample without
    converting every pixel."""
    p = Path(path)
    if orientation is not None and orientation not in ORIENTATIONS:
        raise UserError(f"unknown orientation {orientation!r} ({', '.join(ORIENTATIONS)})",
                        str(p))
    if not p.is_file():
        raise UserError("no such file", str(p))
    suffix, gz = _kind(p)
    try:
        if suffix == ".npy":
            raw, meta = _read_npy(p, gz)
        elif suffix in FABIO_SUFFIXES:
            raw, meta = _read_fabio(p, gz, frame)
        elif suffix in HDF5_SUFFIXES:
            raw, meta = _read_hdf5(p, gz, frame, dataset)
        else:
            raw, meta = _read_ascii(p, gz)
        raw = _checked(np.asarray(raw), p)
    except UserError as exc:
        raise exc if exc.where else exc.located(str(p)) from None
    except Exception as exc:  # corrupt files raise anything from the libraries
        first = (str(exc).strip().splitlines() or [""])[0][:120]
        raise UserError(f"cannot read as {suffix}{'.gz' if gz else ''}: "
                        f"{exc.__class__.__name__}{': ' + first if first else ''}",
                        str(p)) from None
    orient = orientation or ("bottom-up" if suffix == ".npy" else "top-down")
    meta.update(format=suffix, gzip=gz, orientation=orient, frame=frame, dtype=str(raw.dtype))
    return RawImage(str(p), raw, orient, meta)


def read_detector_image(path: str | Path, frame: int = 0, dataset: str | None = None,
                        orientation: str | None = None, keep_negative: bool = False
                        ) -> DetectorImage:
    """Read one detector image (see the module docstring for formats and orientations).

    Args:
        path: the file.
        frame: frame index in multi-frame EDF / 3-D HDF5 data.
        dataset: HDF5 path of the image (default: the first NXdetector's ``data``, else
            the largest 2-D/3-D numeric dataset).
        orientation: override the format's default.
        keep_negative: keep negative values (background-subtracted data) instead of
            masking them.
    Returns:
        a :class:`DetectorImage` with float64 data [rows, cols], row 0 = bottom, and
        ``metadata["masked"]``: why pixels were masked (:func:`mask_reasons`).
    """
    return detector_image(read_raw_image(path, frame, dataset, orientation), keep_negative)


def raw_array(array: np.ndarray, name: str, orientation: str = "top-down") -> RawImage:
    """An image already in memory (from a Bluesky event or a Tiled array) as a
    :class:`RawImage` named ``name`` (for messages): checked like a file's image, in
    ``orientation`` (area detectors store row 0 = top: "top-down")."""
    if orientation not in ORIENTATIONS:
        raise UserError(f"unknown orientation {orientation!r} ({', '.join(ORIENTATIONS)})",
                        name)
    return RawImage(name, _checked(np.asarray(array), Path(name)), orientation)


def detector_image(r: RawImage, keep_negative: bool = False) -> DetectorImage:
    """A :class:`RawImage` oriented (row 0 = bottom) and converted to float64 with NaN =
    masked, as :func:`read_detector_image` returns it."""
    data, mask = _to_float(r.raw, keep_negative)
    meta = {**r.metadata, "masked": mask_reasons(r.raw, keep_negative)}
    return DetectorImage(r.path, _orient(data, r.orientation), _orient(mask, r.orientation),
                         meta)
