"""The residency schedule (nodes/memory.py) through the test host's real model
manager: our models get ModelPatchers and go through `load_models_gpu`, so ComfyUI
evicts them for other models and the other way round.

No GPU here, so only the card is faked: ComfyUI reports a 16 GiB CUDA device whose
free memory is the card minus the models currently placed on it. The models are
modules with meta weights of the real sizes that record where they are sent."""

import pytest
import torch

GiB = 1 << 30
CARD = torch.device("cuda", 0)


class Placed(torch.nn.Module):
    """A model of `size` bytes (meta weights, nothing allocated) that records its device."""

    def __init__(self, name: str, size: int):
        super().__init__()
        self.name, self.where = name, "cpu"
        self.weight = torch.nn.Parameter(torch.empty(size // 2, dtype=torch.bfloat16,
                                                     device="meta"))

    def to(self, *args, **kwargs):
        device = kwargs.get("device", args[0] if args else None)
        if isinstance(device, (str, torch.device)):
            self.where = torch.device(device).type
        return self

    def _apply(self, fn, recurse=True):  # the parent's .to() reaches us here
        return self


@pytest.fixture()
def card(pack, monkeypatch):
    import comfy.model_management as mm
    from comfy.model_patcher import ModelPatcher

    placed: list[Placed] = []
    budget = {"total": 16 * GiB}

    def free_memory(dev=None, torch_free_too=False):
        used = sum(m.weight.numel() * 2 for m in placed if m.where == "cuda")
        free = budget["total"] - used
        return (free, free) if torch_free_too else free

    monkeypatch.setattr(mm, "get_torch_device", lambda: CARD)
    monkeypatch.setattr(mm, "vram_state", mm.VRAMState.NORMAL_VRAM)
    monkeypatch.setattr(mm, "get_free_memory", free_memory)
    monkeypatch.setattr(mm, "soft_empty_cache", lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)  # 0.33 syncs after loads
    monkeypatch.setattr(mm, "current_loaded_models", [])
    memory = pack.memory

    def model(name, size):
        """A Resident (what our loaders output) over a Placed module."""
        placed.append(Placed(name, size))
        return memory.Resident(placed[-1])

    return memory, mm, ModelPatcher, model, budget


def test_encoders_leave_the_card_for_the_transformer_on_16_gib(card):
    memory, mm, _, model, _ = card
    encoders = model("encoders", int(8.6 * GiB))  # Gemma 3 4B + Jina v2, bf16
    transformer = model("transformer", int(7.0 * GiB))  # 3.5B, bf16
    vae = model("vae", int(0.33 * GiB))  # FLUX VAE, fp32
    with memory.on_compute_device(encoders):
        assert encoders.model.where == "cuda"
    assert encoders.model.where == "cuda"  # stays until ComfyUI needs the room
    with memory.on_compute_device(transformer, extra_bytes=1 * GiB):
        assert (encoders.model.where, transformer.model.where) == ("cpu", "cuda")
    with memory.on_compute_device(vae, extra_bytes=4 * GiB):
        assert vae.model.where == "cuda"
    # ComfyUI may keep an evicted model listed with nothing loaded (a partial unload).
    on_card = {m.model.model.newbie.name: m.model.loaded_size() for m in mm.current_loaded_models}
    assert on_card.get("encoders", 0) == 0 and on_card["transformer"] > 0 and on_card["vae"] > 0


def test_with_room_to_spare_everything_stays(card):
    memory, _, _, model, budget = card
    budget["total"] = 48 * GiB
    encoders, transformer = model("encoders", int(8.6 * GiB)), model("transformer", 7 * GiB)
    with memory.on_compute_device(encoders):
        pass
    with memory.on_compute_device(transformer):
        pass
    assert (encoders.model.where, transformer.model.where) == ("cuda", "cuda")


