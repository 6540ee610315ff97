"""fp8 storage and quantized files through the host's own operations, in process: the
storage dtype of the loaded weights, ComfyUI's size for the MODEL, scales applied,
unknown formats refused, and (0.33) parity with core's own loader on the same file."""
import json

import pytest
import torch
from devtools import tiny_quant
from devtools.tiny_models import official_dit, real_width_dit, write_safetensors

from newbie.loading import CheckpointError

FP8 = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn,
       "fp8_e5m2": torch.float8_e5m2}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("quant")
    base = official_dit(seed=4, dtype=torch.bfloat16)
    per_layer, _ = tiny_quant.comfy_quant(base)
    header, meta = tiny_quant.comfy_quant(base, header=True)
    unknown = dict(per_layer)
    unknown["layers.0.feed_forward.w1.comfy_quant"] = torch.tensor(
        list(json.dumps({"format": "float3_imaginary"}).encode()), dtype=torch.uint8)
    out = {name: write_safetensors(root / f"{name}.safetensors", sd) for name, sd in {
        "bf16": base, "scaled": tiny_quant.scaled_fp8(base),
        "scaled_without_scales": tiny_quant.without_scales(tiny_quant.scaled_fp8(base)),
        "per_layer": per_layer, "plain": tiny_quant.plain_fp8(base), "unknown": unknown,
    }.items()}
    out["header"] = write_safetensors(root / "header.safetensors", header, metadata=meta)
    return out


def forward(model) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 8, 8, generator=gen)
    context, pooled = torch.randn(1, 5, 32, generator=gen), torch.randn(1, 16, generator=gen)
    return model.model.diffusion_model(x, torch.tensor([0.6]), context, None,
                                       clip_text_pooled=pooled).float()


def rel(a, b) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(scope="module")
def reference(pack, files):
    from newbie_pack.comfy_glue.model import load_model

    return forward(load_model(files["bf16"], torch.float32))


@pytest.mark.parametrize("choice", list(FP8))
def test_fp8_storage_keeps_every_weight_in_fp8_at_half_the_size(pack, files, reference, choice):
    from newbie_pack.comfy_glue.model import load_model
    from newbie_pack.comfy_glue.quantized import storage_dtype

    dtype = storage_dtype(choice, files["bf16"], "cpu")
    model = load_model(files["bf16"], dtype, fp8_matmul=choice == "fp8_e4m3fn_fast")
    half = load_model(files["bf16"], torch.bfloat16)
    stored = {p.dtype for p in model.model.diffusion_model.parameters()}
    assert stored == {FP8[choice]}, stored
    # ComfyUI's own count of what it loads (the "MB loaded" of its log).
    assert model.model_size() <= 0.55 * half.model_size(), (model.model_size(), half.model_size())
    err = rel(forward(model), reference)
    assert 0 < err < (0.1 if FP8[choice] == torch.float8_e4m3fn else 0.25), err


def test_auto_keeps_a_plain_fp8_file_in_fp8(pack, files, reference):
    from newbie_pack.comfy_glue.model import load_model
    from newbie_pack.comfy_glue.quantized import storage_dtype

    dtype = storage_dtype("auto", files["plain"], "cpu")
    assert dtype == torch.float8_e4m3fn
    model = load_model(files["plain"], dtype)
    assert model.model.diffusion_model.layers[0].feed_forward.w1.weight.dtype == dtype
    assert rel(forward(model), reference) < 0.1


@pytest.mark.parametrize("name", ["scaled", "per_layer", "header"])
def test_quantized_files_run_with_their_scales(pack, files, reference, name):
    from newbie_pack.comfy_glue.model import load_model

    model = load_model(files[name], torch.bfloat16)
    weight = model.model.diffusion_model.layers[0].attention.qkv.weight
    assert weight.dtype == torch.float8_e4m3fn or "Quantized" in type(weight).__name__
    err = rel(forward(model), reference)
    assert err < 0.08, err
    # The same file read without its scales is far off: the check above can fail.
    dropped = load_model(files["scaled_without_scales"], torch.bfloat16)
    assert rel(forward(dropped), reference) > 0.5


