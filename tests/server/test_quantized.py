"""Small-card loading through the real server: Load NewBie Model's fp8 storage choices,
ComfyUI's quantized files, an unknown format refused by name, LoRA loaders on fp8."""
import json
import re

import pytest
import torch
from devtools import tiny_quant
from devtools.graphs import base_graph, latents
from devtools.tiny_models import official_dit, write_safetensors


@pytest.fixture(scope="module")
def quant_files(comfy, tiny):
    folder = comfy.models / "diffusion_models"
    base = official_dit(dtype=torch.bfloat16)  # the t2i file's weights
    per_layer, _ = tiny_quant.comfy_quant(base)
    unknown = dict(per_layer)
    unknown["layers.1.attention.out.comfy_quant"] = torch.tensor(
        list(json.dumps({"format": "float3_imaginary"}).encode()), dtype=torch.uint8)
    for name, tensors in {"scaled": tiny_quant.scaled_fp8(base), "per_layer": per_layer,
                          "unknown": unknown}.items():
        write_safetensors(folder / f"newbie_q_{name}.safetensors", tensors)
    return folder


def rel(a, b) -> float:
    return ((a - b).norm() / b.norm()).item()


def graph(model="newbie_t2i.safetensors", dtype="float32", lora=None):
    g = base_graph()
    g["m"]["inputs"].update(model=model, dtype=dtype)
    if lora:
        g["l"] = lora
        g["s"]["inputs"]["model"] = ["l", 0]
    return g


def test_fp8_choices_are_offered_like_core_unetloader(comfy):
    options = comfy.get_json("/object_info/NewBieModelLoader")["NewBieModelLoader"][
        "input"]["required"]["dtype"][1]["options"]
    core = comfy.get_json("/object_info/UNETLoader")["UNETLoader"]["input"]["required"][
        "weight_dtype"][0]
    assert {o for o in core if o != "default"} <= set(options), (options, core)


@pytest.mark.parametrize("choice, tolerance", [("fp8_e4m3fn", 0.1), ("fp8_e4m3fn_fast", 0.1),
                                               ("fp8_e5m2", 0.25)])
def test_fp8_storage_samples_close_to_float32(comfy, tiny, choice, tolerance):
    (full,) = latents(comfy, graph(), "s")
    (fp8,) = latents(comfy, graph(dtype=choice), "s")
    dtype = "float8_e5m2" if choice == "fp8_e5m2" else "float8_e4m3fn"
    assert f"model weight dtype torch.{dtype}" in comfy.log()
    assert 0 < rel(fp8, full) < tolerance, rel(fp8, full)


@pytest.mark.parametrize("name", ["scaled", "per_layer"])
def test_quantized_files_load_with_their_scales(comfy, quant_files, name):
    (full,) = latents(comfy, graph(), "s")
    (quant,) = latents(comfy, graph(model=f"newbie_q_{name}.safetensors", dtype="auto"), "s")
    assert 0 < rel(quant, full) < 0.1, rel(quant, full)
    assert re.search(r"NewBie transformer: .*quantized \(\d+ layers float8_e4m3fn\)", comfy.log())


def test_an_unknown_format_is_refused_by_name(comfy, quant_files):
    g = graph(model="newbie_q_unknown.safetensors", dtype="auto")
    g["save"] = {"class_type": "SaveLatent", "inputs": {"samples": ["s", 0],
                                                        "filename_prefix": "unknown"}}
    message = comfy.run(g).refusal()
    assert "quantized as float3_imaginary" in message and "cannot run on this machine" in message
    assert comfy.alive()


@pytest.mark.parametrize("loader", ["NewBieLoraLoader", "LoraLoaderModelOnly"])
def test_lora_loaders_on_an_fp8_model(comfy, tiny, loader):
    """NewBie LoRA Loader and core's LoRA loader on fp8-stored weights give the bf16
    model's LoRA result within fp8 rounding, and the LoRA visibly acts."""
    if loader == "NewBieLoraLoader":
        node = {"class_type": loader, "inputs": {"model": ["m", 0],
                                                  "lora_name": "newbie_style_lora/",
                                                  "strength": 1.0}}
    else:
        from devtools.tiny_lora import lora_pairs, write_single_file

        write_single_file(comfy.models / "loras" / "newbie_fp8_single.safetensors",
                          lora_pairs(std=0.3), alpha=4.0)
        node = {"class_type": loader, "inputs": {"model": ["m", 0],
                                                  "lora_name": "newbie_fp8_single.safetensors",
                                                  "strength_model": 1.0}}
    (plain,) = latents(comfy, graph(dtype="bfloat16"), "s")
    (bf16,) = latents(comfy, graph(dtype="bfloat16", lora=node), "s")
    (fp8,) = latents(comfy, graph(dtype="fp8_e4m3fn", lora=node), "s")
    assert rel(bf16, plain) > 0.05, "the LoRA changed nothing"
    assert rel(fp8, bf16) < 0.5 * rel(bf16, plain), (rel(fp8, bf16), rel(bf16, plain))


def test_text_encoders_in_fp8_through_the_node(comfy, tiny):
    options = comfy.get_json("/object_info/NewBieTextEncoderLoader")["NewBieTextEncoderLoader"][
        "input"]["required"]["dtype"][1]["options"]
    assert "fp8_e4m3fn" in options
    (full,) = latents(comfy, graph(), "s")
    g = graph()
    g["te"]["inputs"]["dtype"] = "fp8_e4m3fn"
    (fp8,) = latents(comfy, g, "s")
    assert "linear layers stored as float8_e4m3fn" in comfy.log()
    assert 0 < rel(fp8, full) < 0.1, rel(fp8, full)
