"""Loader and text-encode nodes inside the real ComfyUI server, on tiny files."""
import pytest
import torch
from devtools.tiny_models import official_dit, write_hf_transformer_folder, write_safetensors
from devtools.tiny_text import write_gemma_comfy, write_gemma_hf, write_jina_comfy, write_jina_hf
from devtools.tiny_vae import flux_vae, write_bfl_vae


@pytest.fixture(scope="module")
def models(comfy):
    m = comfy.models
    write_safetensors(m / "diffusion_models" / "newbie_tiny.safetensors",
                      official_dit(dtype=torch.bfloat16))
    write_hf_transformer_folder(m / "diffusion_models" / "NewBie-tiny-hf", official_dit())
    write_gemma_comfy(m / "text_encoders" / "gemma_tiny.safetensors")
    write_jina_comfy(m / "text_encoders" / "jina_tiny.safetensors")
    write_gemma_hf(m / "text_encoders" / "gemma-3-tiny-it")
    write_jina_hf(m / "text_encoders" / "jina-clip-tiny")
    write_bfl_vae(m / "vae" / "ae_random.safetensors", flux_vae(), dtype=torch.bfloat16)
    return m


def loaders(model="newbie_tiny.safetensors", gemma="gemma_tiny.safetensors",
            jina="jina_tiny.safetensors", dtype="auto"):
    return {
        "m": {"class_type": "NewBieModelLoader",
              "inputs": {"model": model, "dtype": dtype, "attention": "auto"}},
        "te": {"class_type": "NewBieTextEncoderLoader",
               "inputs": {"gemma": gemma, "jina": jina, "dtype": dtype, "device": "default"}},
        "v": {"class_type": "NewBieVAELoader", "inputs": {"vae": "ae_random.safetensors",
                                                          "dtype": "float32"}},
    }


def encode(text="<caption>a girl</caption>", negative="", system="SYS: "):
    return {"enc": {"class_type": "NewBieTextEncode",
                    "inputs": {"text_encoders": ["te", 0], "text": text, "negative": negative,
                               "system_prompt": system, "max_tokens": 512}},
            "show": {"class_type": "PreviewAny", "inputs": {"source": ["enc", 0]}},
            "show_neg": {"class_type": "PreviewAny", "inputs": {"source": ["enc", 1]}},
            "show_m": {"class_type": "PreviewAny", "inputs": {"source": ["m", 0]}},
            "show_v": {"class_type": "PreviewAny", "inputs": {"source": ["v", 0]}}}


def test_combos_list_files_and_hf_folders(comfy, models):
    info = comfy.get_json("/object_info/NewBieModelLoader")["NewBieModelLoader"]
    options = info["input"]["required"]["model"][1]["options"]
    assert "newbie_tiny.safetensors" in options and "NewBie-tiny-hf/" in options
    assert not any(o.startswith("NewBie-tiny-hf/transformer") for o in options)
    te = comfy.get_json("/object_info/NewBieTextEncoderLoader")["NewBieTextEncoderLoader"]
    te_options = te["input"]["required"]["gemma"][1]["options"]
    assert {"gemma_tiny.safetensors", "gemma-3-tiny-it/", "jina-clip-tiny/"} <= set(te_options)


@pytest.mark.parametrize("variant", [
    dict(), dict(model="NewBie-tiny-hf/", gemma="gemma-3-tiny-it/", jina="jina-clip-tiny/",
                 dtype="float32")], ids=["single-files", "hf-folders"])
def test_loaders_and_text_encode_run(comfy, models, variant):
    result = comfy.run({**loaders(**variant), **encode(text=f"<caption>{variant}</caption>")})
    assert result.status == "success", result.error
    text = result.text("show")
    assert "pooled_output" in text and "attention_mask" in text
    # The model is a core ModelPatcher (a MODEL like core's), the VAE core's VAE object.
    assert "ModelPatcher" in result.text("show_m") and "comfy.sd.VAE" in result.text("show_v")
    log = comfy.log()
    assert "NewBie transformer: NewBie transformer, official keys, 2 layers" in log
    assert "NewBie text encoders: Gemma 2 layers used, Jina 2 layers" in log


def test_wrong_file_gives_a_clear_node_error(comfy, models):
    graph = {**loaders(model="newbie_tiny.safetensors", gemma="jina_tiny.safetensors"),
             **encode(text="wrong file")}
    result = comfy.run(graph)
    assert result.status == "error"
    message = result.error["exception_message"]
    assert "jina_tiny.safetensors: this is not a Gemma 3 text encoder" in message
    assert "a Jina CLIP v2 text encoder (ComfyUI single file)" in message
    assert comfy.alive()


def test_names_outside_the_model_folders_are_refused(comfy, models):
    graph = {**loaders(model="../../../../etc/passwd"), **encode(text="traversal")}
    result = comfy.run(graph)
    # 0.33 refuses a value not in the list at validation; 0.3.75 does not check V3
    # combo values, so there the node refuses it.
    message = result.refusal()
    assert ("only names inside ComfyUI's diffusion_models folders" in message
            or "not in list" in message.lower()), message
