"""The NewBie transformer: loading in every layout and dtype, official conventions."""
import pytest
import torch
from devtools.tiny_models import (TINY, diffusers_lumina2, official_dit, official_dit_shapes,
                         write_diffusers_port_folder, write_hf_transformer_folder,
                         write_safetensors)

from newbie.loading import CheckpointError, load_transformer
from newbie.models import NewBieTransformer


def inputs(batch=2, cap_len=7, seed=1, h=8, w=12):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 16, h, w, generator=gen)
    t = torch.rand(batch, generator=gen)
    cap = torch.randn(batch, cap_len, TINY["cap"], generator=gen)
    pooled = torch.randn(batch, TINY["clip"], generator=gen)
    return x, t, cap, pooled


@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    return write_safetensors(tmp_path_factory.mktemp("dit") / "newbie_tiny.safetensors",
                             official_dit(dtype=torch.bfloat16))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_official_file_loads_in_each_dtype(official_file, dtype):
    model = load_transformer(official_file, dtype=dtype)
    assert {p.dtype for p in model.parameters()} == {dtype}
    assert model.config.n_layers == 2 and model.config.n_kv_heads == 2
    assert model.config.clip_text_dim == 16 and tuple(model.config.axes_dims) == (8, 8, 8)
    stored = official_dit(dtype=torch.bfloat16)
    for key, value in model.state_dict().items():
        assert torch.equal(value, stored[key].to(dtype)), key
    x, t, cap, pooled = inputs()
    out = model(x.to(dtype), t, cap.to(dtype), None, pooled.to(dtype))
    assert out.shape == x.shape and out.dtype == dtype and torch.isfinite(out).all()


def test_auto_dtype_is_bf16_on_cpu(official_file):
    assert next(load_transformer(official_file).parameters()).dtype == torch.bfloat16


def test_comfy_prefix_hf_folder_and_missing_norm_final_all_load(tmp_path):
    reference = load_transformer(write_safetensors(tmp_path / "a.safetensors", official_dit()),
                                 dtype=torch.float32)
    x, t, cap, pooled = inputs()
    expected = reference(x, t, cap, None, pooled)
    prefixed = {"model.diffusion_model." + k: v for k, v in official_dit().items()
                if k != "norm_final.weight"}
    variants = [write_safetensors(tmp_path / "comfy.safetensors", prefixed),
                write_hf_transformer_folder(tmp_path / "hf", official_dit())]
    for path in variants:
        model = load_transformer(path, dtype=torch.float32)
        torch.testing.assert_close(model(x, t, cap, None, pooled), expected, rtol=0, atol=0)


def test_diffusers_port_layout_matches_diffusers_lumina2(tmp_path):
    """Same weights through diffusers' own Lumina2 forward (which lacks the pooled
    path, so compare with it skipped) and through our converted load."""
    reference = diffusers_lumina2()
    clip = {k: v for k, v in official_dit(seed=5).items()
            if k.startswith(("clip_text_pooled_proj", "time_text_embed"))}
    model = load_transformer(write_diffusers_port_folder(tmp_path, reference, clip),
                             dtype=torch.float32)
    x, t, cap, _ = inputs()
    mask = torch.ones(cap.shape[:2], dtype=torch.bool)
    with torch.no_grad():
        theirs = reference(x, t, cap, mask, return_dict=False)[0]
    ours = model(x, t, cap, mask, None)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_padded_caption_tokens_never_change_the_output(official_file):
    model = load_transformer(official_file, dtype=torch.float32)
    x, t, cap, pooled = inputs(batch=1, cap_len=5)
    alone = model(x, t, cap, None, pooled)
    padded = torch.cat([cap, 1e3 * torch.randn(1, 4, TINY["cap"])], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 4])
    torch.testing.assert_close(model(x, t, padded, mask, pooled), alone, rtol=1e-5, atol=1e-5)


