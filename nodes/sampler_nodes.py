"""The NewBie sampler node: ComfyUI types in and out, progress, previews, cancel."""
from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from ..newbie.models.transformer import cast_copy
from ..newbie.models.vae import from_model_space, to_model_space
from ..newbie.loading import resolve_dtype
from ..newbie.sampling import SOLVERS, Conditioning, NonFiniteError, comfy_noise, sample
from .input_checks import checked_inputs
from .common import CATEGORY, NewBieModel, out_of_memory
from .memory import Resident, on_compute_device, unload

log = logging.getLogger(__name__)
COMPUTE_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
AUTO = "auto"  # bf16 where supported, else fp16; one retry in fp32 if it overflows


def activation_bytes(model, latent_shape, cap_len: int, dtype: torch.dtype) -> int:
    """A rough peak of live activations for one CFG forward (cond and uncond batched):
    about 32 bytes per token and hidden unit in bf16 (residual, qkv, the FFN's two
    hidden tensors, float32 norm buffers), for ComfyUI to keep free."""
    p = model.config.patch_size
    tokens = 2 * latent_shape[0] * (latent_shape[-2] // p * (latent_shape[-1] // p) + cap_len)
    return tokens * model.config.dim * 16 * torch.finfo(dtype).bits // 8


def conditioning_to_newbie(conditioning, which: str, model) -> Conditioning:
    """CONDITIONING (ComfyUI's NewBie layout) -> (cap_feats, cap_mask, clip_pooled)."""
    if not conditioning:
        raise ValueError(f"{which} conditioning is empty")
    if len(conditioning) > 1:
        log.warning("NewBie Sampler: %s has %d entries; only the first is used",
                    which, len(conditioning))
    feats, extra = conditioning[0][0], conditioning[0][1]
    want = model.config.cap_feat_dim
    if feats.dim() != 3 or feats.shape[-1] != want:
        raise ValueError(f"{which} conditioning has width {feats.shape[-1]}; NewBie expects "
                         f"{want} (Gemma 3 4B hidden states). Encode it with NewBie Text Encode.")
    mask = extra.get("attention_mask")
    mask = torch.ones(feats.shape[:2], dtype=torch.bool) if mask is None else mask.bool()
    pooled = extra.get("pooled_output")
    if pooled is not None and pooled.shape[-1] != model.config.clip_text_dim:
        raise ValueError(f"{which} pooled_output has width {pooled.shape[-1]}; NewBie expects "
                         f"{model.config.clip_text_dim} (Jina CLIP v2).")
    return Conditioning(feats, mask.reshape(feats.shape[:2]), pooled)


def _progress(total: int):
    """Progress bar with latent previews; raises when the user cancels."""
    import comfy.latent_formats
    import comfy.model_management as mm
    import comfy.utils
    import latent_preview

    bar = comfy.utils.ProgressBar(total)
    previewer = latent_preview.get_previewer(mm.get_torch_device(), comfy.latent_formats.Flux())

    def callback(step, total_steps, x, x_data):
        mm.throw_exception_if_processing_interrupted()
        # Already ("JPEG", image, max_size), the form the progress hook sends on.
        preview = (previewer.decode_latent_to_preview_image("JPEG", x_data.float())
                   if previewer is not None else None)
        bar.update_absolute(step + 1, total_steps, preview)
    return callback


def require_finite(inputs: dict[str, tuple]) -> None:
    """Refuse inputs holding NaN or infinity, by name (they would only surface later, as
    a non-finite model output)."""
    for name, tensors in inputs.items():
        if any(t is not None and not torch.isfinite(t).all() for t in tensors):
            raise ValueError(f"NewBie Sampler: {name} holds NaN or infinite values; check "
                             "the node that made it")


def _advice(dtype: torch.dtype) -> str:
    if dtype == torch.float16:
        return ""  # the library's message already says what to change
    return ("; the weights and inputs are finite, so the guidance drove it out of range: "
            "lower cfg, or set renorm")


class NewBieSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieSampler",
            display_name="NewBie Sampler",
            category=CATEGORY,
            description="Rectified-flow sampling as NewBie was trained: shifted time grid, "
                        "official CFG (batched cond/uncond, truncation, renorm). The LATENT is "
                        "in raw FLUX VAE space, so core latent nodes and VAE Decode fit; a "
                        "noise_mask on it (core Set Latent Noise Mask) inpaints.",
            inputs=[
                NewBieModel.Input("model"),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                io.Latent.Input("latent_image", tooltip="NewBie Empty Latent, or any 16-channel "
                                "latent (img2img / hires fix with denoise < 1)."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff,
                             control_after_generate=True,
                             tooltip="Same seed and latent size give the same noise as core "
                                     "samplers."),
                io.Int.Input("steps", default=28, min=1, max=1000),
                io.Float.Input("cfg", default=4.5, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Guidance scale; 1 runs the positive prompt only."),
                io.Combo.Input("solver", options=list(SOLVERS), default="euler",
                               tooltip="euler: 1 forward a step. midpoint: the official demo's "
                                       "solver, 2 a step. dpmpp_2m: DPM-Solver++ 2M for flows."),
                io.Float.Input("shift", default=6.0, min=0.1, max=20.0, step=0.1,
                               tooltip="Time shift; NewBie was sampled with 6."),
                io.Float.Input("cfg_trunc", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="CFG only while t < cfg_trunc (t: 0 = noise, 1 = image); "
                                       "later steps run the positive prompt alone. 1 = always "
                                       "CFG; the official demo used 0.25."),
                io.Float.Input("renorm", default=0.0, min=0.0, max=10.0, step=0.05,
                               tooltip="CFG renorm: cap the guided velocity at this multiple "
                                       "of the positive one. 0 = off (official default)."),
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
    def execute(cls, model: Resident, positive, negative, latent_image, seed, steps, cfg, solver, shift,
                cfg_trunc, renorm, denoise, dtype, sigmas=None) -> io.NodeOutput:
        import comfy.model_management as mm

        samples = latent_image["samples"]
        if samples.dim() != 4 or samples.shape[1] != 16:
            raise ValueError(f"latent_image has shape {list(samples.shape)}; NewBie needs "
                             "16-channel FLUX latents [B, 16, H/8, W/8]")
        if samples.shape[-1] % 2 or samples.shape[-2] % 2:
            raise ValueError("latent height and width must be even (image sides multiples "
                             f"of 16); got {samples.shape[-2] * 8}x{samples.shape[-1] * 8}")
        device = mm.get_torch_device()
        base = model.model
        cond = conditioning_to_newbie(positive, "positive", base)
        uncond = conditioning_to_newbie(negative, "negative", base)
        noise = comfy_noise(samples.shape, seed, latent_image.get("batch_index"))
        steps_total = len(sigmas) - 1 if sigmas is not None else steps

        cap_len = max(cond.cap_feats.shape[1], uncond.cap_feats.shape[1])
        require_finite({"positive conditioning": (cond.cap_feats, cond.clip_pooled),
                        "negative conditioning": (uncond.cap_feats, uncond.clip_pooled),
                        "latent_image": (samples,), "sigmas": (sigmas,)})

        def run(compute_dtype):
            compute = model
            if next(base.parameters()).dtype != compute_dtype:
                unload(model)  # only the compute-dtype copy goes to the card
                compute = Resident(cast_copy(base, compute_dtype))
            reserve = activation_bytes(base, samples.shape, cap_len, compute_dtype)
            with on_compute_device(compute, reserve, temporary=compute is not model) as where:
                return sample(compute.model, cond, uncond, noise, device=where, steps=steps,
                              solver=solver, shift=shift, cfg=cfg,
                              cfg_trunc=None if cfg_trunc >= 1.0 else cfg_trunc, renorm=renorm,
                              sigmas=sigmas, latent=to_model_space(samples.float()),
                              denoise=denoise, callback=_progress(steps_total),
                              mask=latent_image.get("noise_mask"))

        first = resolve_dtype("auto", device) if dtype == AUTO else COMPUTE_DTYPES[dtype]
        try:
            try:
                result = run(first)
            except NonFiniteError as err:
                damaged = model.damaged_weights()
                if damaged:
                    raise NonFiniteError(f"NewBie Sampler: {damaged}") from None
                if dtype != AUTO or first == torch.float32:
                    raise NonFiniteError(f"NewBie Sampler: {err}{_advice(first)}") from None
                log.warning("NewBie Sampler: %s; retrying once in float32", err)
                try:
                    result = run(torch.float32)
                except NonFiniteError as again:
                    raise NonFiniteError(f"NewBie Sampler: {again}{_advice(torch.float32)}") \
                        from None
        except torch.OutOfMemoryError:
            raise out_of_memory("sampling", "the resolution or batch size") from None
        out = dict(latent_image)  # as core KSampler: batch_index and noise_mask carry on
        out["samples"] = from_model_space(result).cpu()
        return io.NodeOutput(out)


SAMPLER_NODES = [NewBieSampler]
