"""Out of memory in sampling and decoding: the node's error names what to lower and is
still a torch.OutOfMemoryError, so ComfyUI's executor also unloads every model, as it
does for core nodes. The GPU that runs out cannot run here, so only the allocation
failure is faked; the node classes and models are the pack's own, imported in process."""
import importlib

import pytest
import torch


def card_is_full(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.fixture(scope="module")
def flux_vae_file(tmp_path_factory):
    from devtools.tiny_vae import flux_vae, write_bfl_vae

    return write_bfl_vae(tmp_path_factory.mktemp("vae") / "ae.safetensors", flux_vae(),
                         dtype=torch.bfloat16)


def test_decode_says_lower_the_tile_size(pack, flux_vae_file, monkeypatch):
    vae = importlib.import_module("newbie_pack.comfy_glue.vae").load(flux_vae_file,
                                                                     torch.float32)
    monkeypatch.setattr(vae, "decode", card_is_full)
    decode = importlib.import_module("newbie_pack.nodes.latent_nodes").NewBieVAEDecode
    with pytest.raises(torch.OutOfMemoryError, match="tile size"):
        decode.execute(vae, {"samples": torch.zeros(1, 16, 8, 8)}, "float32", 0)


def test_sampling_says_lower_the_resolution(pack, monkeypatch, tmp_path):
    from devtools.tiny_models import TINY, official_dit, write_safetensors

    from newbie_pack.comfy_glue.model import load_model
    from newbie_pack.comfy_glue.sampling import NewBieGuider

    model = load_model(write_safetensors(tmp_path / "dit.safetensors", official_dit()),
                       torch.float32)
    nodes = importlib.import_module("newbie_pack.nodes.sampler_nodes")
    monkeypatch.setattr(NewBieGuider, "sample", card_is_full)
    cond = [[torch.zeros(1, 4, TINY["cap"]), {"pooled_output": torch.zeros(1, TINY["clip"])}]]
    with pytest.raises(torch.OutOfMemoryError, match="resolution or batch size"):
        nodes.NewBieSampler.execute(model, cond, cond, {"samples": torch.zeros(1, 16, 8, 8)},
                                    seed=0, steps=2, cfg=4.0, solver="euler", shift=6.0,
                                    cfg_trunc=1.0, renorm=0.0, denoise=1.0, dtype="bfloat16")


def test_vae_encode_says_lower_the_image_size(pack, flux_vae_file, monkeypatch):
    vae = importlib.import_module("newbie_pack.comfy_glue.vae").load(flux_vae_file,
                                                                     torch.float32)
    monkeypatch.setattr(vae, "encode", card_is_full)
    encode = importlib.import_module("newbie_pack.nodes.latent_nodes").NewBieVAEEncode
    with pytest.raises(torch.OutOfMemoryError, match="image size"):
        encode.execute(vae, torch.rand(1, 64, 64, 3), "float32")


def test_text_encoding_says_put_the_encoders_on_the_cpu(pack, tmp_path, monkeypatch):
    from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

    from newbie.loading import load_text_encoders

    encoders = load_text_encoders(write_gemma_comfy(tmp_path / "g.safetensors"),
                                  write_jina_comfy(tmp_path / "j.safetensors"))
    monkeypatch.setattr(encoders, "encode_rows", card_is_full)
    clip = pack.comfy_glue.clip.newbie_clip(encoders, {}, on_cpu=False)
    node = importlib.import_module("newbie_pack.nodes.encode_nodes").NewBieTextEncode
    with pytest.raises(torch.OutOfMemoryError, match="set their device to cpu"):
        node.execute(clip, text="a girl", negative="", system_prompt="", max_tokens=512)
