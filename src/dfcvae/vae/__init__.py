"""The paper's VAE and its objective: the model and its config, the feature perceptual loss, the
DFC-VAE loss, the presets and the run's config that composes them; fused forms beside the
paper's layers (``fast_paths``)."""
