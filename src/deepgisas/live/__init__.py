"""Live at the beamline: a stream's results in a browser (the dashboard), and predictions
from and to Bluesky documents (:class:`BlueskyCallback`, imported on use: it needs the
``beamline`` extra)."""

from typing import Any

from deepgisas.live.hub import LiveHub
from deepgisas.live.server import Dashboard, create_app, parse_address

__all__ = ["BlueskyCallback", "Dashboard", "LiveHub", "create_app", "parse_address"]


def __getattr__(name: str) -> Any:
    if name == "BlueskyCallback":
        from deepgisas.live.bluesky import BlueskyCallback

        return BlueskyCallback
    raise AttributeError(name)