def test_batch_of_unequal_caption_lengths_equals_single_runs(official_file):
    model = load_transformer(official_file, dtype=torch.float32)
    x, t, cap, pooled = inputs(batch=3, cap_len=9)
    lengths = [9, 4, 6]
    mask = torch.arange(9)[None] < torch.tensor(lengths)[:, None]
    batched = model(x, t, cap, mask, pooled)
    for i, n in enumerate(lengths):
        single = model(x[i:i + 1], t[i:i + 1], cap[i:i + 1, :n], None, pooled[i:i + 1])
        torch.testing.assert_close(batched[i:i + 1], single, rtol=1e-5, atol=1e-5)


def test_pooled_vector_and_time_change_the_output(official_file):
    model = load_transformer(official_file, dtype=torch.float32)
    x, t, cap, pooled = inputs()
    base = model(x, t, cap, None, pooled)
    for changed in (model(x, t, cap, None, pooled + 1), model(x, t * 0.5, cap, None, pooled),
                    model(x, t, cap, None, None)):
        assert (changed - base).abs().mean() > 1e-3 * base.abs().mean()  # noise is ~1e-7


def test_from_state_dict_infers_the_config():
    model = NewBieTransformer.from_state_dict(official_dit(), dtype=torch.bfloat16)
    assert model.config.dim == 96 and model.config.ffn_hidden == 384
    assert next(model.parameters()).dtype == torch.bfloat16


# -- bad input -------------------------------------------------------------------
def test_another_models_file_is_named_in_the_error(tmp_path):
    vae = write_safetensors(tmp_path / "ae.safetensors", {
        "decoder.conv_in.weight": torch.zeros(4, 16, 3, 3),
        "decoder.up.0.block.0.conv1.weight": torch.zeros(4, 4, 3, 3)})
    with pytest.raises(CheckpointError) as info:
        load_transformer(vae)
    message = str(info.value)
    assert "ae.safetensors" in message and "a FLUX VAE" in message
    assert "cap_embedder.1.weight" in message


def test_lumina2_without_pooled_path_is_refused(tmp_path):
    path = write_safetensors(tmp_path / "lumina2.safetensors", official_dit(clip=False))
    with pytest.raises(CheckpointError, match="clip_text_pooled_proj"):
        load_transformer(path)


def test_truncated_file_says_so(tmp_path, official_file):
    data = official_file.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors: not a readable safetensors file"):
        load_transformer(cut)


def test_missing_keys_and_wrong_shapes_are_listed(tmp_path):
    tensors = official_dit()
    del tensors["layers.1.feed_forward.w2.weight"]
    with pytest.raises(CheckpointError, match=r"Missing 1 keys, first: layers.1.feed_forward.w2"):
        load_transformer(write_safetensors(tmp_path / "m.safetensors", tensors))
    tensors = official_dit()
    tensors["layers.1.attention.out.weight"] = torch.zeros(96, 48)
    with pytest.raises(CheckpointError, match=r"wrong shape.*layers.1.attention.out.weight"):
        load_transformer(write_safetensors(tmp_path / "s.safetensors", tensors))


@pytest.mark.parametrize("name", ["model.ckpt", "model.pt", "model.bin"])
def test_pickles_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"not even opened")
    with pytest.raises(CheckpointError, match="pickle checkpoints .* are refused"):
        load_transformer(path)


FULL = dict(dim=2304, n_layers=36, n_refiner=2, n_heads=24, n_kv=8, head_dim=96, ffn=9216,
            cap=2560, clip=1024, patch=2, channels=16)


def test_full_size_keys_and_parameter_count_match_the_release():
    shapes = official_dit_shapes(FULL)
    assert len(shapes) == 535
    assert sum(torch.Size(s).numel() for s in shapes.values()) == 3_486_636_096
    with torch.device("meta"):
        model = NewBieTransformer()  # defaults are the released config
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == shapes
