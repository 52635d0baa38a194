"""Live at the beamline: a stream's results in a browser (the dashboard), from and to
Bluesky documents, and from a Tiled node."""
