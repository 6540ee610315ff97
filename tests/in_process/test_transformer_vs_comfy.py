"""Our forward against the test host's own Lumina2 NextDiT, same weights; q/k norm eps
set to ComfyUI's. 0.33's NextDiT has NewBie's pooled-CLIP path (`clip_text_dim`), so
there both run with a pooled Jina vector; 0.3.75's has none, so ours runs with the
path skipped (the official behaviour without a pooled vector)."""
import inspect

import pytest
import torch
from devtools.tiny_models import TINY, official_dit

from newbie.models import NewBieTransformer
from newbie.models.transformer_config import infer_config


@pytest.fixture(scope="module")
def comfy_nextdit(comfy_lib):
    import comfy.ops
    from comfy.ldm.lumina.model import NextDiT

    pooled = "clip_text_dim" in inspect.signature(NextDiT.__init__).parameters
    model = NextDiT(patch_size=2, in_channels=16, dim=TINY["dim"], n_layers=TINY["n_layers"],
                    n_refiner_layers=TINY["n_refiner"], n_heads=TINY["n_heads"],
                    n_kv_heads=TINY["n_kv"], multiple_of=32, ffn_dim_multiplier=4.0,
                    norm_eps=1e-5, qk_norm=True, cap_feat_dim=TINY["cap"], axes_dims=[8, 8, 8],
                    axes_lens=[1024, 512, 512], rope_theta=10000.0,
                    operations=comfy.ops.disable_weight_init,
                    **({"clip_text_dim": TINY["clip"]} if pooled else {}))
    weights = official_dit(seed=3, clip=pooled)
    # The official files carry an unused norm_final; 0.3.75 keeps it, 0.33 dropped it.
    expected = set(model.state_dict())
    model.load_state_dict({k: v for k, v in weights.items() if k in expected}, strict=True)
    assert set(weights) - expected <= {"norm_final.weight"}
    return model.eval(), weights, pooled


def run_both(reference, ours, x, t, cap, pooled_path, gen):
    """(ours, ComfyUI's) velocity; ComfyUI takes sigma = 1 - t and returns -velocity."""
    if not pooled_path:
        return ours(x, t, cap, None, None), -reference(x, 1.0 - t, cap, cap.shape[1])
    vec = torch.randn(x.shape[0], TINY["clip"], generator=gen).to(x.dtype)
    return (ours(x, t, cap, None, vec),
            -reference(x, 1.0 - t, cap, cap.shape[1], clip_text_pooled=vec))


@pytest.mark.parametrize("cap_len, h, w", [(7, 8, 12), (1, 4, 4), (20, 16, 8)])
def test_matches_comfyui_nextdit(comfy_nextdit, cap_len, h, w):
    reference, weights, pooled_path = comfy_nextdit
    config = infer_config({k: tuple(v.shape) for k, v in weights.items()}) | {"qk_norm_eps": None}
    ours = NewBieTransformer.from_state_dict(weights, config=config)
    gen = torch.Generator().manual_seed(cap_len)
    x = torch.randn(2, 16, h, w, generator=gen)
    t = torch.rand(2, generator=gen)
    cap = torch.randn(2, cap_len, TINY["cap"], generator=gen)
    with torch.no_grad():
        mine, theirs = run_both(reference, ours, x, t, cap, pooled_path, gen)
    err = (mine - theirs).norm() / theirs.norm()
    assert err < 1e-5, f"relative error {err:.2e}"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_is_at_least_as_accurate_as_comfyui(comfy_nextdit, dtype):
    """Against the float32 result, our bf16/fp16 forward (norm, modulation and RoPE
    rounded once) must not be less accurate than ComfyUI's own in the same dtype."""
    reference, weights, pooled_path = comfy_nextdit
    config = infer_config({k: tuple(v.shape) for k, v in weights.items()}) | {"qk_norm_eps": None}
    ours = NewBieTransformer.from_state_dict(weights, config=config)
    x = torch.randn(2, 16, 16, 16, generator=torch.Generator().manual_seed(5))
    t = torch.rand(2, generator=torch.Generator().manual_seed(8))
    cap = torch.randn(2, 12, TINY["cap"], generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        truth, _ = run_both(reference, ours, x, t, cap, pooled_path, torch.Generator().manual_seed(7))
        mine, theirs = run_both(reference.to(dtype), ours.to(dtype), x.to(dtype), t, cap.to(dtype),
                                pooled_path, torch.Generator().manual_seed(7))
        mine, theirs = mine.float(), theirs.float()
    reference.float()
    err_mine = ((mine - truth).norm() / truth.norm()).item()
    err_theirs = ((theirs - truth).norm() / truth.norm()).item()
    assert err_mine < 3e-2 and err_mine <= 1.1 * err_theirs, (err_mine, err_theirs)
