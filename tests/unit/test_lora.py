"""LoRA: PEFT and single-file layouts, merge math, stacking, the base left untouched."""
import json
import logging
import math

import pytest
import torch
from devtools.tiny_lora import lora_pairs, merged, write_peft, write_single_file
from devtools.tiny_models import TINY, official_dit, write_safetensors

from newbie.lora import apply_lora, read_lora
from newbie.loading import CheckpointError
from newbie.models import NewBieTransformer


def inputs(seed=2):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 16, 8, 8, generator=gen), torch.rand(2, generator=gen),
            torch.randn(2, 5, TINY["cap"], generator=gen), None,
            torch.randn(2, TINY["clip"], generator=gen))


@pytest.fixture()
def base():
    return NewBieTransformer.from_state_dict(official_dit())


def close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_peft_adapter_equals_the_hand_merged_reference(tmp_path, base):
    pairs = lora_pairs(rank=4)
    folder = write_peft(tmp_path / "adapter", pairs, alpha=8.0)
    expected = NewBieTransformer.from_state_dict(merged(official_dit(), [(pairs, 0.7 * 8 / 4)]))
    for path in (folder, folder / "adapter_model.safetensors"):  # folder or file
        lora = apply_lora(base, path, strength=0.7)
        close(lora(*inputs()), expected(*inputs()))


def test_rslora_scales_by_sqrt_rank(tmp_path, base):
    pairs = lora_pairs(rank=4)
    lora = apply_lora(base, write_peft(tmp_path / "rs", pairs, alpha=8.0, rslora=True))
    expected = NewBieTransformer.from_state_dict(merged(official_dit(),
                                                        [(pairs, 8 / math.sqrt(4))]))
    close(lora(*inputs()), expected(*inputs()))


@pytest.mark.parametrize("kohya", [False, True], ids=["diffusion_model", "lora_unet"])
def test_single_file_layouts(tmp_path, base, kohya):
    pairs = {k: (a.bfloat16().float(), b.bfloat16().float()) for k, (a, b) in lora_pairs().items()}
    path = write_single_file(tmp_path / "lora.safetensors", pairs, alpha=2.0, kohya=kohya)
    lora = apply_lora(base, path, strength=-1.0)  # negative strength allowed
    expected = NewBieTransformer.from_state_dict(merged(official_dit(), [(pairs, -2.0 / 4)]))
    close(lora(*inputs()), expected(*inputs()))


def test_strength_zero_is_the_base_and_the_base_is_untouched(tmp_path, base):
    before = {k: v.clone() for k, v in base.state_dict().items()}
    out_before = base(*inputs())
    folder = write_peft(tmp_path / "a", lora_pairs(), alpha=4.0)
    zero = apply_lora(base, folder, strength=0.0)
    torch.testing.assert_close(zero(*inputs()), out_before, rtol=0, atol=0)
    strong = apply_lora(base, folder, strength=1.0)
    assert (strong(*inputs()) - out_before).abs().mean() > 1e-3
    for key, value in base.state_dict().items():
        assert torch.equal(value, before[key]), key
    torch.testing.assert_close(base(*inputs()), out_before, rtol=0, atol=0)


def test_two_chained_loras_equal_both_merged(tmp_path, base):
    a, b = lora_pairs(seed=1), lora_pairs(seed=2, rank=2)
    first = apply_lora(base, write_peft(tmp_path / "a", a, alpha=4.0), strength=0.5)
    both = apply_lora(first, write_single_file(tmp_path / "b.safetensors", b, alpha=2.0))
    b_rounded = {k: (x.bfloat16().float(), y.bfloat16().float()) for k, (x, y) in b.items()}
    expected = NewBieTransformer.from_state_dict(
        merged(official_dit(), [(a, 0.5 * 4 / 4), (b_rounded, 2.0 / 2)]))
    close(both(*inputs()), expected(*inputs()))


def test_half_weights_are_patched_in_float32_then_stored(tmp_path):
    """As ComfyUI patches weights: W + s * B @ A in float32, rounded once to the
    weights' dtype (patching in bfloat16 would round the product and the sum)."""
    base = NewBieTransformer.from_state_dict(official_dit(), dtype=torch.bfloat16)
    pairs = lora_pairs()
    lora = apply_lora(base, write_peft(tmp_path / "a", pairs, alpha=4.0))
    module = next(iter(pairs))
    down, up = pairs[module]
    weight = base.state_dict()[module + ".weight"]
    expected = (weight.float() + (4.0 / down.shape[0]) * (up @ down)).to(torch.bfloat16)
    assert lora.state_dict()[module + ".weight"].dtype == torch.bfloat16
    assert torch.equal(lora.state_dict()[module + ".weight"], expected)
    untouched = "x_embedder.weight"
    assert lora.state_dict()[untouched].data_ptr() == base.state_dict()[untouched].data_ptr()


