"""NewBie sampling on ComfyUI's machinery: the official CFG as a GUIDER, the library's
solvers as SAMPLERs, the sampling run with ComfyUI's noise, previews and progress, and
the checks that a MODEL and its conditioning are NewBie's.

Both work on any NewBie MODEL (ours, or core's Lumina 2 model of a NewBie file) and
on every sampling node that takes a GUIDER or a SAMPLER.
"""
from __future__ import annotations

import logging

import torch

import comfy.model_management as mm
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ..newbie.loading import resolve_dtype
from ..newbie.models.finite import damaged_weights
from ..newbie.sampling import NonFiniteError
from ..newbie.sampling.guidance import float16_hint, guidance_scale, guided
from ..newbie.sampling.solvers import SOLVERS, solve
from .memory import out_of_memory
from .model import NewBieModel, compute_dtype, compute_in

log = logging.getLogger(__name__)


def newbie_diffusion_model(model, node: str):
    """The NewBie transformer inside a MODEL (our loader's, or core's Lumina 2 model of
    a NewBie file), or a clear error naming what was given."""
    inner = getattr(model, "model", None)
    diffusion = getattr(inner, "diffusion_model", None)
    if getattr(diffusion, "clip_text_pooled_proj", None) is None or \
            getattr(diffusion, "cap_embedder", None) is None:
        kind = type(inner).__name__ if inner is not None else type(model).__name__
        raise ValueError(f"{node} needs a NewBie-image MODEL (Load NewBie Model, or core's "
                         f"UNETLoader with a NewBie file); got a {kind} model")
    return diffusion


def check_conditioning(diffusion, conditioning, which: str, node: str):
    """Every entry must be Gemma features of the model's caption width, with a pooled
    Jina vector of its CLIP width (or none). Shapes only: values are looked at only if
    the result turns out non-finite."""
    if not conditioning:
        raise ValueError(f"{node}: {which} conditioning is empty")
    want = diffusion.cap_embedder[1].in_features
    want_pooled = diffusion.clip_text_pooled_proj[1].in_features
    for feats, extra in conditioning:
        if feats.dim() != 3 or feats.shape[-1] != want:
            raise ValueError(f"{node}: {which} conditioning has width {feats.shape[-1]}; NewBie "
                             f"expects {want} (Gemma 3 4B hidden states). Encode it with NewBie "
                             "Text Encode.")
        pooled = extra.get("pooled_output")
        if pooled is not None and pooled.shape[-1] != want_pooled:
            raise ValueError(f"{node}: {which} pooled_output has width {pooled.shape[-1]}; "
                             f"NewBie expects {want_pooled} (Jina CLIP v2).")


def check_newbie_inputs(model, positive, negative, node: str):
    """The MODEL and both conditionings checked for a NewBie sampling node; returns the
    model's transformer."""
    diffusion = newbie_diffusion_model(model, node)
    check_conditioning(diffusion, positive, "positive", node)
    check_conditioning(diffusion, negative, "negative", node)
    return diffusion


def check_latent(samples: torch.Tensor, node: str):
    if samples.dim() != 4 or samples.shape[1] != 16:
        raise ValueError(f"{node}: latent_image has shape {list(samples.shape)}; NewBie needs "
                         "16-channel FLUX latents [B, 16, H/8, W/8]")
    if samples.shape[-1] % 2 or samples.shape[-2] % 2:
        raise ValueError(f"{node}: latent height and width must be even (image sides "
                         f"multiples of 16); got {samples.shape[-2] * 8}x{samples.shape[-1] * 8}")


class NewBieGuider(comfy.samplers.CFGGuider):
    """The official CFG: cond and uncond in one batched forward, uncond + cfg (cond -
    uncond), renorm against the cond prediction, and truncation: CFG only while
    t = 1 - sigma < cfg_trunc, the positive prompt alone after (1 = always CFG). A
    model patch that brings its own CFG function (core's RenormCFG) replaces the rule;
    pre- and post-CFG patches apply as in core's guider."""

    def __init__(self, model_patcher, cfg: float, cfg_trunc: float = 1.0, renorm: float = 0.0):
        super().__init__(model_patcher)
        self.set_cfg(cfg)
        self.cfg_trunc, self.renorm = cfg_trunc, renorm

    def _official(self, args):
        return guided(args["cond"], args["uncond"], args["cond_scale"], self.renorm)

    def predict_noise(self, x, timestep, model_options={}, seed=None):  # noqa: B006 (core's signature)
        cfg = guidance_scale(1.0 - float(timestep.flatten()[0]), self.cfg, self.cfg_trunc)
        options = model_options
        if cfg != 1.0 and "sampler_cfg_function" not in model_options:  # cond alone: no renorm
            options = {**model_options, "sampler_cfg_function": self._official}
        return comfy.samplers.sampling_function(self.inner_model, x, timestep,
                                                self.conds.get("negative"),
                                                self.conds.get("positive"), cfg,
                                                model_options=options, seed=seed)

    def sample(self, *args, **kwargs):
        """As core's, then one check of the result (no scan per step)."""
        out = super().sample(*args, **kwargs)
        if not torch.isfinite(out).all():
            dtype = compute_dtype(self.model_patcher)
            raise NonFiniteError(f"the sampled latent is NaN/Inf computing in {dtype}"
                                 + float16_hint(dtype))
        return out


