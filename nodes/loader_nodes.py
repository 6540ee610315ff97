"""Loader nodes: transformer, text encoders, VAE from ComfyUI's model folders."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..comfy_glue import clip, memory, model_files, vae as flux_vae
from ..comfy_glue.model import load_model
from ..comfy_glue.quantized import FP8_MATMUL, FP8_STORAGE, TEXT_ENCODER_FP8, storage_dtype
from ..newbie.loading import resolve_dtype
from ..newbie.models.attention import ATTENTION_BACKENDS
from .common import LOADERS, ModelFileCombo, check_model_choices, dtype_input
from .input_checks import checked_inputs


MODEL_DTYPE_TOOLTIP = (
    "How the weights are stored. auto: bfloat16 where the device supports it (float16 on "
    "older CUDA cards), and an fp8 file stays fp8. fp8_*: half the memory of bfloat16, each "
    "layer cast to the compute dtype as it runs (as core's Load Diffusion Model); _fast also "
    "uses fp8 matrix products on cards that have them. Quantized files (scaled fp8, "
    "per-layer formats) load as stored whatever is chosen here.")


TEXT_DTYPE_TOOLTIP = (
    "auto: bfloat16 where the device supports it, float16 on older CUDA cards. fp8_e4m3fn: "
    "every linear layer of Gemma and Jina stored in fp8 with one scale per layer (ComfyUI's "
    "per-layer float8 format; about 0.6x the bytes, embeddings stay in the compute dtype), "
    "computing in auto's dtype. ComfyUI's fp8 and scaled-fp8 files are read with their "
    "scales whatever is chosen.")


class NewBieModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieModelLoader",
            display_name="Load NewBie Model",
            category=LOADERS,
            description="Loads the NewBie-image-Exp0.1 transformer from models/diffusion_models "
                        "(the official HF folder, its transformer file, ComfyUI's single file, or "
                        "the diffusers-port layout) as a standard MODEL: core KSampler, model "
                        "patches and LoRA loaders take it.",
            inputs=[
                ModelFileCombo("model", "diffusion_models",
                               "A .safetensors file or a folder (ending in /) in "
                               "models/diffusion_models."),
                dtype_input(extra=list(FP8_STORAGE), tooltip=MODEL_DTYPE_TOOLTIP),
                io.Combo.Input("attention", options=list(ATTENTION_BACKENDS), default="auto",
                               tooltip="auto: flash-attn when installed and on CUDA, else torch "
                                       "SDPA."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def validate_inputs(cls, model: str):
        return check_model_choices(cls, model=model)

    @classmethod
    @checked_inputs
    def execute(cls, model: str, dtype: str, attention: str) -> io.NodeOutput:
        path = model_files.resolve_model("diffusion_models", model)
        target = storage_dtype(dtype, path, memory.compute_device())
        # Weights stay on the CPU until ComfyUI loads the model to sample.
        return io.NodeOutput(load_model(path, target, attention, fp8_matmul=dtype == FP8_MATMUL))


class NewBieTextEncoderLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieTextEncoderLoader",
            display_name="Load NewBie Text Encoders",
            category=LOADERS,
            description="Loads Gemma 3 4B (text tower only) and the Jina CLIP v2 text tower from "
                        "models/text_encoders: ComfyUI's single files or HF folders.",
            inputs=[
                ModelFileCombo("gemma", "text_encoders",
                               "gemma_3_4b_it_bf16.safetensors, or a gemma-3-4b-it / NewBie "
                               "folder."),
                ModelFileCombo("jina", "text_encoders",
                               "jina_clip_v2_bf16.safetensors, or a jina-clip-v2 / NewBie "
                               "folder."),
                dtype_input(extra=list(TEXT_ENCODER_FP8), tooltip=TEXT_DTYPE_TOOLTIP),
                io.Combo.Input("device", options=["default", "cpu"], default="default",
                               tooltip="Where the encoders run. cpu keeps the GPU free for "
                                       "sampling (slower encoding)."),
            ],
            outputs=[io.Clip.Output(display_name="clip",
                                    tooltip="A CLIP: NewBie Text Encode (official routing), or "
                                            "core CLIPTextEncode (the text as given).")],
        )

    @classmethod
    def validate_inputs(cls, gemma: str, jina: str):
        return check_model_choices(cls, gemma=gemma, jina=jina)

    @classmethod
    @checked_inputs
    def execute(cls, gemma: str, jina: str, dtype: str, device: str) -> io.NodeOutput:
        run_on = "cpu" if device == "cpu" else memory.compute_device()
        fp8 = TEXT_ENCODER_FP8.get(dtype)
        target = resolve_dtype("auto" if fp8 else dtype, run_on, "text_encoder")
        gemma = model_files.resolve_model("text_encoders", gemma)
        jina = model_files.resolve_model("text_encoders", jina)
        try:
            # Loaded on the CPU (memory-mapped); ComfyUI moves them to encode.
            return io.NodeOutput(clip.load_clip(gemma, jina, target, on_cpu=device == "cpu",
                                                  fp8=fp8))
        except torch.OutOfMemoryError:
            raise memory.out_of_memory("loading the text encoders",
                                       "the dtype (bfloat16) or set device to cpu") from None


class NewBieVAELoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieVAELoader",
            display_name="Load NewBie VAE",
            category=LOADERS,
            description="Loads the FLUX.1 VAE (ae.safetensors or a diffusers vae/ folder) from "
                        "models/vae as a standard VAE: core VAE Decode / Encode and other "
                        "packs take it.",
            inputs=[ModelFileCombo("vae", "vae", "ae.safetensors or a folder with vae/."),
                    dtype_input(default="float32")],
            outputs=[io.Vae.Output(display_name="vae",
                                   tooltip="A VAE: NewBie VAE Decode (float32 by default), or "
                                           "core VAE Decode (in this dtype).")],
        )

    @classmethod
    def validate_inputs(cls, vae: str):
        return check_model_choices(cls, vae=vae)

    @classmethod
    @checked_inputs
    def execute(cls, vae: str, dtype: str) -> io.NodeOutput:
        target = resolve_dtype(dtype, memory.vae_device(), "vae")
        return io.NodeOutput(flux_vae.load(model_files.resolve_model("vae", vae), target))


LOADER_NODES = [NewBieModelLoader, NewBieTextEncoderLoader, NewBieVAELoader]
