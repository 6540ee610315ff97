"""Our forward against ComfyUI 0.3.75's own Lumina2 NextDiT (the test host's code),
same weights. That NextDiT has no pooled-CLIP path, so ours runs with it skipped
(the official behaviour without a pooled vector); q/k norm eps set to ComfyUI's."""

import pytest
import torch
from comfy_host import comfy_in_process
from tiny_models import TINY, official_dit

from newbie.models import NewBieTransformer
from newbie.models.transformer_config import infer_config


@pytest.fixture(scope="module")
def comfy_nextdit():
    comfy_in_process()
    import comfy.ops
    from comfy.ldm.lumina.model import NextDiT

    model = NextDiT(patch_size=2, in_channels=16, dim=TINY["dim"], n_layers=TINY["n_layers"],
                    n_refiner_layers=TINY["n_refiner"], n_heads=TINY["n_heads"],
                    n_kv_heads=TINY["n_kv"], multiple_of=32, ffn_dim_multiplier=4.0,
                    norm_eps=1e-5, qk_norm=True, cap_feat_dim=TINY["cap"], axes_dims=[8, 8, 8],
                    axes_lens=[1024, 512, 512], rope_theta=10000.0,
                    operations=comfy.ops.disable_weight_init)
    weights = official_dit(seed=3, clip=False)  # 0.3.75 still has the unused norm_final
    model.load_state_dict(weights, strict=True)
    return model.eval(), weights


@pytest.mark.parametrize("cap_len, h, w", [(7, 8, 12), (1, 4, 4), (20, 16, 8)])
def test_matches_comfyui_nextdit(comfy_nextdit, cap_len, h, w):
    reference, weights = comfy_nextdit
    config = infer_config({k: tuple(v.shape) for k, v in weights.items()}) | {"qk_norm_eps": None}
    ours = NewBieTransformer.from_state_dict(weights, config=config)
    gen = torch.Generator().manual_seed(cap_len)
    x = torch.randn(2, 16, h, w, generator=gen)
    t = torch.rand(2, generator=gen)
    cap = torch.randn(2, cap_len, TINY["cap"], generator=gen)
    with torch.no_grad():
        theirs = -reference(x, 1.0 - t, cap, cap_len)  # ComfyUI: sigma in, -velocity out
        mine = ours(x, t, cap, None, None)
    err = (mine - theirs).norm() / theirs.norm()
    assert err < 1e-5, f"relative error {err:.2e}"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_is_at_least_as_accurate_as_comfyui(comfy_nextdit, dtype):
    """Against the float32 result, our bf16/fp16 forward (norm, modulation and RoPE
    rounded once) must not be less accurate than ComfyUI's own in the same dtype."""
    reference, weights = comfy_nextdit
    config = infer_config({k: tuple(v.shape) for k, v in weights.items()}) | {"qk_norm_eps": None}
    ours = NewBieTransformer.from_state_dict(weights, config=config)
    gen = torch.Generator().manual_seed(5)
    x, t = torch.randn(2, 16, 16, 16, generator=gen), torch.rand(2, generator=gen)
    cap = torch.randn(2, 12, TINY["cap"], generator=gen)
    with torch.no_grad():
        truth = ours(x, t, cap, None, None)
        mine = ours.to(dtype)(x.to(dtype), t, cap.to(dtype), None, None).float()
        theirs = -reference.to(dtype)(x.to(dtype), 1.0 - t, cap.to(dtype), 12).float()
    reference.float()
    err_mine = ((mine - truth).norm() / truth.norm()).item()
    err_theirs = ((theirs - truth).norm() / truth.norm()).item()
    assert err_mine < 3e-2 and err_mine <= 1.1 * err_theirs, (err_mine, err_theirs)
