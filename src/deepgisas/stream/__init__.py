"""In-situ streaming: predict each detector frame as it arrives in a folder (``deepgisas
stream``). Small parts, each usable alone: the folder scanner with its stability check, the
atomic and resumable results CSV, the CSV columns filled from ``predict``'s results, the live
plot, the listeners and sources a run talks to, and :func:`run_stream`, which joins them."""

from deepgisas.stream.columns import Columns, orientation_summary
from deepgisas.stream.events import (
    FrameSource,
    StreamBatch,
    StreamInfo,
    StreamListener,
    StreamStatus,
)
from deepgisas.stream.plot import LivePlot
from deepgisas.stream.run import StreamConfig, StreamSummary, errors_path, plot_path, run_stream
from deepgisas.stream.scan import FolderScanner, Frame, is_frame_name
from deepgisas.stream.table import ResultsTable

__all__ = [
    "Columns",
    "FolderScanner",
    "Frame",
    "FrameSource",
    "LivePlot",
    "ResultsTable",
    "StreamBatch",
    "StreamConfig",
    "StreamInfo",
    "StreamListener",
    "StreamStatus",
    "StreamSummary",
    "errors_path",
    "is_frame_name",
    "orientation_summary",
    "plot_path",
    "run_stream",
]
