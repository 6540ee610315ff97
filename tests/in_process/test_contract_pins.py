"""Constants and conventions pinned against the host ComfyUI's own code: its FLUX latent
format, its RenormCFG, its noise. A round trip through the pack's own code would check
nothing about them."""
import torch

from newbie.models.vae import from_model_space, to_model_space
from newbie.sampling import comfy_noise
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


def test_noise_equals_comfyuis_for_the_same_seed(comfy_lib):
    from comfy.sample import prepare_noise

    latent = torch.zeros(2, 16, 8, 12)
    for seed in (0, 42, 2**40 + 7):
        torch.testing.assert_close(comfy_noise(latent.shape, seed), prepare_noise(latent, seed),
                                   rtol=0, atol=0)
    torch.testing.assert_close(comfy_noise(latent.shape, 5, [1, 0, 1]),
                               prepare_noise(torch.zeros(3, 16, 8, 12), 5, [1, 0, 1]))
    assert not torch.equal(comfy_noise(latent.shape, 1), comfy_noise(latent.shape, 2))
