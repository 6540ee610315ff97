"""The VAE is ComfyUI's own VAE object both ways, through the real server: Load NewBie
VAE's VAE goes through core VAEDecode / VAEEncode / VAEDecodeTiled, core VAELoader's
through NewBie VAE Decode / Encode, with the same images."""
import math

import numpy as np
import pytest
import torch
from devtools.graphs import pixels, png, t2i
from safetensors.torch import load_file
from devtools.model_set import write_tiny_model_set
from devtools.tiny_models import write_safetensors
from devtools.tiny_vae import diffusers_vae, flux_vae, write_bfl_vae, write_diffusers_vae_folder


@pytest.fixture(scope="module")
def flux_vae_name(comfy):
    """The FLUX VAE at its published size (random weights, bfloat16) under its official
    name, and the same weights as a diffusers `vae/` folder: ComfyUI's VAE object builds
    the FLUX VAE at its published widths only, so the tiny library VAE cannot load there."""
    name = write_tiny_model_set(comfy.models)["vae"].name
    write_diffusers_vae_folder(comfy.models / "vae" / "flux-vae-diffusers", flux_vae(),
                               dtype=torch.bfloat16)
    return name


def save_images(graph: dict, *names: str) -> dict:
    for name in names:
        graph[f"save_{name}"] = {"class_type": "SaveImage", "inputs": {
            "images": [name, 0], "filename_prefix": f"core_vae_{name}"}}
    for node in ("d", "save"):
        graph.pop(node, None)
    return graph


def images_of(comfy, result) -> dict:
    return {n[len("save_"):]: pixels(png(comfy, result, n)) for n in result.outputs
            if n.startswith("save_")}


def ours(vae_name, dtype="float32") -> dict:
    return {"class_type": "NewBieVAELoader", "inputs": {"vae": vae_name, "dtype": dtype}}


def decode(vae, samples="s", dtype="float32", tile_size=0) -> dict:
    return {"class_type": "NewBieVAEDecode", "inputs": {
        "vae": [vae, 0], "samples": [samples, 0], "dtype": dtype, "tile_size": tile_size}}


def test_our_decode_takes_cores_flux_vae(comfy, tiny, flux_vae_name):
    """Core VAELoader's VAE through NewBie VAE Decode (whole and tiled) and Encode, against
    Load NewBie VAE's of the same file and core VAEDecode."""
    graph = t2i(seed=21, width=128, height=96)
    graph.update({
        "core_vae": {"class_type": "VAELoader", "inputs": {"vae_name": flux_vae_name}},
        "our_vae": ours(flux_vae_name),
        "ours_on_core": decode("core_vae"), "ours_on_ours": decode("our_vae"),
        "core_on_core": {"class_type": "VAEDecode", "inputs": {"samples": ["s", 0],
                                                               "vae": ["core_vae", 0]}},
        "tiled_on_core": decode("core_vae", tile_size=64),
        "encoded": {"class_type": "NewBieVAEEncode", "inputs": {
            "vae": ["core_vae", 0], "pixels": ["ours_on_core", 0], "dtype": "float32"}},
        "redecoded": decode("core_vae", samples="encoded"),
    })
    save_images(graph, "ours_on_core", "ours_on_ours", "core_on_core", "tiled_on_core",
                "redecoded")
    images = images_of(comfy, comfy.run(graph, timeout=600))
    assert images["ours_on_core"].shape == (96, 128, 3)
    assert images["ours_on_core"].std() > 1.0
    # Same file, float32: core VAELoader (core's default VAE dtype here) and ours agree to
    # a level of 8-bit; core VAEDecode and ours on the same VAE exactly.
    assert np.abs(images["ours_on_core"] - images["ours_on_ours"]).max() <= 1
    assert np.array_equal(images["ours_on_core"], images["core_on_core"])
    assert images["tiled_on_core"].shape == (96, 128, 3)
    assert not np.array_equal(images["tiled_on_core"], images["ours_on_core"])
    assert images["redecoded"].shape == (96, 128, 3)


def test_the_librarys_vae_decodes_as_comfyuis(pack, tmp_path):
    """The library's FLUX VAE (diffusers, for use without ComfyUI) against ComfyUI's VAE
    of the same file: the same image within float32 rounding."""
    from newbie.loading import load_vae

    from newbie_pack.comfy_glue import vae as core_vae

    path = write_bfl_vae(tmp_path / "ae.safetensors", flux_vae(seed=3))
    latent = torch.randn(1, 16, 6, 8, generator=torch.Generator().manual_seed(0))
    library = load_vae(path, dtype=torch.float32).decode(latent)
    comfy_vae = core_vae.load(path, torch.float32)
    comfy_image = comfy_vae.decode(latent).float()
    assert library.shape == comfy_image.shape == (1, 48, 64, 3)
    assert library.std() > 0.01
    assert torch.allclose(library, comfy_image, atol=1e-4)


def test_a_vae_that_is_not_flux_is_refused(pack):
    import torch

    from newbie_pack.nodes.latent_nodes import NewBieVAEDecode

    class SDVAE:  # what core gives for an SD 1.x VAE: 4 latent channels
        first_stage_model = torch.nn.Identity()
        latent_channels = 4

    with pytest.raises(ValueError, match="needs the FLUX VAE.*4 latent channels"):
        NewBieVAEDecode.execute(SDVAE(), {"samples": torch.zeros(1, 16, 4, 4)}, "float32", 0)


