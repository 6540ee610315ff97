"""Where our models live, through the test host's real model manager: the text
encoders are a ComfyUI CLIP built by ComfyUI's own constructor, the transformer a
ComfyUI MODEL, so ComfyUI loads, evicts and offloads them like core models.

No GPU here, so only the card is faked: ComfyUI reports a 16 GiB CUDA device whose
free memory is the card minus the models currently placed on it. The models are
modules with meta weights of the real sizes that record where they are sent."""

import pytest
import torch

GiB = 1 << 30
CARD = torch.device("cuda", 0)
CPU = torch.device("cpu")


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

    def _apply(self, fn, recurse=True):
        """A parent's .to() reaches us here with a conversion function: tried on an empty
        CPU tensor, it fails only when it sends tensors to CUDA, which this CPU torch lacks."""
        try:
            self.where = fn(torch.empty(0)).device.type
        except (AssertionError, RuntimeError):
            self.where = "cuda"
        return self


class PlacedEncoders(Placed):
    """Stands in for NewBieTextEncoders where only the size matters."""

    def gemma_ids(self, text):
        return [2, *range(10, 10 + len(text.split()))]

    def jina_ids(self, text):
        return [0, *range(10, 10 + len(text.split())), 2]


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
    monkeypatch.setattr(mm, "text_encoder_device", lambda: CARD)
    monkeypatch.setattr(mm, "text_encoder_offload_device", lambda: CPU)
    monkeypatch.setattr(mm, "vram_state", mm.VRAMState.NORMAL_VRAM)
    monkeypatch.setattr(mm, "get_free_memory", free_memory)
    monkeypatch.setattr(mm, "soft_empty_cache", lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)  # 0.33 syncs after loads
    monkeypatch.setattr(mm, "current_loaded_models", [])

    def encoders(size, on_cpu=False):
        """Our CLIP (what Load NewBie Text Encoders outputs) over placed weights."""
        placed.append(PlacedEncoders("encoders", size))
        return pack.comfy_glue.clip.newbie_clip(placed[-1], {}, on_cpu=on_cpu), placed[-1]

    def core_model(name, size):
        """A core-style model: a plain ModelPatcher, weights in a child."""
        placed.append(Placed(name, size))
        return ModelPatcher(torch.nn.Sequential(placed[-1]), load_device=CARD,
                            offload_device=CPU), placed[-1]

    return mm, encoders, core_model, budget


def test_encoders_leave_the_card_for_the_transformer_on_16_gib(card):
    mm, encoders, core_model, _ = card
    clip, weights = encoders(int(8.6 * GiB))  # Gemma 3 4B + Jina v2, bf16
    transformer, transformer_weights = core_model("transformer", int(7.0 * GiB))  # 3.5B, bf16
    vae, vae_weights = core_model("vae", int(0.33 * GiB))  # FLUX VAE, fp32
    assert weights.where == "cpu"  # nothing moves at load
    clip.load_model()  # what encoding does first
    assert weights.where == "cuda"
    mm.load_models_gpu([transformer], memory_required=1 * GiB)
    assert (weights.where, transformer_weights.where) == ("cpu", "cuda")
    mm.load_models_gpu([vae], memory_required=4 * GiB)
    assert vae_weights.where == "cuda"


def test_with_room_to_spare_everything_stays(card):
    mm, encoders, core_model, budget = card
    budget["total"] = 48 * GiB
    clip, weights = encoders(int(8.6 * GiB))
    transformer, transformer_weights = core_model("transformer", 7 * GiB)
    clip.load_model()
    mm.load_models_gpu([transformer])
    assert (weights.where, transformer_weights.where) == ("cuda", "cuda")


def test_comfyui_models_and_ours_evict_each_other(card):
    mm, encoders, core_model, _ = card
    core, core_weights = core_model("core model", 10 * GiB)
    clip, weights = encoders(8 * GiB)
    mm.load_models_gpu([core])
    assert core_weights.where == "cuda"
    clip.load_model()
    assert (core_weights.where, weights.where) == ("cpu", "cuda")
    mm.load_models_gpu([core])
    assert (core_weights.where, weights.where) == ("cuda", "cpu")


def test_one_listing_per_model_and_clone(card):
    """Core nodes clone the CLIP (LoRA loaders, device selection); the clone is the same
    model to the manager, listed once."""
    mm, encoders, _, _ = card
    clip, _ = encoders(2 * GiB)
    for each in (clip, clip, clip.clone(), clip.clone()):
        each.load_model()
    assert len(mm.current_loaded_models) == 1