def test_comfyui_models_and_ours_evict_each_other(card):
    memory, mm, ModelPatcher, model, _ = card
    core_module = model("core model", 10 * GiB).model
    core_model = torch.nn.Sequential(core_module)  # weights in a child, as core models have
    core = ModelPatcher(core_model, load_device=CARD, offload_device=torch.device("cpu"))
    transformer = model("transformer", 7 * GiB)

    mm.load_models_gpu([core])
    assert core_module.where == "cuda"
    with memory.on_compute_device(transformer):
        assert (core_module.where, transformer.model.where) == ("cpu", "cuda")
    mm.load_models_gpu([core])
    assert (core_module.where, transformer.model.where) == ("cuda", "cpu")


def test_one_listing_per_model(card):
    memory, mm, _, model, _ = card
    transformer = model("transformer", 7 * GiB)
    for _ in range(3):
        with memory.on_compute_device(transformer):
            pass
    assert [m.model for m in mm.current_loaded_models] == [transformer.patcher]


def test_a_cpu_resident_never_reaches_the_card(card):
    """Text encoders with device `cpu`: ComfyUI's manager is not asked to move them."""
    memory, mm, _, _, _ = card
    encoders = memory.Resident(Placed("encoders", GiB), compute=False)
    with memory.on_compute_device(encoders) as where:
        assert where == torch.device("cpu") and encoders.model.where == "cpu"
    assert mm.current_loaded_models == []


def test_a_temporary_copy_is_released_even_on_failure(card):
    memory, mm, _, model, _ = card
    copy = model("fp32 copy", 14 * GiB)
    with pytest.raises(RuntimeError):
        with memory.on_compute_device(copy, temporary=True):
            assert copy.model.where == "cuda"
            raise RuntimeError("out of memory")
    assert copy.model.where == "cpu" and mm.current_loaded_models == []


def test_the_real_modules_accept_a_patcher(card, tmp_path):
    """diffusers' ModelMixin has a read-only `device`; the container takes ModelPatcher's
    bookkeeping instead, and loading on the CPU keeps the weights usable."""
    from devtools.tiny_models import official_dit
    from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

    from newbie.loading import load_text_encoders
    from newbie.models import NewBieTransformer

    memory, mm, ModelPatcher, _, _ = card
    transformer = NewBieTransformer.from_state_dict(official_dit(), dtype=torch.bfloat16)
    encoders = load_text_encoders(write_gemma_comfy(tmp_path / "g.safetensors"),
                                  write_jina_comfy(tmp_path / "j.safetensors"))
    for loaded in (transformer, encoders):
        patcher = ModelPatcher(memory.ComfyResident(loaded), load_device=torch.device("cpu"),
                               offload_device=torch.device("cpu"))
        patcher.patch_model(torch.device("cpu"))
        assert patcher.model.device == torch.device("cpu")
        assert patcher.model_dtype() == next(loaded.parameters()).dtype
        assert patcher.model_size() == sum(t.numel() * t.element_size()
                                           for t in loaded.state_dict().values())
        patcher.detach()


@pytest.fixture()
def model_file(tmp_path):
    from devtools.tiny_lora import lora_pairs, write_peft
    from devtools.tiny_models import official_dit, write_safetensors

    return (write_safetensors(tmp_path / "dit.safetensors", official_dit()),
            write_peft(tmp_path / "lora", lora_pairs(), alpha=4.0))


def _partially_loaded(patcher, device, share=3):
    patcher.load(device, lowvram_model_memory=patcher.model_size() // share)
    diffusion = patcher.model.diffusion_model
    streamed = [m for m in diffusion.modules() if hasattr(m, "prev_comfy_cast_weights")]
    return diffusion, streamed


def _inputs(config):
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(2, 16, 8, 8, generator=gen), torch.rand(2, generator=gen),
            torch.randn(2, 5, config.cap_feat_dim, generator=gen), None,
            torch.randn(2, config.clip_text_dim, generator=gen))


