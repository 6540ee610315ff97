"""NewBie sampling on ComfyUI's machinery: the official CFG as a GUIDER, the library's
solvers as SAMPLERs, and the checks that a MODEL and its conditioning are NewBie's.

Both work on any NewBie MODEL (ours, or core's Lumina 2 model of a NewBie file) and
on every sampling node that takes a GUIDER or a SAMPLER.
"""
from __future__ import annotations

import comfy.samplers
import torch

from ..newbie.sampling.guidance import NonFiniteError, float16_hint, guided
from ..newbie.sampling.solvers import SOLVERS, solve


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
    Jina vector of its CLIP width (or none)."""
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
        tensors = [feats, pooled]
        if any(t is not None and not torch.isfinite(t).all() for t in tensors):
            raise ValueError(f"{node}: {which} conditioning holds NaN or infinite values; "
                             "check the node that made it")


def check_newbie_inputs(model, positive, negative, node: str):
    """The MODEL and both conditionings checked for a NewBie sampling node; returns the
    model's transformer."""
    diffusion = newbie_diffusion_model(model, node)
    check_conditioning(diffusion, positive, "positive", node)
    check_conditioning(diffusion, negative, "negative", node)
    return diffusion


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
        t = 1.0 - float(timestep.flatten()[0])
        cfg = self.cfg if self.cfg_trunc >= 1.0 or t < self.cfg_trunc else 1.0
        options = model_options
        if cfg != 1.0 and "sampler_cfg_function" not in model_options:  # cond alone: no renorm
            options = {**model_options, "sampler_cfg_function": self._official}
        out = comfy.samplers.sampling_function(self.inner_model, x, timestep,
                                               self.conds.get("negative"),
                                               self.conds.get("positive"), cfg,
                                               model_options=options, seed=seed)
        if not torch.isfinite(out).all():
            dtype = getattr(self.model_patcher, "newbie_compute_dtype", None) or \
                self.inner_model.manual_cast_dtype or self.inner_model.get_dtype()
            raise NonFiniteError(f"the model's output became NaN/Inf at sigma "
                                 f"{float(timestep.flatten()[0]):.4f} computing in {dtype}"
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
