"""Core re-creates our models as it does its own loaders' (0.33: `cached_patcher_init`):
deep clones for another device (MultiGPU CFG Split, Select Model / CLIP / VAE Device)
and forced deep copies (Train LoRA, non-dynamic delegates) give the same outputs as
the originals, LoRA patches included. One CPU stands in for every device here."""
import pytest
import torch
from devtools.tiny_lora import lora_pairs, write_peft
from devtools.tiny_models import TINY, official_dit, write_safetensors
from devtools.tiny_text import write_gemma_comfy, write_jina_comfy
from devtools.tiny_vae import flux_vae, write_bfl_vae

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("reload")
    return {"model": write_safetensors(root / "dit.safetensors", official_dit(seed=4)),
            "lora": write_peft(root / "lora", lora_pairs(std=0.3), alpha=4.0),
            "gemma": write_gemma_comfy(root / "g.safetensors"),
            "jina": write_jina_comfy(root / "j.safetensors"),
            "vae": write_bfl_vae(root / "ae.safetensors", flux_vae(), dtype=torch.bfloat16)}


@pytest.fixture()
def reloading(pack):
    import comfy.model_patcher

    if not hasattr(comfy.model_patcher.ModelPatcher(torch.nn.Linear(1, 1), CPU, CPU),
                   "cached_patcher_init"):
        pytest.skip("this ComfyUI does not re-create models")
    return pack.comfy_glue


def sampled(model) -> torch.Tensor:
    import comfy.sample

    gen = torch.Generator().manual_seed(2)
    positive = [[torch.randn(1, 6, TINY["cap"], generator=gen),
                 {"pooled_output": torch.randn(1, TINY["clip"], generator=gen)}]]
    negative = [[torch.randn(1, 3, TINY["cap"], generator=gen),
                 {"pooled_output": torch.randn(1, TINY["clip"], generator=gen)}]]
    noise = torch.randn(1, 16, 8, 8, generator=gen)
    return comfy.sample.sample(model, noise, 4, 3.0, "euler", "simple", positive, negative,
                               torch.zeros_like(noise), seed=0)


def test_the_model_deep_clones_with_its_lora(reloading, files):
    base = reloading.model.load_model(files["model"], torch.float32)
    patched = reloading.lora.with_lora(base, base.model.diffusion_model, files["lora"], 0.8)
    expected = sampled(patched)
    assert not torch.equal(expected, sampled(base))  # the LoRA counts
    for copy in (patched.deepclone_multigpu(new_load_device=CPU),
                 patched.clone(force_deepcopy=True)):
        assert copy.model is not patched.model  # its own weights
        assert copy.model.model_config.source == files["model"]
        assert torch.equal(sampled(copy), expected)


def test_the_clip_deep_clones(reloading, files):
    clip = reloading.clip.load_clip(files["gemma"], files["jina"], torch.float32, on_cpu=False)
    tokens = clip.tokenize("<caption>a girl waving, >_<</caption>")
    expected = clip.cond_stage_model.encode_token_weights(tokens)
    copy = clip.patcher.deepclone_multigpu(new_load_device=CPU)
    assert copy.model is not clip.cond_stage_model
    for ours, theirs in zip(copy.model.encode_token_weights(tokens)[:2], expected[:2], strict=True):
        assert torch.equal(ours, theirs)


def test_the_vae_deep_clones(reloading, files):
    vae = reloading.vae.load(files["vae"], torch.float32)
    latent = torch.randn(1, 16, 4, 4, generator=torch.Generator().manual_seed(1))
    copy = vae.patcher.deepclone_multigpu(new_load_device=CPU)
    assert copy.model is not vae.first_stage_model
    with torch.no_grad():
        assert torch.equal(copy.model.decode(latent), vae.first_stage_model.decode(latent))


def test_the_official_cfg_runs_under_cores_cfg_split(reloading, files, monkeypatch):
    """MultiGPU CFG Split deep-clones the MODEL onto a second device and core's batched
    path spreads cond and uncond over the two; NewBie's guider (truncation, renorm) goes
    through that path. One CPU here: a second CPU device ("cpu:1", where tensors land
    on the CPU) stands in for the second card."""
    import comfy.model_management as mm
    import comfy.multigpu
    import comfy.samplers

    from newbie_pack.nodes.sampler_nodes import newbie_sigmas

    monkeypatch.setattr(mm, "get_all_torch_devices",
                        lambda exclude_current=False: [CPU, torch.device("cpu", 1)])
    split_calls = []
    spread = comfy.samplers._calc_cond_batch_multigpu
    monkeypatch.setattr(comfy.samplers, "_calc_cond_batch_multigpu",
                        lambda *a, **k: split_calls.append(1) or spread(*a, **k))
    model = reloading.model.load_model(files["model"], torch.float32)
    split = comfy.multigpu.create_multigpu_deepclones(model, 2)
    assert [p.load_device for p in split.get_additional_models_with_key("multigpu")] == \
        [torch.device("cpu", 1)]
    gen = torch.Generator().manual_seed(2)
    conds = [[[torch.randn(1, n, TINY["cap"], generator=gen),
               {"pooled_output": torch.randn(1, TINY["clip"], generator=gen)}]] for n in (6, 3)]
    noise = torch.randn(1, 16, 8, 8, generator=gen)

    def sample(patcher):
        guider = reloading.sampling.NewBieGuider(patcher, 3.0, cfg_trunc=0.6, renorm=0.5)
        guider.set_conds(*conds)
        return guider.sample(noise, torch.zeros_like(noise),
                             reloading.sampling.newbie_sampler("euler"), newbie_sigmas(6, 6.0, 1.0),
                             seed=0)

    whole = sample(model)
    assert not split_calls
    try:
        spread_out = sample(split)
    finally:
        mm.unload_all_models()  # nothing stays listed on the stand-in device
    assert len(split_calls) == 6  # every step through the split
    # cond and uncond run apart there instead of in one batch: float32 rounding only
    assert ((spread_out - whole).norm() / whole.norm()).item() < 1e-5
