"""Live at the beamline: a stream's results in a browser (the dashboard), and predictions
from and to Bluesky documents (:class:`BlueskyCallback`), and frames from a Tiled node
(:class:`TiledSource`); both are imported on use: they need the ``beamline`` extra."""

from typing import Any

from deepgisas.live.hub import LiveHub
from deepgisas.live.server import Dashboard, create_app, parse_address

__all__ = ["BlueskyCallback", "Dashboard", "LiveHub", "TiledSource", "create_app",
           "parse_address"]


def __getattr__(name: str) -> Any:
    if name == "BlueskyCallback":
        from deepgisas.live.bluesky import BlueskyCallback

        return BlueskyCallback
    if name == "TiledSource":
        from deepgisas.live.tiled import TiledSource

        return TiledSource
    raise AttributeError(name)