def test_a_format_the_host_cannot_run_is_refused_by_name(pack, files):
    from newbie_pack.comfy_glue.model import load_model

    with pytest.raises(CheckpointError, match="float3_imaginary.*cannot run on this machine"):
        load_model(files["unknown"], torch.bfloat16)


@pytest.mark.parametrize("strength", [0.8])
def test_lora_on_fp8_weights_is_patched_in_float32_then_stored(pack, files, tmp_path, strength):
    """ComfyUI's weight patching on an fp8 MODEL: the patched weight stays fp8 and is
    within fp8 rounding of the bf16 model's patched weight."""
    import comfy.model_management as mm

    from devtools.tiny_lora import lora_pairs, write_peft
    from newbie_pack.comfy_glue.lora import with_lora
    from newbie_pack.comfy_glue.model import load_model

    write_peft(tmp_path / "lora", lora_pairs(std=0.3), alpha=4.0)
    results = {}
    for dtype in (torch.float8_e4m3fn, torch.bfloat16):
        base = load_model(files["bf16"], dtype)
        before = base.model.diffusion_model.layers[0].attention.qkv.weight.float().clone()
        patched = with_lora(base, base.model.diffusion_model, tmp_path / "lora", strength)
        mm.load_models_gpu([patched])
        weight = patched.model.diffusion_model.layers[0].attention.qkv.weight
        results[dtype] = (weight.dtype, weight.float() - before, forward(patched))
        patched.unpatch_model()
    (fp8_dtype, fp8_delta, fp8_out), (_, bf16_delta, bf16_out) = results.values()
    assert fp8_dtype == torch.float8_e4m3fn
    # The change the LoRA made, against bf16's: within fp8 rounding (3 mantissa bits).
    assert rel(fp8_delta, bf16_delta) < 0.15, rel(fp8_delta, bf16_delta)
    assert rel(fp8_out, bf16_out) < 0.2, rel(fp8_out, bf16_out)


@pytest.fixture(scope="module")
def real_width(tmp_path_factory):
    """NewBie at its real width (core detects NewBie by it), one main block: bf16, and
    its scaled-fp8 and per-layer fp8 copies."""
    root = tmp_path_factory.mktemp("real_width")
    base = real_width_dit()
    per_layer, _ = tiny_quant.comfy_quant(base)
    return {"bf16": write_safetensors(root / "bf16.safetensors", base),
            "scaled": write_safetensors(root / "scaled.safetensors", tiny_quant.scaled_fp8(base)),
            "per_layer": write_safetensors(root / "per_layer.safetensors", per_layer),
            "plain": write_safetensors(root / "plain.safetensors", tiny_quant.plain_fp8(base))}


@pytest.mark.parametrize("name, weight_dtype", [
    ("bf16", "fp8_e4m3fn"), ("bf16", "fp8_e5m2"), ("bf16", "fp8_e4m3fn_fast"),
    ("scaled", "default"), ("per_layer", "default"), ("plain", "auto")])
