"""The ladder of speed trials: from the naive reference, one change at a time, each measured
in the same process with the rungs interleaved (round-robin), so that they see the same load.

Each rung is a manual training step built from dfcvae's pieces (``DFCVAE``,
``build_loss_network``, ``feature_loss``, ``kl_divergence``, ``pixel_loss``), with the changes
of the rungs above it plus its own; side trials (``base`` names the rung they branch from)
change one thing of an earlier rung.
"""

from __future__ import annotations

import functools
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace

import torch

from common import Clock, Samples, set_allocator
from dfcvae import RunConfig
from dfcvae.loss_networks import build_loss_network
from dfcvae.vae.fast_paths import fuse_decoder
from dfcvae.vae.losses import feature_loss, kl_divergence, pixel_loss
from dfcvae.vae.model import DFCVAE
from step import NaiveReference, synthetic_images

SLOW_S = 30.0
# What each of dfcvae.vae.fast_paths' fused forms buys: a rung with it, a side trial without.
FUSED_DECODER = (
    "+ fused decoder block (fast_paths.FusedDecoderBlock: upsample, pad and 3x3 conv as one "
    "transposed conv)"
)
PLAIN_MSE = (
    "feature MSE in its plain form (F.mse_loss on fp32 copies of the maps) instead of the fused "
    "fast_paths.SquaredErrorMean"
)


@dataclass(frozen=True)
class Recipe:
    name: str
    truncate: bool = True  # loss network cut after its deepest tap
    no_grad_target: bool = True  # target features computed under torch.no_grad()
    frozen: bool = True  # loss-network weights do not require grad
    channels_last: bool = False
    fused: bool = False  # torch.optim.Adam(fused=True)
    compile: bool = False  # Module.compile() of the VAE and the loss network
    bf16: bool = False  # torch.autocast(bfloat16)
    keep_freed: bool = False  # glibc keeps freed memory (training.memory.keep_freed_memory)
    threads: int | None = None  # intra-op threads; None: torch's default
    naive: bool = False  # the NaiveReference itself
    one_conv_decoder: bool = False  # fast_paths.fuse_decoder (else the paper's layers in turn)
    fused_mse: bool = True  # feature MSE by fast_paths.SquaredErrorMean (else on fp32 copies)
    one_batch: bool = False  # x and x_hat through the loss network as one batch of 2N
    base: str | None = None  # for side trials: the rung they are compared with


def ladder(uses_loss_network: bool, native_bf16: bool = False) -> list[Recipe]:
    """The rungs, then the side trials. With bf16 instructions (what ``--precision auto`` then
    picks) bf16 autocast is a rung of its own; without, a side trial."""
    naive = Recipe("naive reference (fp32, NCHW, full VGG19, grad on both)", naive=True)
    rungs = [naive]
    if uses_loss_network:
        rungs += [
            Recipe("+ loss network cut after its deepest tap", no_grad_target=False),
            Recipe("+ target features under no_grad"),
        ]
    last = rungs[-1] if uses_loss_network else Recipe("dfcvae pieces, fp32, NCHW")
    if not uses_loss_network:
        rungs.append(last)
    last = replace(last, name=FUSED_DECODER, one_conv_decoder=True)
    rungs.append(last)
    cl = replace(last, name="+ channels_last", channels_last=True, naive=False)
    fused = replace(cl, name="+ fused Adam", fused=True)
    kept = replace(fused, name="+ freed memory kept by glibc (no page faults)", keep_freed=True)
    rungs += [cl, fused, kept]
    fused = kept
    bf16 = replace(kept, name="+ bf16 autocast (what auto picks on this CPU)", bf16=True)
    if native_bf16:
        rungs.append(bf16)
        fused = bf16
    side = [
        replace(fused, name="torch.compile (VAE and loss network)", compile=True, base=fused.name),
        replace(
            fused, name="channels_last off (NCHW), fused Adam", channels_last=False, base=fused.name
        ),  # fmt: skip
        replace(fused, name="1 intra-op thread instead of 2", threads=1, base=fused.name),
    ]
    if not native_bf16:
        side.insert(1, replace(bf16, name="bf16 autocast", base=fused.name))
    if uses_loss_network:
        side += [
            replace(fused, name=PLAIN_MSE, fused_mse=False, base=fused.name),
            replace(fused, name="x and x_hat through the loss network as one batch",
                    one_batch=True, base=fused.name),
        ]  # fmt: skip
    if uses_loss_network:
        side.insert(0, replace(rungs[1], name="loss network weights not frozen (seed bug)",
                               frozen=False, truncate=False, base=naive.name))  # fmt: skip
    return rungs + side


