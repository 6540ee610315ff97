"""The library reads ComfyUI's quantized transformer files alone: formats found in each
of their three forms, weights dequantized with their scales, others refused by name."""
import json

import pytest
import torch
from devtools import tiny_quant
from devtools.tiny_models import official_dit, write_safetensors

from newbie.loading import CheckpointError, load_transformer
from newbie.loading.quantized import PACKED_4BIT, layer_formats, logical_shapes


@pytest.fixture(scope="module")
def base():
    return official_dit(seed=2, dtype=torch.bfloat16)


def forms(base, root):
    per_layer, _ = tiny_quant.comfy_quant(base)
    header, meta = tiny_quant.comfy_quant(base, header=True)
    return {"scaled": write_safetensors(root / "scaled.safetensors", tiny_quant.scaled_fp8(base)),
            "per_layer": write_safetensors(root / "per_layer.safetensors", per_layer),
            "header": write_safetensors(root / "header.safetensors", header, metadata=meta)}


def test_each_form_dequantizes_close_to_the_original(base, tmp_path):
    reference = load_transformer(write_safetensors(tmp_path / "bf16.safetensors", base),
                                 dtype=torch.float32)
    for name, path in forms(base, tmp_path).items():
        model = load_transformer(path, dtype=torch.float32)
        for key, want in reference.state_dict().items():
            got = model.state_dict()[key]
            err = ((got - want).norm() / want.norm()).item()
            assert err < 0.05, (name, key, err)  # fp8 e4m3: 3 mantissa bits


def test_formats_are_found_in_each_form(base, tmp_path):
    from newbie.loading.files import Checkpoint

    for name, path in forms(base, tmp_path).items():
        ckpt = Checkpoint.open(path)
        formats = layer_formats(ckpt.keys(), ckpt.metadata(), ckpt.tensor)
        blocks = {k[:-len(".weight")] for k, v in base.items() if tiny_quant.quantizable(k, v)}
        assert set(formats) == blocks and all(c["format"] == "float8_e4m3fn"
                                              for c in formats.values()), name


def test_weights_without_their_scales_are_not_what_the_file_means(base, tmp_path):
    """The marker with its scales dropped reads as plain fp8: far from the original
    weights, which is why the scales must be applied."""
    scaled = tiny_quant.scaled_fp8(base)
    dropped = load_transformer(write_safetensors(tmp_path / "d.safetensors",
                                                 tiny_quant.without_scales(scaled)),
                               dtype=torch.float32)
    want = base["layers.0.attention.qkv.weight"].float()
    got = dropped.layers[0].attention.qkv.weight
    assert ((got - want).norm() / want.norm()).item() > 10


def test_formats_only_comfyui_runs_are_refused_by_name(base, tmp_path):
    per_layer, _ = tiny_quant.comfy_quant(base)
    per_layer["layers.0.feed_forward.w2.comfy_quant"] = torch.tensor(
        list(json.dumps({"format": "nvfp4"}).encode()), dtype=torch.uint8)
    path = write_safetensors(tmp_path / "nvfp4.safetensors", per_layer)
    with pytest.raises(CheckpointError, match="'nvfp4', which only ComfyUI's quantized"):
        load_transformer(path, dtype=torch.float32)


def test_packed_formats_declare_their_full_width():
    tensors = {"a.weight": torch.zeros(8, 16, dtype=torch.uint8), "b.weight": torch.zeros(8, 16)}
    shapes = logical_shapes(tensors, {"a": {"format": "nvfp4"}, "b": {"format": "float8_e4m3fn"}})
    assert shapes == {"a.weight": (8, 32), "b.weight": (8, 16)} and "nvfp4" in PACKED_4BIT