def test_encoders_on_the_cpu_never_reach_the_card(card):
    """Text encoders with device `cpu`: ComfyUI loads them where they are."""
    _, encoders, _, _ = card
    clip, weights = encoders(GiB, on_cpu=True)
    clip.load_model()
    assert weights.where == "cpu" and clip.patcher.load_device == CPU


def test_the_real_encoders_accept_comfyuis_patcher(pack, tmp_path):
    """ComfyUI's patcher takes the real encoders (transformers models) through our CLIP:
    loading on the CPU keeps them usable, and it counts every byte."""
    from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

    from newbie.loading import load_text_encoders

    loaded = load_text_encoders(write_gemma_comfy(tmp_path / "g.safetensors"),
                                write_jina_comfy(tmp_path / "j.safetensors"))
    clip = pack.comfy_glue.clip.newbie_clip(loaded, {}, on_cpu=True)
    clip.patcher.patch_model(CPU)
    assert clip.patcher.model_dtype() == next(loaded.parameters()).dtype
    assert clip.patcher.model_size() == sum(t.numel() * t.element_size()
                                            for t in loaded.state_dict().values())
    clip.patcher.detach()


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


def streams_every_weight(model: torch.nn.Module) -> bool:
    """Whether every module holding parameters can run with its weights off the card
    (ComfyUI's own test: a `comfy_cast_weights` attribute), so a partial load is safe."""
    return all(hasattr(m, "comfy_cast_weights") for m in model.modules()
               if next(m.parameters(recurse=False), None) is not None)


def test_a_partial_load_gives_the_same_output(pack, model_file):
    """ComfyUI's partial load (what --lowvram and small cards get) leaves layers on the
    CPU to stream their weights; the transformer's output does not change by a bit."""
    from newbie.models import NewBieTransformer
    from newbie_pack.comfy_glue.model import load_model

    patcher = load_model(model_file[0], torch.float32)
    diffusion = patcher.model.diffusion_model
    args = _inputs(diffusion.config)
    with torch.no_grad():
        expected = NewBieTransformer.forward(diffusion, *args)
        assert streams_every_weight(diffusion)
        _, streamed = _partially_loaded(patcher, torch.device("cpu"))
        assert 0 < len(streamed) < sum(1 for _ in diffusion.modules())
        torch.testing.assert_close(NewBieTransformer.forward(diffusion, *args), expected,
                                   rtol=0, atol=0)


def test_a_partially_loaded_transformer_runs_across_two_devices(pack, model_file):
    """The meta device stands in for the card: ComfyUI moves what fits there and leaves
    the rest on the CPU. Every layer, LoRA-patched ones included, must bring its weights
    to the input's device, or the forward fails with a device mismatch."""
    from newbie_pack.comfy_glue.lora import with_lora
    from newbie_pack.comfy_glue.model import load_model

    base = load_model(model_file[0], torch.float32)
    patcher = with_lora(base, base.model.diffusion_model, model_file[1], 1.0)
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


def test_encoders_are_loaded_whole_for_encoding(card):
    """On a card smaller than the encoders ComfyUI's load leaves what does not fit on the
    CPU, for layer-by-layer streaming that only its own layer operations do; the
    transformers layers inside ours cannot stream, so NewBie encoding loads them whole."""
    mm, encoders, _, budget = card
    budget["total"] = 6 * GiB
    clip, weights = encoders(7 * GiB)
    clip.load_model()
    assert weights.where == "cpu"  # core's way: not loaded, and not streamable either
    mm.cleanup_models()
    clip.patcher.detach()
    from newbie_pack.comfy_glue.clip import load_whole

    load_whole(clip)
    assert weights.where == "cuda"


def test_encoder_patcher_stays_the_plain_one_under_dynamic_vram(card, monkeypatch):
    """With dynamic VRAM on (a CUDA card with comfy-aimdo), 0.33's main.py makes
    `CoreModelPatcher` the dynamic patcher, which core's CLIP constructor uses unless
    the module disables offloading. Ours does: the dynamic patcher needs comfy.ops layers
    that read aimdo's VBAR, which the transformers layers inside are not."""
    import comfy.model_patcher as mp

    _, encoders, _, _ = card
    if not hasattr(mp, "ModelPatcherDynamic"):
        pytest.skip("this ComfyUI has no dynamic VRAM")
    monkeypatch.setattr(mp, "CoreModelPatcher", mp.ModelPatcherDynamic)
    clip, weights = encoders(7 * GiB)
    assert type(clip.patcher) is mp.ModelPatcher and not clip.patcher.is_dynamic()
    clip.load_model()
    assert weights.where == "cuda"