def recipe_step(config: RunConfig, device: torch.device, recipe: Recipe):
    """One training step of ``recipe``, built from the same seed (same initial weights)."""
    torch.manual_seed(config.train.seed)
    if recipe.naive:
        naive = NaiveReference(config, device)

        def naive_step(x: torch.Tensor) -> float:
            set_allocator(recipe.keep_freed)
            return naive.step(x)

        return naive_step
    cfg, train = config.loss, config.train
    memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
    vae = fuse_decoder(DFCVAE(config.model), fused=recipe.one_conv_decoder)
    vae = vae.to(device, memory_format=memory_format)
    network = None
    if cfg.uses_loss_network:
        layers = cfg.layers if recipe.truncate else [*cfg.layers, "relu5_4"]
        network = build_loss_network(cfg.loss_network, layers, "random")
        network = network.to(device, memory_format=memory_format)
        if not recipe.frozen:
            network.features.requires_grad_(True)
    optimizer = torch.optim.Adam(
        vae.parameters(), lr=train.lr, betas=(train.beta1, train.beta2), fused=recipe.fused
    )
    if recipe.compile:
        vae.compile()
        if network is not None:
            network.compile()
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if recipe.bf16 else nullcontext()
    k = len(cfg.layers)
    mse = functools.partial(feature_loss, fused=recipe.fused_mse)

    def features(x: torch.Tensor, recon: torch.Tensor):
        if recipe.one_batch:
            both = network(torch.cat([x, recon]))[:k]
            return [f[: len(x)].detach() for f in both], [f[len(x) :] for f in both]
        with torch.no_grad() if recipe.no_grad_target else nullcontext():
            target = network(x)[:k]
        return target, network(recon)[:k]

    def step(x: torch.Tensor) -> float:
        set_allocator(recipe.keep_freed)
        threads = torch.get_num_threads()
        if recipe.threads:
            torch.set_num_threads(recipe.threads)
        x = x.contiguous(memory_format=memory_format)
        with cast:
            out = vae(x)
            if network is None:
                reconstruction = pixel_loss(out.recon_logits, x, cfg.pixel)
            else:
                reconstruction = mse(*features(x, out.recon))
            loss = cfg.kl_weight * kl_divergence(out.mu.float(), out.logvar.float())
            loss = loss + cfg.recon_weight * reconstruction
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        torch.set_num_threads(threads)
        return loss.item()

    return step


def run_ladder(
    config: RunConfig, device: torch.device, *, wanted: int = 3, log=print
) -> list[dict]:
    """Median seconds per step of every recipe over ``wanted`` rounds, interleaved."""
    x = synthetic_images(config.train.batch_size, config.model.channels, config.model.image_size)
    x = x.to(device)
    from dfcvae.training.precision import cpu_supports_bf16

    native = device.type == "cuda" or cpu_supports_bf16()
    recipes = ladder(config.loss.uses_loss_network, native)
    steps, first_s = {}, {}
    for recipe in recipes:
        steps[recipe.name] = recipe_step(config, device, recipe)
        start = time.perf_counter()
        steps[recipe.name](x)  # warm-up (and compilation)
        first_s[recipe.name] = time.perf_counter() - start
        steps[recipe.name](x)
        log(f"  {recipe.name}: built, first step {first_s[recipe.name]:.1f} s")
    samples = {recipe.name: Samples() for recipe in recipes}
    # A recipe whose first step took over SLOW_S (bf16 emulated on a CPU without bf16
    # instructions) gets one sample: enough to show it loses, without minutes per sample.
    for round_ in range(wanted):
        for recipe in recipes:
            if round_ > 0 and first_s[recipe.name] > SLOW_S:
                continue
            with Clock(device) as clock:
                steps[recipe.name](x)
            samples[recipe.name].add(clock.interval)
    batch = config.train.batch_size
    rows, previous = [], None
    for recipe in recipes:
        median = samples[recipe.name].median
        base = recipe.base or previous
        row = {
            "trial": recipe.name,
            "side": recipe.base is not None,
            "seconds": median,
            "images_per_s": batch / median,
            "first_step_s": first_s[recipe.name],
            "vs": base,
            **samples[recipe.name].summary(),
        }
        if base is not None:
            row["speedup"] = samples[base].median / median
        if recipe.compile:
            saved = samples[recipe.base].median - median
            overhead = first_s[recipe.name] - median
            row["compile_overhead_s"] = overhead
            row["payback_steps"] = overhead / saved if saved > 0 else None
        rows.append(row)
        if recipe.base is None:
            previous = recipe.name
    return rows
