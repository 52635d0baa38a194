"""A stream listener that keeps a NeXus HDF5 file of the run's rows
(:class:`~deepgisas.io.nexus.ResultsFile`: one resizable dataset per CSV column)."""

from __future__ import annotations

from pathlib import Path

from deepgisas.io.nexus import ResultsFile
from deepgisas.stream.events import StreamBatch, StreamInfo, StreamStatus


class NexusWriter:
    """Writes a stream's rows to ``path`` as they come: the file is created when the run
    starts, with the rows resumed from an earlier run, then each batch's rows are appended
    and flushed, so the file holds every row of the CSV. ``instrument``: the instrument
    file, recorded with the provenance."""

    def __init__(self, path: str | Path, instrument: str | None = None) -> None:
        self.path = Path(path)
        self.instrument = instrument
        self.file: ResultsFile | None = None

    def started(self, info: StreamInfo) -> None:
        from deepgisas import __version__

        self.file = ResultsFile(self.path, info.columns, __version__, info.card,
                                input_files=[info.source], instrument=self.instrument,
                                objective=f"fit {info.fit}" if info.fit else "network",
                                rows=info.resumed)

    def batch(self, batch: StreamBatch) -> None:
        if self.file is not None:
            self.file.append(batch.rows)

    def stopped(self, status: StreamStatus) -> None:
        self.stop()

    def stop(self) -> None:
        """Close the file (again: harmless)."""
        if self.file is not None:
            self.file.close()
