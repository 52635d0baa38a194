"""Training data: labels from templates, augmentation, on-the-fly (optionally through a replay
buffer) and sharded datasets, and a prefetch thread for the loop."""

from deepgisas.data.augment import Compose, detector_pipeline, talk_pipeline, to_network_input
from deepgisas.data.generate import generate
from deepgisas.data.labels import LabelSpace
from deepgisas.data.prefetch import Prefetcher
from deepgisas.data.replay import BufferedStream
from deepgisas.data.shard_dataset import ShardDataset
from deepgisas.data.stream import SimulatedStream, validation_batches

__all__ = [
    "BufferedStream",
    "Compose",
    "LabelSpace",
    "Prefetcher",
    "ShardDataset",
    "SimulatedStream",
    "detector_pipeline",
    "generate",
    "talk_pipeline",
    "to_network_input",
    "validation_batches",
]
