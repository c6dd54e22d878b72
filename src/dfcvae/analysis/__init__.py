"""What the paper and its reproductions do with a trained model, one function each.

Each function takes a run directory (or a ``Run`` from ``open_run``, to load a model once) and
returns tensors, arrays or plain numbers; ``dfcvae.report`` turns them into PNG grids, figures
and the HTML report, and ``dfcvae`` CLI commands are thin shells over them. ``analyse``
(``analysis.pipeline``) computes everything the report shows, for several runs at once.
"""

from dfcvae.analysis.attributes import (
    attribute_correlation,
    attribute_vectors,
    attribute_vectors_from_latents,
    edit,
    read_attribute_vectors,
    save_attribute_vectors,
)
from dfcvae.analysis.embedding import Embedding, tsne
from dfcvae.analysis.evaluate import evaluate
from dfcvae.analysis.frechet import frechet_distance
from dfcvae.analysis.grids import Reconstruction, interpolate, reconstruct, sample
from dfcvae.analysis.latents import encode_dataset
from dfcvae.analysis.pipeline import AnalysisResults, AnalysisSettings, analyse
from dfcvae.analysis.predict import AttributePrediction, linear_svm_accuracy, predict_attributes
from dfcvae.analysis.quality import laplacian_variance, paired_t_test
from dfcvae.analysis.runs import MissingLabelsError, Run, open_run
from dfcvae.analysis.user_images import ResizedImageWarning

__all__ = [
    "AnalysisResults",
    "AnalysisSettings",
    "AttributePrediction",
    "Embedding",
    "MissingLabelsError",
    "Reconstruction",
    "ResizedImageWarning",
    "Run",
    "analyse",
    "attribute_correlation",
    "attribute_vectors",
    "attribute_vectors_from_latents",
    "edit",
    "encode_dataset",
    "evaluate",
    "frechet_distance",
    "interpolate",
    "laplacian_variance",
    "linear_svm_accuracy",
    "open_run",
    "paired_t_test",
    "predict_attributes",
    "read_attribute_vectors",
    "reconstruct",
    "sample",
    "save_attribute_vectors",
    "tsne",
]
