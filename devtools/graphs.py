"""Graph builders and image helpers shared by the server tests."""
import io

import numpy as np
import safetensors.torch
import torch
from PIL import Image
from .tiny_lora import lora_pairs, write_peft
from .tiny_models import official_dit, write_safetensors
from .tiny_text import write_gemma_comfy, write_jina_comfy
from .tiny_vae import flux_vae, write_bfl_vae


def write_t2i_models(comfy):
    """Tiny models for t2i(): transformer, encoders, VAE, a PEFT LoRA."""
    m = comfy.models
    write_safetensors(m / "diffusion_models" / "newbie_t2i.safetensors",
                      official_dit(dtype=torch.bfloat16))
    write_gemma_comfy(m / "text_encoders" / "gemma_t2i.safetensors")
    write_jina_comfy(m / "text_encoders" / "jina_t2i.safetensors")
    write_bfl_vae(m / "vae" / "ae_t2i.safetensors", flux_vae(), dtype=torch.bfloat16)
    write_peft(m / "loras" / "newbie_style_lora", lora_pairs(std=0.3), alpha=4.0)
    return m


def t2i(seed=1, steps=4, width=128, height=96, cfg=4.0, latent=None,
        text="<caption>a girl</caption>", **sampler) -> dict:
    """Tiny models -> text encode -> sampler -> NewBie VAE Decode -> SaveImage."""
    graph = {
        "m": {"class_type": "NewBieModelLoader", "inputs": {
            "model": "newbie_t2i.safetensors", "dtype": "auto", "attention": "auto"}},
        "te": {"class_type": "NewBieTextEncoderLoader", "inputs": {
            "gemma": "gemma_t2i.safetensors", "jina": "jina_t2i.safetensors", "dtype": "auto",
            "device": "default"}},
        "v": {"class_type": "NewBieVAELoader", "inputs": {"vae": "ae_t2i.safetensors",
                                                          "dtype": "float32"}},
        "enc": {"class_type": "NewBieTextEncode", "inputs": {
            "text_encoders": ["te", 0], "text": text, "negative": "",
            "system_prompt": "", "max_tokens": 512}},
        "lat": {"class_type": "NewBieEmptyLatent", "inputs": {
            "resolution": "custom", "width": width, "height": height, "batch_size": 1}},
        "s": {"class_type": "NewBieSampler", "inputs": {
            "model": ["m", 0], "positive": ["enc", 0], "negative": ["enc", 1],
            "latent_image": latent or ["lat", 0], "seed": seed, "steps": steps, "cfg": cfg,
            "solver": "euler", "shift": 6.0, "cfg_trunc": 1.0, "renorm": 0.0, "denoise": 1.0,
            "dtype": "bfloat16", **sampler}},
        "d": {"class_type": "NewBieVAEDecode", "inputs": {
            "vae": ["v", 0], "samples": ["s", 0], "dtype": "float32", "tile_size": 0}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["d", 0],
                                                       "filename_prefix": "newbie_test"}},
    }
    return graph


def png(comfy, result, node="save") -> Image.Image:
    assert result.status == "success", result.error
    image = result.outputs[node]["images"][0]
    return Image.open(io.BytesIO(comfy.view(image)))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


STEPS = 10  # divides 1000: core's simple scheduler lands on the official shifted grid


def latents(comfy, graph: dict, *nodes: str) -> list[torch.Tensor]:
    """Run the graph with a SaveLatent after each of `nodes`; their latents."""
    graph = dict(graph)
    for node in nodes:
        graph[f"save_{node}"] = {"class_type": "SaveLatent", "inputs": {
            "samples": [node, 0], "filename_prefix": f"interop_{node}"}}
    result = comfy.run(graph)
    assert result.status == "success", result.error
    return [safetensors.torch.load(comfy.view(result.outputs[f"save_{n}"]["latents"][0]))
            ["latent_tensor"] for n in nodes]


def base_graph(seed=5, **sampler) -> dict:
    """t2i's loaders, encoder and latent in float32, NewBie Sampler as `s` (euler, CFG at
    every step, no renorm), without the decode."""
    graph = t2i(seed=seed, steps=STEPS, width=64, height=64, **sampler)
    graph["m"]["inputs"]["dtype"] = "float32"
    graph["s"]["inputs"]["dtype"] = "float32"
    for node in ("d", "save"):
        graph.pop(node)
    return graph