def _solver_function(name: str):
    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None):
        extra_args = extra_args or {}
        ones = x.new_ones([x.shape[0]])

        def velocity(x_now, t):  # official: data - noise, at t = 1 - sigma
            sigma = 1.0 - t
            return (model(x_now, sigma * ones, **extra_args) - x_now) / sigma

        def on_step(i, x_now, x_data):
            if callback is not None:
                callback({"x": x_now, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i],
                          "denoised": x_data})

        grid = [1.0 - float(s) for s in sigmas]
        return solve(name, velocity, x, grid, on_step)
    return sample


def newbie_sampler(name: str):
    """One of the library's solvers (euler, midpoint, dpmpp_2m written for flows) as a
    ComfyUI SAMPLER."""
    if name not in SOLVERS:
        raise ValueError(f"solver {name!r}: expected one of {SOLVERS}")
    return comfy.samplers.KSAMPLER(_solver_function(name))


def _non_finite_inputs(positive, negative, latent_image) -> str | None:
    """Which input held NaN/Inf, looked for only after a non-finite result."""
    for which, conditioning in (("positive", positive), ("negative", negative)):
        for feats, extra in conditioning:
            pooled = extra.get("pooled_output")
            if not torch.isfinite(feats).all() or (
                    pooled is not None and not torch.isfinite(pooled).all()):
                return f"{which} conditioning holds NaN or infinite values; check the node " \
                       "that made it"
    if not torch.isfinite(latent_image["samples"]).all():
        return "latent_image holds NaN or infinite values; check the node that made it"
    return None


def sample(model, positive, negative, latent_image: dict, seed: int, sigmas: torch.Tensor,
           solver: str, cfg: float, cfg_trunc: float, renorm: float,
           dtype: torch.dtype | None, node: str) -> dict:
    """The LATENT sampled with the official CFG in `dtype` (None: bfloat16 where the device
    has it, else float16, retried once in float32 if the result is not finite)."""
    samples = latent_image["samples"]
    noise = comfy.sample.prepare_noise(samples, seed, latent_image.get("batch_index"))

    def run(dtype_now):
        guider = NewBieGuider(compute_in(model, dtype_now), cfg, cfg_trunc, renorm)
        guider.set_conds(positive, negative)
        callback = latent_preview.prepare_callback(model, len(sigmas) - 1)
        return guider.sample(noise, samples, newbie_sampler(solver), sigmas,
                             denoise_mask=latent_image.get("noise_mask"), callback=callback,
                             disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)

    first = dtype or auto_dtype(model)
    try:
        try:
            result = run(first)
        except NonFiniteError as err:
            cause = _non_finite_cause(model, positive, negative, latent_image)
            if cause or dtype is not None or first == torch.float32:
                raise NonFiniteError(f"{node}: {cause or str(err) + _advice(first)}") from None
            log.warning("%s: %s; retrying once in float32", node, err)
            try:
                result = run(torch.float32)
            except NonFiniteError as again:
                raise NonFiniteError(f"{node}: {again}{_advice(torch.float32)}") from None
    except torch.OutOfMemoryError:
        raise out_of_memory("sampling", "the resolution or batch size") from None
    out = dict(latent_image)  # as core KSampler: batch_index and noise_mask carry on
    out["samples"] = result.to(mm.intermediate_device())
    return out


def auto_dtype(model) -> torch.dtype:
    """bfloat16 where the MODEL's device supports it, else float16."""
    return resolve_dtype("auto", model.load_device)


def _non_finite_cause(model, positive, negative, latent_image) -> str | None:
    inputs = _non_finite_inputs(positive, negative, latent_image)
    if inputs:
        return inputs
    inner = model.model
    source = inner.source if isinstance(inner, NewBieModel) else None
    return damaged_weights(inner.diffusion_model, {"": source} if source else {})


def _advice(dtype: torch.dtype) -> str:
    if dtype == torch.float16:
        return ""  # the message already says what to change
    return ("; the weights and inputs are finite, so the guidance drove it out of range: "
            "lower cfg, or set renorm")
