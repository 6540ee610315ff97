"""The NewBie MODEL inside ComfyUI's own sampling machinery, in process: core's
`comfy.sample.sample` (as KSampler calls it) against the library's sampler on the same
file, and the conditions core batches."""
import pytest
import torch
from tiny_models import TINY, official_dit, write_safetensors

from newbie.loading import load_transformer
from newbie.models.vae import from_model_space
from newbie.sampling import sample


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_safetensors(tmp_path_factory.mktemp("dit") / "newbie.safetensors",
                             official_dit(seed=11))


def conditioning(length: int, seed: int, valid: int | None = None):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(1, length, TINY["cap"], generator=gen)
    mask = torch.arange(length)[None] < (valid or length)
    pooled = torch.randn(1, TINY["clip"], generator=gen)
    return [[feats, {"pooled_output": pooled, "attention_mask": mask}]], (feats, mask, pooled)


def test_core_sampler_on_our_model_matches_the_library(pack, tiny_file):
    import comfy.sample

    from newbie_pack.nodes.comfy_model import load_model

    model = load_model(tiny_file, torch.float32)
    positive, cond = conditioning(9, 1, valid=7)
    negative, uncond = conditioning(4, 2)
    noise = torch.randn(2, 16, 8, 12, generator=torch.Generator().manual_seed(3))
    latent = torch.zeros_like(noise)
    core = comfy.sample.sample(model, noise, 10, 4.0, "euler", "simple", positive, negative,
                               latent, denoise=1.0, seed=0)
    reference = load_transformer(tiny_file, dtype=torch.float32)
    ours = from_model_space(sample(reference, cond, uncond, noise, steps=10, cfg=4.0))
    err = ((core - ours).norm() / ours.norm()).item()
    assert err < 1e-5, err