def test_core_nodes_take_our_vae(comfy, tiny, flux_vae_name):
    """Core VAEDecode on Load NewBie VAE's VAE gives NewBie VAE Decode's image in the same
    dtype (float32 and bfloat16); core VAEEncode gives NewBie VAE Encode's latent; core
    VAEDecodeTiled runs; the diffusers folder of the same weights gives the same image.
    (bfloat16 convolutions are emulated on these CPUs, ~100x slower: 16 px images.)"""
    graph = t2i(seed=22, width=128, height=96)
    graph.update({
        "v32": ours(flux_vae_name), "v16": ours(flux_vae_name, "bfloat16"),
        "folder": ours("flux-vae-diffusers/"),
        "lat_small": {"class_type": "NewBieEmptyLatent", "inputs": {
            "resolution": "custom", "width": 16, "height": 16, "batch_size": 1}},
        "s_small": {**graph["s"], "inputs": {**graph["s"]["inputs"],
                                             "latent_image": ["lat_small", 0]}},
        "ours_32": decode("v32"), "ours_16": decode("v16", samples="s_small", dtype="bfloat16"),
        "ours_32_small": decode("v32", samples="s_small"),
        "ours_folder": decode("folder"),
        "core_32": {"class_type": "VAEDecode", "inputs": {"samples": ["s", 0],
                                                          "vae": ["v32", 0]}},
        "core_16": {"class_type": "VAEDecode", "inputs": {"samples": ["s_small", 0],
                                                          "vae": ["v16", 0]}},
        "core_tiled": {"class_type": "VAEDecodeTiled", "inputs": {
            "samples": ["s", 0], "vae": ["v32", 0], "tile_size": 64, "overlap": 16,
            "temporal_size": 64, "temporal_overlap": 8}},
        "core_enc": {"class_type": "VAEEncode", "inputs": {"pixels": ["ours_32", 0],
                                                           "vae": ["v32", 0]}},
        "ours_enc": {"class_type": "NewBieVAEEncode", "inputs": {
            "vae": ["v32", 0], "pixels": ["ours_32", 0], "dtype": "float32"}},
        "core_enc_dec": decode("v32", samples="core_enc"),
        "ours_enc_dec": decode("v32", samples="ours_enc"),
    })
    save_images(graph, "ours_32", "ours_16", "ours_32_small", "ours_folder", "core_32", "core_16",
                "core_tiled", "core_enc_dec", "ours_enc_dec")
    images = images_of(comfy, comfy.run(graph, timeout=900))
    assert images["ours_32"].shape == (96, 128, 3) and images["ours_32"].std() > 1.0
    assert np.array_equal(images["core_32"], images["ours_32"])
    assert images["ours_16"].shape == (16, 16, 3)
    from newbie.models.linear import cpu_has_half_gemm

    if cpu_has_half_gemm(torch.bfloat16):
        assert np.array_equal(images["core_16"], images["ours_16"])
        assert not np.array_equal(images["ours_16"], images["ours_32_small"])  # bfloat16 ran
    else:  # emulated bfloat16 convolutions: NewBie VAE Decode computes in float32
        assert np.array_equal(images["ours_16"], images["ours_32_small"])
    assert np.array_equal(images["ours_folder"], images["ours_32"])
    assert images["core_tiled"].shape == (96, 128, 3)
    assert np.array_equal(images["core_enc_dec"], images["ours_enc_dec"])


def test_object_info_shows_vae_out_and_in(comfy):
    info = comfy.get_json("/object_info")
    assert info["NewBieVAELoader"]["output"] == ["VAE"]
    for node in ("NewBieVAEDecode", "NewBieVAEEncode"):
        assert info[node]["input"]["required"]["vae"][0] == "VAE", node


def test_a_vae_not_at_the_published_size_is_refused_by_name(comfy):
    write_bfl_vae(comfy.models / "vae" / "ae_narrow.safetensors", diffusers_vae())
    result = comfy.run({"v": ours("ae_narrow.safetensors"),
                        "show": {"class_type": "PreviewAny", "inputs": {"source": ["v", 0]}}})
    message = result.refusal()
    assert "ae_narrow.safetensors" in message and "published size" in message
    assert "[32, 32, 32, 32]" in message and comfy.alive()


def test_nan_vae_weights_name_their_file(comfy, tiny, flux_vae_name):
    weights = load_file(str(comfy.models / "vae" / flux_vae_name))
    weights["decoder.conv_out.weight"][0, 0, 0, 0] = math.nan
    write_safetensors(comfy.models / "vae" / "ae_nan.safetensors", weights)
    graph = t2i(seed=23, width=64, height=64)
    graph["v"] = ours("ae_nan.safetensors")
    message = comfy.run(graph, timeout=600).refusal()
    assert "NewBie VAE Decode" in message and "ae_nan.safetensors" in message
    assert "decoder.conv_out.weight" in message


def test_a_half_precision_decode_on_a_slow_cpu_path_runs_in_float32(comfy, tiny):
    """Where this CPU has no instructions for a half precision, NewBie VAE Decode computes
    in float32 and says so in one line; where it has them, the dtype is kept."""
    from newbie.models.linear import cpu_has_half_gemm

    for dtype, torch_dtype in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
        graph = t2i(seed=23, width=16, height=16)
        graph["half"] = {**graph["d"], "inputs": {**graph["d"]["inputs"], "dtype": dtype}}
        graph["full"] = {**graph["d"], "inputs": {**graph["d"]["inputs"], "dtype": "float32"}}
        save_images(graph, "half", "full")
        before = len(comfy.log())
        images = images_of(comfy, comfy.run(graph, timeout=900))
        note = (f"NewBie VAE Decode: {dtype} on the CPU runs the VAE's convolutions on a slow "
                "path; computing in float32 instead")
        if cpu_has_half_gemm(torch_dtype):
            assert note not in comfy.log()[before:]
        else:
            assert note in comfy.log()[before:]
            assert np.array_equal(images["half"], images["full"])
