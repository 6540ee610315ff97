"""Names pinned against diffusers' own Lumina2 converter, code the pack did not write."""
import torch

from devtools.tiny_models import official_dit
from newbie.loading.transformer import official_name


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
