"""The NewBie MODEL inside ComfyUI's own sampling machinery, in process: core's
`comfy.sample.sample` (as KSampler calls it) against the library's sampler on the same
file, and the conditions core batches."""
import pytest
import torch
from devtools.tiny_models import TINY, official_dit, real_width_dit, write_safetensors

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

    from newbie_pack.comfy_glue.model import load_model

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


@pytest.mark.parametrize("solver, cfg_trunc, renorm", [("euler", 0.4, 0.7), ("midpoint", 1.0, 0.5),
                                                       ("dpmpp_2m", 0.6, 0.0)])
def test_our_guider_and_solvers_match_the_library(pack, tiny_file, solver, cfg_trunc, renorm):
    """NewBie CFG Guider + NewBie Solver on ComfyUI's sampling loop against the library's
    official sampler: truncation (t = 1 - sigma), renorm on the velocity, each solver."""
    from newbie_pack.comfy_glue.model import load_model
    from newbie_pack.comfy_glue.sampling import NewBieGuider, newbie_sampler
    from newbie_pack.nodes.sampler_nodes import newbie_sigmas

    model = load_model(tiny_file, torch.float32)
    positive, cond = conditioning(6, 4)
    negative, uncond = conditioning(3, 5)
    noise = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(6))
    guider = NewBieGuider(model, 3.0, cfg_trunc, renorm)
    guider.set_conds(positive, negative)
    core = guider.sample(noise, torch.zeros_like(noise), newbie_sampler(solver),
                         newbie_sigmas(8, 6.0, 1.0), seed=0)
    reference = load_transformer(tiny_file, dtype=torch.float32)
    ours = from_model_space(sample(reference, cond, uncond, noise, steps=8, cfg=3.0,
                                   solver=solver, cfg_trunc=None if cfg_trunc >= 1 else cfg_trunc,
                                   renorm=renorm))
    err = ((core - ours).norm() / ours.norm()).item()
    assert err < 1e-5, err


def test_core_newbie_model_through_our_sampler_and_guider(pack, host, tmp_path):
    """0.33's UNETLoader path (comfy.sd.load_diffusion_model) detects the file as NewBie;
    NewBie Sampler and NewBie CFG Guider take that MODEL and give what our loader's MODEL
    of the same file gives. Core's q/k norm eps (float32's) differs from the official
    1e-5, hence the tolerance."""
    if host.startswith("0.3."):
        pytest.skip("ComfyUI 0.3.75 has no native NewBie")
    import comfy.sample
    import comfy.sd

    from newbie_pack.comfy_glue.model import load_model
    from newbie_pack.comfy_glue.sampling import newbie_sampler
    from newbie_pack.nodes.sampler_nodes import NewBieCFGGuider, NewBieSampler, newbie_sigmas

    path = write_safetensors(tmp_path / "newbie_2304.safetensors", real_width_dit())
    core = comfy.sd.load_diffusion_model(str(path), model_options={"dtype": torch.float32})
    assert type(core.model).__name__ == "Lumina2"
    ours = load_model(path, torch.float32)
    gen = torch.Generator().manual_seed(9)

    def cond(length):
        return [[torch.randn(1, length, 2560, generator=gen),
                 {"pooled_output": torch.randn(1, 1024, generator=gen)}]]
    positive, negative = cond(6), cond(3)
    latent = {"samples": torch.zeros(1, 16, 8, 8)}
    args = dict(seed=3, steps=4, cfg=3.0, solver="euler", shift=6.0, cfg_trunc=1.0, renorm=0.0,
                denoise=1.0, dtype="float32")
    results = [NewBieSampler.execute(m, positive, negative, latent, **args).result[0]["samples"]
               for m in (core, ours)]
    err = ((results[0] - results[1]).norm() / results[1].norm()).item()
    assert results[1].std() > 0.1 and err < 1e-3, err
    # The guider node (what SamplerCustomAdvanced runs) on core's MODEL, same noise.
    guider = NewBieCFGGuider.execute(core, positive, negative, 3.0, 1.0, 0.0).result[0]
    noise = comfy.sample.prepare_noise(latent["samples"], 3)
    guided = guider.sample(noise, latent["samples"], newbie_sampler("euler"),
                           newbie_sigmas(4, 6.0, 1.0), seed=3)
    torch.testing.assert_close(guided, results[0], rtol=1e-5, atol=1e-5)


def test_a_model_that_is_not_newbie_is_refused_by_name(pack):
    import comfy.model_patcher

    from newbie_pack.nodes.lora_nodes import NewBieLoraLoader
    from newbie_pack.nodes.sampler_nodes import NewBieCFGGuider

    other = comfy.model_patcher.ModelPatcher(torch.nn.Linear(2, 2), torch.device("cpu"),
                                             torch.device("cpu"))
    positive, _ = conditioning(4, 1)
    with pytest.raises(ValueError, match="needs a NewBie-image MODEL.*got a Linear model"):
        NewBieCFGGuider.execute(other, positive, positive, 4.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="NewBie LoRA Loader needs a NewBie-image MODEL"):
        NewBieLoraLoader.execute(other, "x.safetensors", 1.0)


def test_model_settings_are_cores_lumina2_ones(pack):
    """Shift 6 flow sampling, FLUX latents and the memory factor, pinned against the
    host's own Lumina 2 entry (the family NewBie belongs to)."""
    import comfy.model_base
    import comfy.supported_models as core

    from newbie_pack.comfy_glue.model import NewBieConfig

    assert NewBieConfig.sampling_settings == core.Lumina2.sampling_settings
    assert NewBieConfig.latent_format is core.Lumina2.latent_format
    assert NewBieConfig.memory_usage_factor == core.Lumina2.memory_usage_factor
    model = NewBieConfig({"image_model": "newbie", **_tiny_config()}).get_model({})
    assert model.model_type == comfy.model_base.ModelType.FLOW
    assert float(model.model_sampling.shift) == 6.0


def _tiny_config():
    from devtools.tiny_models import official_dit

    from newbie.models.transformer_config import infer_config

    return infer_config({k: tuple(v.shape) for k, v in official_dit().items()})
