"""Live at the beamline: a stream's results in a browser (the dashboard), from and to
Bluesky documents, and from a Tiled node."""

from deepgisas.live.hub import LiveHub
from deepgisas.live.server import Dashboard, create_app, parse_address

__all__ = ["Dashboard", "LiveHub", "create_app", "parse_address"]
