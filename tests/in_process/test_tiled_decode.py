"""NewBie VAE Decode's tiled path: one blended pass of ComfyUI's tiler on ComfyUI's VAE
object, against core's three-pass decode_tiled (what VAE Decode (Tiled) runs), both
measured against the untiled decode of the same latent."""
import pytest
import torch
from devtools.tiny_vae import flux_vae, write_bfl_vae

TILE, CORE_OVERLAP = 16, 4  # latents: 128 px tiles, core's node default overlap 32 px


@pytest.fixture(scope="module")
def decoded(pack, tmp_path_factory):
    import comfy.utils

    from newbie_pack.comfy_glue import vae as flux

    path = write_bfl_vae(tmp_path_factory.mktemp("vae") / "ae.safetensors", flux_vae(),
                         dtype=torch.float32)
    vae = flux.load(path, torch.float32)
    latent = torch.randn(1, 16, 32, 32, generator=torch.Generator().manual_seed(0))
    steps = {}
    real = comfy.utils.ProgressBar

    class Counted(real):  # ComfyUI's own progress: how many tiles each path decodes
        def __init__(self, total, *args, **kwargs):
            steps[len(steps)] = total
            super().__init__(total, *args, **kwargs)

    comfy.utils.ProgressBar = Counted
    try:
        with torch.inference_mode():
            images = {"full": vae.decode(latent).float(),
                      "ours": flux.decode(vae, latent, torch.float32, TILE * 8).float(),
                      "core": vae.decode_tiled(latent, tile_x=TILE, tile_y=TILE,
                                               overlap=CORE_OVERLAP).float()}
    finally:
        comfy.utils.ProgressBar = real
    return images, {"ours": steps[0], "core": steps[1]}


def border_error(image, full, width=8) -> float:
    """Mean error against the untiled decode in bands around every place a tile of
    either path starts or ends (all on a 32 px grid: tile starts step by 4 latents or
    more)."""
    err = (image - full).abs().mean(-1)[0]
    mask = torch.zeros_like(err, dtype=torch.bool)
    for edge in range(32, err.shape[0], 32):
        mask[edge - width:edge + width, :] = True
        mask[:, edge - width:edge + width] = True
    return err[mask].mean().item()


def test_one_blended_pass_has_seams_no_worse_than_cores_three(decoded):
    images, _ = decoded
    full = images["full"]
    assert images["ours"].shape == full.shape == (1, 256, 256, 3)
    ours, core = border_error(images["ours"], full), border_error(images["core"], full)
    print(f"\nerror at tile borders against untiled: one pass {ours:.4f}, core {core:.4f}")
    assert 0 < ours <= core, (ours, core)
    assert (images["ours"] - full).abs().max() <= (images["core"] - full).abs().max()


def test_one_pass_decodes_fewer_tiles_than_cores_three(decoded):
    _, steps = decoded
    # Core's passes use tiles of tile x tile, tile/2 x 2 tile and 2 tile x tile/2: the
    # same area each, so the tile counts compare the work.
    assert steps["ours"] < 0.6 * steps["core"], steps
