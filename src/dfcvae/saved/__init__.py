"""A trained model on disk: a run directory's ``config.json`` + ``model.safetensors`` (or a
Lightning checkpoint) read for inference, shared in the Hugging Face Hub's layout with a model
card, or exported as ONNX files."""
