"""NewBiePipeline: prompt to image in plain Python, no ComfyUI."""
import pytest
import torch
from devtools.tiny_models import official_dit, write_safetensors
from devtools.tiny_text import write_gemma_comfy, write_jina_comfy
from devtools.tiny_vae import diffusers_vae, write_bfl_vae

from newbie.pipeline import NewBiePipeline


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    return NewBiePipeline.from_files(
        write_safetensors(root / "dit.safetensors", official_dit(dtype=torch.bfloat16)),
        write_gemma_comfy(root / "gemma.safetensors"), write_jina_comfy(root / "jina.safetensors"),
        write_bfl_vae(root / "ae.safetensors", diffusers_vae()))


def test_prompt_to_image(pipe):
    steps = []
    image = pipe("<caption>a cat</caption>", width=96, height=64, steps=3, seed=5,
                 callback=lambda i, n, x, d: steps.append((i, n)))
    assert image.shape == (1, 64, 96, 3) and 0 <= image.min() and image.max() <= 1
    assert steps == [(0, 3), (1, 3), (2, 3)]
    again = pipe("<caption>a cat</caption>", width=96, height=64, steps=3, seed=5)
    torch.testing.assert_close(image, again, rtol=0, atol=0)
    other = pipe("<caption>a cat</caption>", width=96, height=64, steps=3, seed=6)
    assert (other - image).abs().mean() > 1e-4


def test_size_rule(pipe):
    with pytest.raises(ValueError, match="width 100 is not a positive multiple of 16"):
        pipe("x", width=100, height=64, steps=1)
