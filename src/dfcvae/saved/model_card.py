"""The model card (``README.md``) of a shared model, in the Hugging Face Hub's form: YAML front
matter, then what the model is, how to load it, how it was trained, its evaluation if one was
given, and the licence facts of the networks it was trained with."""

from __future__ import annotations

from typing import Any

from dfcvae.vae.run_config import RunConfig

TORCHVISION_MODELS = "https://pytorch.org/vision/stable/models.html"
PAPER = "Hou, Shen, Sun, Qiu: Deep Feature Consistent Variational Autoencoder (WACV 2017)"
METRIC_ROWS = (
    ("mse", "reconstruction MSE per image (lower is better)"),
    ("psnr", "PSNR, dB (higher is better)"),
    ("ssim", "SSIM (higher is better)"),
    ("sharpness_reconstructions", "Laplacian variance of reconstructions (sharpness)"),
    ("sharpness_samples", "Laplacian variance of samples from the prior"),
    ("kl", "KL per image, nats"),
    ("lpips", "LPIPS (lower is better)"),
)


def model_card(config: RunConfig, name: str, steps: int | None, metrics: dict | None) -> str:
    """The card's text for the shared ``config`` of the run called ``name``."""
    parts = [
        front_matter(config),
        f"# {name}: a DFC-VAE ({config.preset})\n",
        f"A variational autoencoder trained with dfcvae, after {PAPER}. {objective(config)}\n",
        usage(),
        training(config, steps),
        evaluation(metrics),
        licence(config),
    ]
    return "\n".join(part for part in parts if part)


def front_matter(config: RunConfig) -> str:
    tags = ["dfcvae", "vae", "image-generation", config.preset, config.data.dataset]
    lines = ["---", "library_name: dfcvae", "tags:", *(f"- {tag}" for tag in tags), "---"]
    return "\n".join(lines) + "\n"


def objective(config: RunConfig) -> str:
    loss = config.loss
    if not loss.uses_loss_network:
        return f"Its reconstruction term is the {loss.reconstruction} loss (no loss network)."
    layers = ", ".join(loss.layers)
    return (
        f"Its reconstruction term is the feature perceptual loss of the loss network "
        f"{loss.loss_network} at {layers}; the loss network is not part of this model."
    )


def usage() -> str:
    return (
        "## Use\n\n```python\nimport dfcvae\n\n"
        'model = dfcvae.from_pretrained("THIS_FOLDER_OR_OWNER/NAME")\n'
        "images = model.sample(16)            # (16, C, H, W) in [0, 1]\n"
        "mu, logvar = model.encode(images)    # the encoder's posterior\n```\n"
    )


def training(config: RunConfig, steps: int | None) -> str:
    m, t, loss = config.model, config.train, config.loss
    rows = [
        ("preset", config.preset),
        ("data set", config.data.dataset),
        ("image size, channels", f"{m.image_size}x{m.image_size}, {m.channels}"),
        ("latent dimensions", m.latent_dim),
        ("architecture", m.architecture),
        ("reconstruction", loss.reconstruction),
        ("loss network, layers", network(config)),
        (
            "alpha (KL weight), beta (reconstruction weight)",
            f"{loss.kl_weight}, {loss.recon_weight}",
        ),
        ("optimizer steps", "unknown" if steps is None else steps),
        ("batch size, learning rate", f"{t.batch_size}, {t.lr}"),
        ("seed", t.seed),
    ]
    table = "\n".join(f"| {key} | {value} |" for key, value in rows)
    return f"## Training\n\n| setting | value |\n| --- | --- |\n{table}\n"


def network(config: RunConfig) -> str:
    loss = config.loss
    if not loss.uses_loss_network:
        return "none"
    return f"{loss.loss_network}: {', '.join(loss.layers)}"


def evaluation(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return ""
    rows = [
        f"| {label} | {metrics[key]['mean']:.4g} ± {metrics[key].get('std', 0):.2g} |"
        for key, label in METRIC_ROWS
        if isinstance(metrics.get(key), dict) and "mean" in metrics[key]
    ]
    if "active_units" in metrics:
        rows.append(f"| active units | {metrics['active_units']} of {metrics.get('latent_dim')} |")
    for space, value in (metrics.get("frechet") or {}).items():
        if isinstance(value, dict) and "samples" in value:
            rows.append(f"| Fréchet distance of samples, {space} space | {value['samples']:.4g} |")
    where = f"{metrics.get('n')} images of the {metrics.get('split')} split"
    header = "| metric | mean ± sd |\n| --- | --- |\n"
    return f"## Evaluation\n\n`dfcvae evaluate` on {where}:\n\n{header}" + "\n".join(rows) + "\n"


def licence(config: RunConfig) -> str:
    """The licence facts that can be stated: dfcvae's own, and those of the loss network the
    model was trained with (whose weights are not in this folder)."""
    text = (
        "## Licence\n\nThe dfcvae code is MIT-licensed. This folder holds only the VAE's weights; "
        "their terms are the sharer's to state, and the data set's terms apply to what was "
        f"learnt from {config.data.dataset}.\n"
    )
    loss = config.loss
    if not loss.uses_loss_network:
        return text
    if loss.loss_network in ("vgg19", "mobilenet_v2"):
        return text + (
            f"\nThe loss network, {loss.loss_network} with torchvision's ImageNet weights "
            "(IMAGENET1K_V1), shaped these weights during training and is not included. "
            "torchvision's code is BSD-3-Clause; its documentation says that its pre-trained "
            "models may have their own licences or terms derived from the data set they were "
            f"trained on (ImageNet): see torchvision ({TORCHVISION_MODELS}).\n"
        )
    return text + (
        f"\nThe loss network, a {loss.loss_network} trained by `dfcvae train-classifier` on "
        f"{config.data.dataset}, is not included.\n"
    )
