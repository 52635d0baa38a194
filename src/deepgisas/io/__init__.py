"""Files at the edges: detector images, atomic writes."""