def test_each_file_gives_what_core_unetloader_gives(pack, host, real_width, name, weight_dtype):
    """0.33 loads NewBie itself: the same file and weight_dtype through core's
    UNETLoader and through ours sample the same latent (float32 compute here), to
    float32 rounding (core's q/k norm eps, float32's, differs from the official 1e-5 by
    nothing that shows at these weights)."""
    if host.startswith("0.3."):
        pytest.skip("ComfyUI 0.3.75 has no native NewBie")
    import comfy.sample
    import nodes

    from newbie_pack.comfy_glue.model import load_model
    from newbie_pack.comfy_glue.quantized import FP8_MATMUL, storage_dtype

    path = real_width[name]
    # auto on a plain fp8 file keeps fp8: core's choice where bf16 would not fit the card.
    core_options = {} if weight_dtype == "default" else \
        {"dtype": FP8.get(weight_dtype, torch.float8_e4m3fn)}
    if weight_dtype == FP8_MATMUL:
        core_options["fp8_optimizations"] = True
    core = comfy.sd.load_diffusion_model(str(path), model_options=core_options)
    # Default on a quantized file: the storage core picked for what is not quantized.
    storage = core.model_dtype() if weight_dtype == "default" else \
        storage_dtype(weight_dtype, path, "cpu")
    ours = load_model(path, storage, fp8_matmul=weight_dtype == FP8_MATMUL)
    assert type(core.model).__name__ == "Lumina2" and nodes is not None
    core_weight = core.model.diffusion_model.layers[0].attention.qkv.weight
    our_weight = ours.model.diffusion_model.layers[0].attention.qkv.weight
    assert (type(our_weight), our_weight.dtype) == (type(core_weight), core_weight.dtype)
    gen = torch.Generator().manual_seed(9)

    def cond(length):
        return [[torch.randn(1, length, 2560, generator=gen),
                 {"pooled_output": torch.randn(1, 1024, generator=gen)}]]
    positive, negative = cond(6), cond(3)
    noise = torch.randn(1, 16, 8, 8, generator=gen)
    latents = [comfy.sample.sample(m, noise, 4, 3.0, "euler", "simple", positive, negative,
                                   torch.zeros_like(noise), seed=3) for m in (core, ours)]
    err = rel(latents[1], latents[0])
    print(f"\nparity with core UNETLoader, {name} {weight_dtype}: relative error {err:.2e}")
    assert latents[0].std() > 0.1 and err < 1e-4, err


@pytest.fixture(scope="module")
def text_files(tmp_path_factory):
    from safetensors.torch import load_file

    from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

    root = tmp_path_factory.mktemp("text")
    gemma = write_gemma_comfy(root / "gemma.safetensors")
    scaled = tiny_quant.scaled_fp8(load_file(gemma), which=tiny_quant.text_quantizable)
    return {"gemma": gemma, "jina": write_jina_comfy(root / "jina.safetensors"),
            "gemma_scaled": write_safetensors(root / "gemma_scaled.safetensors", scaled),
            "gemma_unscaled": write_safetensors(root / "gemma_unscaled.safetensors",
                                                tiny_quant.without_scales(scaled))}


def conditioning(clip) -> tuple[torch.Tensor, torch.Tensor]:
    from newbie_pack.comfy_glue.clip import encode

    conds, _ = encode(clip, "<caption>a girl, red hair</caption>", "SYS: ", 512)
    return conds[0][0].float(), conds[0][1]["pooled_output"].float()


def test_text_encoders_in_fp8_stay_close_to_bf16(pack, text_files):
    from newbie_pack.comfy_glue.clip import load_clip

    files = text_files["gemma"], text_files["jina"]
    reference = conditioning(load_clip(*files, torch.float32, on_cpu=True))
    full = load_clip(*files, torch.bfloat16, on_cpu=True)
    fp8 = load_clip(*files, torch.bfloat16, on_cpu=True, fp8="float8_e4m3fn")
    linears = [m for m in fp8.cond_stage_model.encoders.modules()
               if "Linear" in type(m).__name__]
    assert linears and all("Quantized" in type(m.weight).__name__ for m in linears)
    assert fp8.patcher.model_size() < full.patcher.model_size()
    feats, pooled = conditioning(fp8)
    assert 0 < rel(feats, reference[0]) < 0.08 and 0 < rel(pooled, reference[1]) < 0.08


def test_a_scaled_fp8_text_encoder_file_is_read_with_its_scales(pack, text_files):
    from newbie_pack.comfy_glue.clip import load_clip

    reference = conditioning(load_clip(text_files["gemma"], text_files["jina"], torch.float32,
                                       on_cpu=True))
    errors = {name: rel(conditioning(load_clip(text_files[name], text_files["jina"],
                                               torch.bfloat16, on_cpu=True))[0], reference[0])
              for name in ("gemma_scaled", "gemma_unscaled")}
    assert errors["gemma_scaled"] < 0.06 and errors["gemma_unscaled"] > 2 * errors["gemma_scaled"]
