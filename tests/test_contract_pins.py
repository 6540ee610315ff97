"""Constants and conventions pinned against code the pack did not write: the host
ComfyUI's FLUX latent format and its RenormCFG, diffusers' Lumina2 key converter. A
round trip through the pack's own code would check nothing about them."""
import torch
from tiny_models import official_dit

from newbie.loading.transformer import official_name
from newbie.models.vae import from_model_space, to_model_space
from newbie.sampling.guidance import guided


def test_latent_scale_and_shift_are_comfyuis_flux_format(comfy_lib):
    from comfy.latent_formats import Flux

    raw = torch.randn(2, 16, 8, 12, generator=torch.Generator().manual_seed(0)) * 3 + 0.5
    flux = Flux()
    torch.testing.assert_close(to_model_space(raw), flux.process_in(raw), rtol=0, atol=1e-6)
    torch.testing.assert_close(from_model_space(raw), flux.process_out(raw), rtol=0, atol=1e-6)


class _PatchedModel:
    """Receives the CFG function RenormCFG installs (RenormCFG only clones the model and
    reads the diffusion model's channel count)."""

    def __init__(self):
        self.model = type("Base", (), {"diffusion_model": type("D", (), {"in_channels": 16})})()
        self.cfg_function = None

    def clone(self):
        return self

    def set_model_sampler_cfg_function(self, function, *args, **kwargs):
        self.cfg_function = function


def comfy_renorm(cond, uncond, cfg, renorm):
    """ComfyUI's RenormCFG rule for one sample (its norm test is for batch 1)."""
    from comfy_extras.nodes_lumina2 import RenormCFG

    model = _PatchedModel()
    RenormCFG.execute(model, cfg_trunc=100.0, renorm_cfg=renorm)
    # It returns input - guided (ComfyUI's cfg functions answer in that form).
    return -model.cfg_function({"cond_denoised": cond, "uncond_denoised": uncond,
                                "cond_scale": cfg, "timestep": torch.tensor([0.5]),
                                "input": torch.zeros_like(cond)})


def test_renorm_caps_each_sample_by_its_own_norm(comfy_lib):
    """A batch whose samples differ: only the first is over the cap. A batch-global
    norm would scale both, or neither."""
    gen = torch.Generator().manual_seed(1)
    cond = torch.randn(2, 16, 4, 4, generator=gen)
    uncond = cond.clone()
    uncond[0] -= 2.0 * torch.randn(16, 4, 4, generator=gen)  # far from cond: CFG overshoots
    uncond[1] = cond[1] * 1.01                                # next to cond: no overshoot
    ours = guided(cond, uncond, cfg=4.0, renorm=1.0)
    for i in range(2):
        theirs = comfy_renorm(cond[i:i + 1], uncond[i:i + 1], 4.0, 1.0)
        torch.testing.assert_close(ours[i:i + 1], theirs, rtol=1e-6, atol=1e-6)
    assert torch.linalg.vector_norm(ours[0]) < torch.linalg.vector_norm(
        uncond[0] + 4.0 * (cond[0] - uncond[0]))  # the first was capped, the second not
    torch.testing.assert_close(ours[1], uncond[1] + 4.0 * (cond[1] - uncond[1]))


def test_diffusers_port_names_are_diffusers_lumina2_names():
    """Every key diffusers' own Lumina2 converter writes maps back to the official key it
    came from (its fused-qkv split assumes the real 2304/768/768 rows). Its converter
    has no NewBie pooled-CLIP keys, so those names are pinned by the loading tests."""
    from diffusers.loaders.single_file_utils import convert_lumina2_to_diffusers

    official = {k: torch.zeros(3840 if k.endswith("attention.qkv.weight") else 1)
                for k in official_dit(clip=False)}
    official.pop("norm_final.weight")
    converted = convert_lumina2_to_diffusers(dict(official))
    checked = 0
    for key in converted:
        if ".attn.to_" in key and key.rsplit(".", 2)[-2] in ("to_q", "to_k", "to_v"):
            continue  # the split q/k/v, fused again by the loader (tested there)
        assert official_name(key) in official, key
        checked += 1
    assert checked == len(official) - sum(k.endswith("attention.qkv.weight") for k in official)
