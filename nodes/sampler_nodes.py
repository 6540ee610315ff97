"""The NewBie sampler, guider and solver nodes: any NewBie MODEL, sampled by ComfyUI's
own machinery with the official CFG; progress, previews, cancel as core samplers."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from comfy_api.latest import io

from ..newbie.loading import resolve_dtype
from ..newbie.sampling import SOLVERS, NonFiniteError, grid_from_sigmas, partial_grid, time_grid
from .comfy_model import compute_in
from .comfy_sampling import NewBieGuider, check_newbie_inputs, newbie_sampler
from .common import CATEGORY, out_of_memory
from .input_checks import checked_inputs
from .memory import damaged_weights

log = logging.getLogger(__name__)
COMPUTE_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
AUTO = "auto"  # bf16 where supported, else fp16; one retry in fp32 if it overflows


def newbie_sigmas(steps: int, shift: float, denoise: float) -> torch.Tensor:
    """The official shifted time grid as ComfyUI SIGMAS (1 = noise)."""
    grid = time_grid(steps, shift) if denoise >= 1.0 else partial_grid(steps, shift, denoise)
    return (1.0 - grid).float()


def check_latent(samples: torch.Tensor):
    if samples.dim() != 4 or samples.shape[1] != 16:
        raise ValueError(f"latent_image has shape {list(samples.shape)}; NewBie needs "
                         "16-channel FLUX latents [B, 16, H/8, W/8]")
    if samples.shape[-1] % 2 or samples.shape[-2] % 2:
        raise ValueError("latent height and width must be even (image sides multiples "
                         f"of 16); got {samples.shape[-2] * 8}x{samples.shape[-1] * 8}")
    if not torch.isfinite(samples).all():
        raise ValueError("NewBie Sampler: latent_image holds NaN or infinite values; check "
                         "the node that made it")


def _advice(dtype: torch.dtype) -> str:
    if dtype == torch.float16:
        return ""  # the guider's message already says what to change
    return ("; the weights and inputs are finite, so the guidance drove it out of range: "
            "lower cfg, or set renorm")


def cfg_input():
    return io.Float.Input("cfg", default=4.5, min=0.0, max=30.0, step=0.1, round=0.01,
                          tooltip="Guidance scale; 1 runs the positive prompt only.")


def cfg_trunc_input():
    return io.Float.Input("cfg_trunc", default=1.0, min=0.0, max=1.0, step=0.01,
                          tooltip="CFG only while t < cfg_trunc (t: 0 = noise, 1 = image); "
                                  "later steps run the positive prompt alone. 1 = always CFG; "
                                  "the official demo used 0.25.")


def renorm_input():
    return io.Float.Input("renorm", default=0.0, min=0.0, max=10.0, step=0.05,
                          tooltip="CFG renorm: cap the guided prediction at this multiple of "
                                  "the positive one. 0 = off (official default).")


def solver_input():
    return io.Combo.Input("solver", options=list(SOLVERS), default="euler",
                          tooltip="euler: 1 forward a step. midpoint: the official demo's "
                                  "solver, 2 a step. dpmpp_2m: DPM-Solver++ 2M for flows.")


class NewBieSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieSampler",
            display_name="NewBie Sampler",
            category=CATEGORY,
            description="Rectified-flow sampling as NewBie was trained: shifted time grid, "
                        "official CFG (batched cond/uncond, truncation, renorm), on ComfyUI's "
                        "sampling machinery. Takes any NewBie MODEL (ours or core's). The "
                        "LATENT is in raw FLUX VAE space, so core latent nodes and VAE Decode "
                        "fit; a noise_mask on it (core Set Latent Noise Mask) inpaints.",
            inputs=[
                io.Model.Input("model"),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                io.Latent.Input("latent_image", tooltip="NewBie Empty Latent, or any 16-channel "
                                "latent (img2img / hires fix with denoise < 1)."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff,
                             control_after_generate=True,
                             tooltip="Same seed and latent size give the same noise as core "
                                     "samplers."),
                io.Int.Input("steps", default=28, min=1, max=1000),
                cfg_input(),
                solver_input(),
                io.Float.Input("shift", default=6.0, min=0.1, max=20.0, step=0.1,
                               tooltip="Time shift; NewBie was sampled with 6."),
                cfg_trunc_input(),
                renorm_input(),
                io.Float.Input("denoise", default=1.0, min=0.01, max=1.0, step=0.01),
                io.Combo.Input("dtype", options=[*COMPUTE_DTYPES, AUTO], default=AUTO,
                               tooltip="Compute dtype while sampling. auto: bfloat16 where "
                                       "supported, else float16, retried once in float32 if "
                                       "it overflows."),
                io.Sigmas.Input("sigmas", optional=True,
                                tooltip="Optional schedule from core sigma nodes (1 = noise); "
                                        "replaces steps, shift and denoise."),
            ],
            outputs=[io.Latent.Output(display_name="LATENT")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, model, positive, negative, latent_image, seed, steps, cfg, solver, shift,
                cfg_trunc, renorm, denoise, dtype, sigmas=None) -> io.NodeOutput:
        import comfy.model_management as mm
        import comfy.sample
        import comfy.utils
        import latent_preview

        node = "NewBie Sampler"
        diffusion = check_newbie_inputs(model, positive, negative, node)
        samples = latent_image["samples"]
        check_latent(samples)
        if sigmas is None:
            sigmas = newbie_sigmas(steps, shift, denoise)
        else:
            grid_from_sigmas(sigmas)  # refuses schedules outside [0, 1] or rising
            if not torch.isfinite(sigmas).all():
                raise ValueError(f"{node}: sigmas holds NaN or infinite values")
        noise = comfy.sample.prepare_noise(samples, seed, latent_image.get("batch_index"))

        def run(dtype_now):
            guider = NewBieGuider(compute_in(model, dtype_now), cfg, cfg_trunc, renorm)
            guider.set_conds(positive, negative)
            callback = latent_preview.prepare_callback(model, len(sigmas) - 1)
            return guider.sample(noise, samples, newbie_sampler(solver), sigmas,
                                 denoise_mask=latent_image.get("noise_mask"), callback=callback,
                                 disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)

        first = resolve_dtype("auto", model.load_device) if dtype == AUTO else COMPUTE_DTYPES[dtype]
        try:
            try:
                result = run(first)
            except NonFiniteError as err:
                damaged = damaged_weights(diffusion, {"": getattr(model.model, "newbie_source",
                                                                   Path("the model file"))})
                if damaged:
                    raise NonFiniteError(f"{node}: {damaged}") from None
                if dtype != AUTO or first == torch.float32:
                    raise NonFiniteError(f"{node}: {err}{_advice(first)}") from None
                log.warning("%s: %s; retrying once in float32", node, err)
                try:
                    result = run(torch.float32)
                except NonFiniteError as again:
                    raise NonFiniteError(f"{node}: {again}{_advice(torch.float32)}") from None
        except torch.OutOfMemoryError:
            raise out_of_memory("sampling", "the resolution or batch size") from None
        out = dict(latent_image)  # as core KSampler: batch_index and noise_mask carry on
        out["samples"] = result.to(mm.intermediate_device())
        return io.NodeOutput(out)


class NewBieCFGGuider(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieCFGGuider",
            display_name="NewBie CFG Guider",
            category=CATEGORY,
            description="The official NewBie CFG (batched cond/uncond, truncation, renorm) as a "
                        "GUIDER for core SamplerCustomAdvanced; any NewBie MODEL.",
            inputs=[io.Model.Input("model"), io.Conditioning.Input("positive"),
                    io.Conditioning.Input("negative"), cfg_input(), cfg_trunc_input(),
                    renorm_input()],
            outputs=[io.Guider.Output(display_name="GUIDER")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, model, positive, negative, cfg, cfg_trunc, renorm) -> io.NodeOutput:
        check_newbie_inputs(model, positive, negative, "NewBie CFG Guider")
        guider = NewBieGuider(model, cfg, cfg_trunc, renorm)
        guider.set_conds(positive, negative)
        return io.NodeOutput(guider)


class NewBieSamplerSelect(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieSamplerSelect",
            display_name="NewBie Solver",
            category=CATEGORY,
            description="NewBie's solvers as a SAMPLER for core SamplerCustom / "
                        "SamplerCustomAdvanced (any flow model).",
            inputs=[solver_input()],
            outputs=[io.Sampler.Output(display_name="SAMPLER")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, solver) -> io.NodeOutput:
        return io.NodeOutput(newbie_sampler(solver))


SAMPLER_NODES = [NewBieSampler, NewBieCFGGuider, NewBieSamplerSelect]
