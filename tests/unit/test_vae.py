"""FLUX VAE loading (BFL keys and diffusers folder), ComfyUI image/latent layouts."""
import pytest
import torch
from devtools.tiny_models import official_dit, write_safetensors
from devtools.tiny_vae import diffusers_vae, to_bfl, write_bfl_vae, write_diffusers_vae_folder

from newbie.loading import CheckpointError
from newbie.loading.vae import load_vae
from newbie.models.vae import from_model_space, to_model_space


@pytest.fixture(scope="module")
def reference():
    return diffusers_vae()


def test_bfl_file_and_diffusers_folder_match_diffusers(tmp_path, reference):
    latent = torch.randn(1, 16, 6, 4)
    with torch.no_grad():
        expected = ((reference.decode(latent).sample + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)
    for path in (write_bfl_vae(tmp_path / "ae.safetensors", reference),
                 write_diffusers_vae_folder(tmp_path / "repo", reference)):
        vae = load_vae(path, dtype=torch.float32)
        image = vae.decode(latent)
        assert image.shape == (1, 48, 32, 3)
        torch.testing.assert_close(image, expected, rtol=1e-5, atol=1e-5)


def test_encode_gives_raw_latents_of_the_right_shape(tmp_path, reference):
    vae = load_vae(write_bfl_vae(tmp_path / "ae.safetensors", reference), dtype=torch.float32)
    image = torch.rand(2, 64, 48, 3)
    latent = vae.encode(image)
    assert latent.shape == (2, 16, 8, 6)
    with torch.no_grad():
        expected = reference.encode(image.permute(0, 3, 1, 2) * 2 - 1).latent_dist.mode()
    torch.testing.assert_close(latent, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(from_model_space(to_model_space(latent)), latent)


@pytest.mark.parametrize("dtype", ["auto", torch.bfloat16, torch.float16])
def test_dtypes(tmp_path, reference, dtype):
    vae = load_vae(write_bfl_vae(tmp_path / "ae.safetensors", reference, torch.bfloat16), dtype=dtype)
    expected = torch.float32 if dtype == "auto" else dtype  # auto on CPU: fp32
    assert {p.dtype for p in vae.parameters()} == {expected}
    assert vae.decode(torch.randn(1, 16, 4, 4)).dtype == torch.float32


def test_missing_key_is_an_error_not_a_random_weight(tmp_path, reference):
    tensors = to_bfl(reference.state_dict())
    del tensors["decoder.conv_out.weight"]
    with pytest.raises(CheckpointError, match="Missing 1 keys, first: decoder.conv_out.weight"):
        load_vae(write_safetensors(tmp_path / "ae_broken.safetensors", tensors))


def test_a_transformer_file_is_refused_by_name(tmp_path):
    path = write_safetensors(tmp_path / "newbie.safetensors", official_dit())
    with pytest.raises(CheckpointError, match="not a FLUX VAE.*NewBie Next-DiT transformer"):
        load_vae(path)