def test_a_partial_load_gives_the_same_output(card, model_file):
    """ComfyUI's partial load (what --lowvram and small cards get) leaves layers on the
    CPU to stream their weights; the transformer's output does not change by a bit."""
    from newbie.models import NewBieTransformer
    from newbie_pack.nodes.comfy_model import load_model

    memory = card[0]
    patcher = load_model(model_file[0], torch.float32)
    diffusion = patcher.model.diffusion_model
    args = _inputs(diffusion.config)
    with torch.no_grad():
        expected = NewBieTransformer.forward(diffusion, *args)
        assert memory.streams_every_weight(diffusion)
        _, streamed = _partially_loaded(patcher, torch.device("cpu"))
        assert 0 < len(streamed) < sum(1 for _ in diffusion.modules())
        torch.testing.assert_close(NewBieTransformer.forward(diffusion, *args), expected,
                                   rtol=0, atol=0)


def test_a_partially_loaded_transformer_runs_across_two_devices(card, model_file):
    """The meta device stands in for the card: ComfyUI moves what fits there and leaves
    the rest on the CPU. Every layer, LoRA-patched ones included, must bring its weights
    to the input's device, or the forward fails with a device mismatch."""
    from newbie_pack.nodes.comfy_model import load_model
    from newbie_pack.nodes.lora_nodes import lora_patches

    patcher = load_model(model_file[0], torch.float32)
    patcher.add_patches(lora_patches(patcher.model.diffusion_model, model_file[1]), 1.0)
    meta = torch.device("meta")
    model, streamed = _partially_loaded(patcher, meta)
    devices = {p.device.type for p in model.parameters()}
    assert streamed and devices == {"cpu", "meta"}
    assert any(m.weight_function for m in streamed)  # LoRA patches applied while streaming
    with torch.no_grad():  # every parameter-holding part, on inputs living on the "card"
        run_every_part(model, meta)


def run_every_part(model, device):
    """The forward's pieces on `device` inputs (the full forward has data-dependent steps,
    which the meta device cannot run)."""
    from newbie.models.attention import rope_rotation

    config, n = model.config, 6
    t_dim = min(config.dim, 1024)
    x = torch.randn(2, n, config.dim, device=device)
    rope = rope_rotation(torch.zeros(2, n, config.dim // config.n_heads // 2, device=device))
    adaln = model.t_embedder(torch.rand(2, device=device), torch.float32)
    pooled = model.clip_text_pooled_proj(torch.randn(2, config.clip_text_dim, device=device))
    adaln = model.time_text_embed(torch.cat([adaln, pooled], dim=-1))
    model.x_embedder(torch.randn(2, n, 4 * config.in_channels, device=device))
    model.cap_embedder(torch.randn(2, n, config.cap_feat_dim, device=device))
    for block in model.context_refiner:
        block(x, rope, None)
    for block in [*model.noise_refiner, *model.layers]:
        x = block(x, rope, None, adaln)
    out = model.final_layer(x, adaln)
    assert out.device == device and adaln.shape == (2, t_dim)


def test_encoders_are_loaded_whole(card, tmp_path):
    """Their transformers layers cannot stream, so ComfyUI must not split them."""
    from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

    from newbie.loading import load_text_encoders

    memory = card[0]
    assert not memory.streams_every_weight(load_text_encoders(
        write_gemma_comfy(tmp_path / "g.safetensors"), write_jina_comfy(tmp_path / "j.safetensors")))


def test_encoder_patcher_stays_the_plain_one_under_dynamic_vram(card, monkeypatch):
    """With dynamic VRAM on (a CUDA card with comfy-aimdo), 0.33's main.py makes
    `CoreModelPatcher` the dynamic patcher for core loaders. The text encoders keep
    ComfyUI's plain ModelPatcher: the dynamic one needs comfy.ops layers that read
    aimdo's VBAR, which their transformers layers are not (docs/comfyui-hosts.md). The
    VAE is core's own VAE object, whose patcher core chooses."""
    import comfy.model_patcher as mp

    memory, mm, _, model, _ = card
    if not hasattr(mp, "ModelPatcherDynamic"):
        pytest.skip("this ComfyUI has no dynamic VRAM")
    monkeypatch.setattr(mp, "CoreModelPatcher", mp.ModelPatcherDynamic)
    transformer = model("transformer", 7 * GiB)
    assert type(transformer.patcher) is mp.ModelPatcher and not transformer.patcher.is_dynamic()
    with memory.on_compute_device(transformer):
        assert transformer.model.where == "cuda"
