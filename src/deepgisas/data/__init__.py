"""Training data: labels from templates, augmentation, on-the-fly and sharded datasets."""
