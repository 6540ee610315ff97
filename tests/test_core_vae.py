"""NewBie VAE Decode / Encode on core's VAE object (core VAELoader with the FLUX VAE),
through the real server, against our loader's VAE of the same file and core's own
VAEDecode / VAEDecodeTiled."""
import numpy as np
import pytest
from graphs import pixels, png, t2i
from tiny_models import write_tiny_model_set


@pytest.fixture(scope="module")
def flux_vae(comfy):
    """The full-size FLUX VAE (random weights) under its official name: core's VAELoader
    builds the FLUX VAE at its fixed widths, so the tiny test VAE would not load there."""
    return write_tiny_model_set(comfy.models)["vae"].name


def decode_graph(vae_name) -> dict:
    graph = t2i(seed=21, width=128, height=96)
    graph.update({
        "core_vae": {"class_type": "VAELoader", "inputs": {"vae_name": vae_name}},
        "our_vae": {"class_type": "NewBieVAELoader", "inputs": {"vae": vae_name,
                                                                "dtype": "float32"}},
        "ours_on_core": {"class_type": "NewBieVAEDecode", "inputs": {
            "vae": ["core_vae", 0], "samples": ["s", 0], "dtype": "float32", "tile_size": 0}},
        "ours_on_ours": {"class_type": "NewBieVAEDecode", "inputs": {
            "vae": ["our_vae", 0], "samples": ["s", 0], "dtype": "float32", "tile_size": 0}},
        "core_on_core": {"class_type": "VAEDecode", "inputs": {"samples": ["s", 0],
                                                               "vae": ["core_vae", 0]}},
        "tiled_on_core": {"class_type": "NewBieVAEDecode", "inputs": {
            "vae": ["core_vae", 0], "samples": ["s", 0], "dtype": "float32", "tile_size": 64}},
        "encoded": {"class_type": "NewBieVAEEncode", "inputs": {
            "vae": ["core_vae", 0], "pixels": ["ours_on_core", 0], "dtype": "float32"}},
        "redecoded": {"class_type": "NewBieVAEDecode", "inputs": {
            "vae": ["core_vae", 0], "samples": ["encoded", 0], "dtype": "float32",
            "tile_size": 0}},
    })
    for name in ("ours_on_core", "ours_on_ours", "core_on_core", "tiled_on_core", "redecoded"):
        graph[f"save_{name}"] = {"class_type": "SaveImage", "inputs": {
            "images": [name, 0], "filename_prefix": f"core_vae_{name}"}}
    for node in ("d", "save"):
        graph.pop(node)
    return graph


def test_our_decode_takes_cores_flux_vae(comfy, tiny, flux_vae):
    result = comfy.run(decode_graph(flux_vae), timeout=600)
    images = {n[len("save_"):]: pixels(png(comfy, result, n)) for n in result.outputs
              if n.startswith("save_")}
    assert images["ours_on_core"].shape == (96, 128, 3)
    assert images["ours_on_core"].std() > 1.0
    # Same file, float32: our decoder (diffusers) and core's agree to a level of 8-bit.
    assert np.abs(images["ours_on_core"] - images["ours_on_ours"]).max() <= 1
    assert np.abs(images["ours_on_core"] - images["core_on_core"]).max() <= 1
    assert images["tiled_on_core"].shape == (96, 128, 3)
    assert images["redecoded"].shape == (96, 128, 3)


def test_a_vae_that_is_not_flux_is_refused(pack):
    import torch

    from newbie_pack.nodes.latent_nodes import NewBieVAEDecode

    class SDVAE:  # what core gives for an SD 1.x VAE: 4 latent channels
        first_stage_model = torch.nn.Identity()
        latent_channels = 4

    with pytest.raises(ValueError, match="needs the FLUX VAE.*4 latent channels"):
        NewBieVAEDecode.execute(SDVAE(), {"samples": torch.zeros(1, 16, 4, 4)}, "float32", 0)