def test_a_lora_for_another_model_is_refused_with_its_keys(tmp_path, base):
    path = write_safetensors(tmp_path / "sdxl_lora.safetensors", {
        "lora_unet_input_blocks_4_1_proj_in.lora_down.weight": torch.zeros(4, 320),
        "lora_unet_input_blocks_4_1_proj_in.lora_up.weight": torch.zeros(320, 4)})
    with pytest.raises(CheckpointError, match=r"sdxl_lora.safetensors: no LoRA key maps.*"
                                              r"lora_unet_input_blocks_4_1_proj_in"):
        apply_lora(base, path)


def test_text_encoder_lora_and_rank_mismatch_are_clear(tmp_path, base):
    te = write_safetensors(tmp_path / "te.safetensors", {
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(4, 8),
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": torch.zeros(8, 4)})
    with pytest.raises(CheckpointError, match="targets only the text encoders"):
        apply_lora(base, te)
    pairs = lora_pairs()
    module = next(iter(pairs))
    pairs[module] = (pairs[module][0], torch.zeros(pairs[module][1].shape[0], 3))
    with pytest.raises(CheckpointError, match=f"{module}: LoRA shapes"):
        apply_lora(base, write_peft(tmp_path / "bad", pairs, alpha=4.0))


def test_partial_match_applies_with_a_warning(tmp_path, base, caplog):
    pairs = lora_pairs()
    tensors = {}
    for module, (a, b) in pairs.items():
        tensors[f"base_model.model.{module}.lora_A.weight"] = a
        tensors[f"base_model.model.{module}.lora_B.weight"] = b
    tensors["base_model.model.vision_adapter.proj.lora_A.weight"] = torch.zeros(4, 8)
    tensors["base_model.model.vision_adapter.proj.lora_B.weight"] = torch.zeros(8, 4)
    folder = tmp_path / "partial"
    write_safetensors(folder / "adapter_model.safetensors", tensors)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 4}))
    with caplog.at_level(logging.WARNING):
        apply_lora(base, folder)
    assert f"{len(pairs)} of {len(pairs) + 1} adapters applied" in caplog.text
    assert "vision_adapter.proj" in caplog.text


DIFFUSERS_TARGETS = {  # diffusers-port module -> (rank, alpha): q/k/v split and partial
    "layers.0.attn.to_q": (2, 4.0), "layers.0.attn.to_v": (4, 2.0),
    "layers.1.attn.to_k": (3, 3.0), "layers.1.attn.to_out.0": (2, 1.0),
    "noise_refiner.0.feed_forward.linear_1": (2, 2.0), "context_refiner.0.attn.to_q": (2, 8.0),
    "layers.1.norm1.linear": (2, 2.0)}


@pytest.mark.parametrize("style", ["peft", "lora_down_alpha"])
def test_diffusers_port_lora_equals_merging_in_diffusers_names(tmp_path, style):
    """A LoRA trained on the diffusers port (separate to_q/to_k/to_v, Lumina2 names),
    against the reference: merge it into the diffusers weights, then convert."""
    from devtools.tiny_models import diffusers_lumina2

    from newbie.loading.transformer import diffusers_to_official

    weights = dict(diffusers_lumina2().state_dict())
    gen = torch.Generator().manual_seed(7)
    tensors, merged_weights = {}, dict(weights)
    for module, (rank, alpha) in DIFFUSERS_TARGETS.items():
        rows, cols = weights[module + ".weight"].shape
        a, b = torch.randn(rank, cols, generator=gen) * 0.1, torch.randn(rows, rank, generator=gen) * 0.1
        scale = 1.0 if style == "peft" else alpha / rank  # no alpha in a diffusers PEFT file
        merged_weights[module + ".weight"] = weights[module + ".weight"] + 0.8 * scale * b @ a
        if style == "peft":
            tensors[f"transformer.{module}.lora_A.weight"] = a
            tensors[f"transformer.{module}.lora_B.weight"] = b
        else:
            tensors[f"transformer.{module}.lora_down.weight"] = a
            tensors[f"transformer.{module}.lora_up.weight"] = b
            tensors[f"transformer.{module}.alpha"] = torch.tensor(alpha)
    path = write_safetensors(tmp_path / "diffusers_lora.safetensors", tensors)

    def build(state):
        return NewBieTransformer.from_state_dict(
            diffusers_to_official(list(state), state.__getitem__),
            config={"dim": TINY["dim"], "n_layers": TINY["n_layers"],
                    "n_refiner_layers": TINY["n_refiner"], "n_heads": TINY["n_heads"],
                    "n_kv_heads": TINY["n_kv"], "multiple_of": 32, "cap_feat_dim": TINY["cap"],
                    "axes_dims": (8, 8, 8), "clip_text_dim": None})

    lora = apply_lora(build(weights), path, strength=0.8)
    x, t, cap, mask, _ = inputs()
    with torch.no_grad():
        close(lora(x, t, cap, mask, None), build(merged_weights)(x, t, cap, mask, None))
    deltas = read_lora(build(weights), path)
    assert len(deltas) == 6  # to_q + to_v of layers.0 fused into one qkv delta
