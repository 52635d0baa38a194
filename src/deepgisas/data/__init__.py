"""Training data: labels from templates, augmentation, on-the-fly and sharded datasets."""

from deepgisas.data.augment import Compose, detector_pipeline, talk_pipeline, to_network_input
from deepgisas.data.generate import generate
from deepgisas.data.labels import LabelSpace
from deepgisas.data.shard_dataset import ShardDataset
from deepgisas.data.stream import SimulatedStream, validation_batches

__all__ = [
    "Compose",
    "LabelSpace",
    "ShardDataset",
    "SimulatedStream",
    "detector_pipeline",
    "generate",
    "talk_pipeline",
    "to_network_input",
    "validation_batches",
]
