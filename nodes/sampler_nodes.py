"""The NewBie sampler, guider and solver nodes: any NewBie MODEL, sampled by ComfyUI's
own machinery with the official CFG; progress, previews, cancel as core samplers."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..comfy_glue import sampling
from ..newbie.sampling import SOLVERS, grid_from_sigmas, partial_grid, time_grid
from .common import SAMPLING
from .input_checks import checked_inputs

COMPUTE_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
AUTO = "auto"  # bf16 where supported, else fp16; one retry in fp32 if it overflows


def newbie_sigmas(steps: int, shift: float, denoise: float) -> torch.Tensor:
    """The official shifted time grid as ComfyUI SIGMAS (1 = noise)."""
    grid = time_grid(steps, shift) if denoise >= 1.0 else partial_grid(steps, shift, denoise)
    return (1.0 - grid).float()


def checked_sigmas(sigmas: torch.Tensor, node: str) -> torch.Tensor:
    if not torch.isfinite(sigmas).all():
        raise ValueError(f"{node}: sigmas holds NaN or infinite values")
    grid_from_sigmas(sigmas)  # refuses schedules outside [0, 1] or rising
    return sigmas


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
            category=SAMPLING,
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
        node = "NewBie Sampler"
        sampling.check_newbie_inputs(model, positive, negative, node)
        sampling.check_latent(latent_image["samples"], node)
        sigmas = newbie_sigmas(steps, shift, denoise) if sigmas is None else \
            checked_sigmas(sigmas, node)
        return io.NodeOutput(sampling.sample(
            model, positive, negative, latent_image, seed, sigmas, solver, cfg, cfg_trunc,
            renorm, None if dtype == AUTO else COMPUTE_DTYPES[dtype], node))


class NewBieCFGGuider(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieCFGGuider",
            display_name="NewBie CFG Guider",
            category=SAMPLING,
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
        sampling.check_newbie_inputs(model, positive, negative, "NewBie CFG Guider")
        guider = sampling.NewBieGuider(model, cfg, cfg_trunc, renorm)
        guider.set_conds(positive, negative)
        return io.NodeOutput(guider)


class NewBieSamplerSelect(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieSamplerSelect",
            display_name="NewBie Solver",
            category=SAMPLING,
            description="NewBie's solvers as a SAMPLER for core SamplerCustom / "
                        "SamplerCustomAdvanced (any flow model).",
            inputs=[solver_input()],
            outputs=[io.Sampler.Output(display_name="SAMPLER")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, solver) -> io.NodeOutput:
        return io.NodeOutput(sampling.newbie_sampler(solver))


SAMPLER_NODES = [NewBieSampler, NewBieCFGGuider, NewBieSamplerSelect]
