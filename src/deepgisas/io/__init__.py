"""Files at the edges: detector images, atomic writes.

:func:`read_detector_image` reads every supported detector format (fabio, h5py, numpy) into
float64 with row 0 at the bottom and masked pixels NaN; the geometry (:mod:`.geometry`),
PONI files (:mod:`.poni`) and resampling (:mod:`.resample`, :mod:`.images`) sit beside it.
"""

from deepgisas.io.readers import (
    DetectorImage,
    RawImage,
    describe_mask,
    raw_array,
    read_detector_image,
    read_raw_image,
)

__all__ = ["DetectorImage", "RawImage", "describe_mask", "raw_array",
           "read_detector_image", "read_raw_image"]
