"""NewBie-image-Exp0.1 Next-DiT: Lumina-2 NextDiT plus the pooled Jina CLIP path.

Module names equal the official state-dict keys, so the
official and ComfyUI files load as they are. Conventions are the official ones:
t in [0, 1] with 0 = noise, output velocity = data - noise, caption tokens of a
sample joined without padding in between, padded tokens never change the output.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .attention import attention, rope_angles, rope_float32, rope_rotation
from .linear import Linear
from .norm import RMSNorm
from .state_dict import check_state_dict
from .transformer_config import infer_config

FREQ_EMBED_DIM = 256
FP16_MAX = 65504.0


class TorchLayers:
    """The layer operations the model is built from: `Linear` and `RMSNorm` classes
    taking (..., device=, dtype=). A host passes its own (weights cast or streamed per
    call, quantized weights) with the same constructor signatures."""

    Linear = Linear
    RMSNorm = RMSNorm


def clamp_fp16(x: torch.Tensor) -> torch.Tensor:
    """Keep float16 activations finite where they can pass its range (attention and
    FFN outputs, the residual stream); other dtypes pass through."""
    if x.dtype != torch.float16:
        return x
    return torch.nan_to_num(x, nan=0.0, posinf=FP16_MAX, neginf=-FP16_MAX)


class TimestepEmbedder(nn.Module):
    def __init__(self, width: int, ops):
        super().__init__()
        self.mlp = nn.Sequential(ops.Linear(FREQ_EMBED_DIM, width), nn.SiLU(),
                                 ops.Linear(width, width))

    def forward(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        half = FREQ_EMBED_DIM // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32,
                                                            device=t.device) / half)
        args = t.float()[:, None] * freqs
        features = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # cos first
        return self.mlp(features.to(dtype))


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int, n_kv_heads: int, eps: float, ops):
        super().__init__()
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.head_dim = dim // n_heads
        self.qkv = ops.Linear(dim, (n_heads + 2 * n_kv_heads) * self.head_dim, bias=False)
        self.out = ops.Linear(n_heads * self.head_dim, dim, bias=False)
        self.q_norm = ops.RMSNorm(self.head_dim, eps)
        self.k_norm = ops.RMSNorm(self.head_dim, eps)
        self.backend = "auto"

    def forward(self, x, rope, key_mask):
        b, length, _ = x.shape
        hd = self.head_dim
        q, k, v = self.qkv(x).split([self.n_heads * hd, self.n_kv_heads * hd,
                                     self.n_kv_heads * hd], dim=-1)
        q = self._norm_rope(self.q_norm, q.view(b, length, self.n_heads, hd), rope)
        k = self._norm_rope(self.k_norm, k.view(b, length, self.n_kv_heads, hd), rope)
        v = v.view(b, length, self.n_kv_heads, hd).transpose(1, 2)
        return self.out(attention(q, k, v, key_mask, self.backend))

    @staticmethod
    def _norm_rope(norm, x, rope):
        """q/k norm then RoPE in one float32 buffer, rounded once; [B,L,H,D] -> [B,H,L,D]."""
        rotated = rope_float32(norm.normalized_float32(x), rope)
        return rotated.to(x.dtype).transpose(1, 2)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, ops):
        super().__init__()
        self.w1 = ops.Linear(dim, hidden, bias=False)
        self.w2 = ops.Linear(hidden, dim, bias=False)
        self.w3 = ops.Linear(dim, hidden, bias=False)

    def forward(self, x):
        gate = self.w1(x)  # a fresh tensor: SiLU and the product can run in place
        return self.w2(F.silu(gate, inplace=not gate.requires_grad).mul_(self.w3(x)))


class JointTransformerBlock(nn.Module):
    """Sandwich-norm block; modulated blocks scale inputs and tanh-gate outputs."""

    def __init__(self, dim, n_heads, n_kv_heads, ffn_hidden, eps, qk_eps, t_dim, modulation, ops):
        super().__init__()
        self.attention = Attention(dim, n_heads, n_kv_heads, qk_eps, ops)
        self.feed_forward = FeedForward(dim, ffn_hidden, ops)
        self.attention_norm1 = ops.RMSNorm(dim, eps)
        self.attention_norm2 = ops.RMSNorm(dim, eps)
        self.ffn_norm1 = ops.RMSNorm(dim, eps)
        self.ffn_norm2 = ops.RMSNorm(dim, eps)
        if modulation:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), ops.Linear(t_dim, 4 * dim))

    def forward(self, x, rope, key_mask, adaln=None):
        if adaln is None:
            attn = clamp_fp16(self.attention(self.attention_norm1(x), rope, key_mask))
            x = clamp_fp16(x + self.attention_norm2(attn))
            return clamp_fp16(x + self.ffn_norm2(clamp_fp16(self.feed_forward(self.ffn_norm1(x)))))
        # adaLN factors in float32, folded into the norms' weights.
        scale_msa, gate_msa, scale_mlp, gate_mlp = \
            self.adaLN_modulation(adaln).float().unsqueeze(1).chunk(4, dim=-1)
        attn = clamp_fp16(self.attention(self.attention_norm1(x, 1 + scale_msa), rope, key_mask))
        x = clamp_fp16(x + self.attention_norm2(attn, gate_msa.tanh()))
        ffn = clamp_fp16(self.feed_forward(self.ffn_norm1(x, 1 + scale_mlp)))
        return clamp_fp16(x + self.ffn_norm2(ffn, gate_mlp.tanh()))


class FinalLayer(nn.Module):
    def __init__(self, dim: int, out_dim: int, t_dim: int, ops):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = ops.Linear(dim, out_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), ops.Linear(t_dim, dim))

    def forward(self, x, adaln):
        scale = self.adaLN_modulation(adaln).unsqueeze(1)
        return self.linear(self.norm_final(x) * (1 + scale))


def ffn_hidden_dim(dim: int, multiple_of: int, ffn_dim_multiplier: float | None) -> int:
    hidden = 4 * dim if ffn_dim_multiplier is None else int(ffn_dim_multiplier * 4 * dim)
    return multiple_of * math.ceil(hidden / multiple_of)


class NewBieTransformer(ModelMixin, ConfigMixin):
    """NextDiT_3B_GQA_patch2_Adaln_Refiner_WHIT_CLIP; defaults are the released model."""

    _supports_gradient_checkpointing = False
    ignore_for_config = ["operations"]

    @register_to_config
    def __init__(self, patch_size: int = 2, in_channels: int = 16, dim: int = 2304,
                 n_layers: int = 36, n_refiner_layers: int = 2, n_heads: int = 24,
                 n_kv_heads: int = 8, multiple_of: int = 256,
                 ffn_dim_multiplier: float | None = None, ffn_hidden: int | None = None,
                 norm_eps: float = 1e-5, qk_norm_eps: float | None = 1e-5, cap_feat_dim: int = 2560,
                 clip_text_dim: int | None = 1024, axes_dims: tuple = (32, 32, 32),
                 axes_lens: tuple = (1024, 512, 512), rope_theta: float = 10000.0,
                 operations=None):
        super().__init__()
        ops = operations or TorchLayers
        if dim % n_heads or n_heads % n_kv_heads or sum(axes_dims) != dim // n_heads \
                or any(d % 2 for d in axes_dims):
            raise ValueError(f"inconsistent NewBie config: dim {dim}, heads {n_heads}/"
                             f"{n_kv_heads}, axes_dims {list(axes_dims)}")
        t_dim = min(dim, 1024)
        hidden = ffn_hidden or ffn_hidden_dim(dim, multiple_of, ffn_dim_multiplier)
        patch_dim = patch_size * patch_size * in_channels
        self.x_embedder = ops.Linear(patch_dim, dim)
        self.t_embedder = TimestepEmbedder(t_dim, ops)
        self.cap_embedder = nn.Sequential(ops.RMSNorm(cap_feat_dim, norm_eps),
                                          ops.Linear(cap_feat_dim, dim))
        if clip_text_dim:
            self.clip_text_pooled_proj = nn.Sequential(ops.RMSNorm(clip_text_dim, norm_eps),
                                                       ops.Linear(clip_text_dim, clip_text_dim))
            self.time_text_embed = nn.Sequential(nn.SiLU(),
                                                 ops.Linear(t_dim + clip_text_dim, t_dim))

        def blocks(n, modulation):
            return nn.ModuleList(JointTransformerBlock(dim, n_heads, n_kv_heads, hidden, norm_eps,
                                                       qk_norm_eps, t_dim, modulation, ops)
                                 for _ in range(n))

        self.noise_refiner = blocks(n_refiner_layers, True)
        self.context_refiner = blocks(n_refiner_layers, False)
        self.layers = blocks(n_layers, True)
        self.norm_final = ops.RMSNorm(dim, norm_eps)  # in the official module; never used
        self.final_layer = FinalLayer(dim, patch_dim, t_dim, ops)

    @classmethod
    def from_state_dict(cls, state_dict: dict, dtype: torch.dtype | None = None,
                        config: dict | None = None, operations=None) -> "NewBieTransformer":
        """Build from official-key tensors without a float32 detour: meta init, then the
        given tensors (cast only when their dtype differs) become the parameters."""
        config = config or infer_config({k: tuple(v.shape) for k, v in state_dict.items()})
        with torch.device("meta"):
            model = cls(**config, operations=operations)
        return model.assign_weights(state_dict, dtype)

    def assign_weights(self, state_dict: dict, dtype: torch.dtype | None = None):
        """Make official-key tensors (cast only when their dtype differs) this model's
        parameters, after checking names and shapes; returns the model, in eval mode."""
        tensors = {k: v.to(dtype) if dtype is not None and v.is_floating_point()
                   and v.dtype != dtype else v for k, v in state_dict.items()}
        if "norm_final.weight" not in tensors:  # ComfyUI's files drop the unused norm
            tensors["norm_final.weight"] = torch.ones(self.config.dim,
                                                      dtype=dtype or torch.float32)
        check_state_dict(self.state_dict(), tensors)
        self.load_state_dict(tensors, strict=True, assign=True)
        return self.eval().requires_grad_(False)

    # -- options ---------------------------------------------------------------
    def set_attention_backend(self, backend: str):
        for module in self.modules():
            if isinstance(module, Attention):
                module.backend = backend

    @property
    def attention_backend(self) -> str:
        return next((m.backend for m in self.modules() if isinstance(m, Attention)), "auto")

    @property
    def head_dim(self) -> int:
        return self.config.dim // self.config.n_heads

    # -- forward -----------------------------------------------------------------
    def _rope(self, positions):
        return rope_rotation(rope_angles(positions, tuple(self.config.axes_dims),
                                         self.config.rope_theta))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cap_feats: torch.Tensor,
                cap_mask: torch.Tensor | None = None, clip_pooled: torch.Tensor | None = None,
                dtype: torch.dtype | None = None,
                transformer_options: dict | None = None) -> torch.Tensor:
        """Velocity (data - noise) for latents x [B,C,H,W] at times t [B] in [0, 1].

        dtype: compute dtype (default: the weights'). transformer_options: the host's
        per-call options; the main blocks record `block_index` / `total_blocks` there
        and a callable at patches_replace["dit"][("double_block", i)] replaces block i
        (args {"img", "vec", "pe", "attn_mask"}, {"original_block": fn(args)} -> {"img"})."""
        b, c, h, w = x.shape
        p = self.config.patch_size
        if h % p or w % p:
            raise ValueError(f"latent height and width must be multiples of {p}, got {h}x{w}")
        dtype, device = dtype or self.x_embedder.weight.dtype, x.device
        t = torch.as_tensor(t, device=device).reshape(-1).expand(b)
        if cap_mask is None:
            cap_mask = torch.ones(cap_feats.shape[:2], dtype=torch.bool, device=device)

        adaln = self.t_embedder(t, dtype)
        if clip_pooled is not None and self.config.clip_text_dim:
            clip = self.clip_text_pooled_proj(clip_pooled.to(dtype))
            adaln = self.time_text_embed(torch.cat([adaln, clip], dim=-1))

        # Valid caption tokens first (stable), so padding anywhere becomes trailing.
        cap_mask = cap_mask.to(device=device, dtype=torch.bool)
        order = torch.argsort((~cap_mask).to(torch.int8), dim=1, stable=True)
        cap_mask = torch.gather(cap_mask, 1, order)
        cap = self.cap_embedder(torch.gather(
            cap_feats.to(dtype), 1, order[..., None].expand(-1, -1, cap_feats.shape[-1])))
        cap_len = cap_mask.sum(dim=1)
        cap_max = cap.shape[1]
        all_same = bool((cap_len == cap_len[0]).all())

        cap_pos = torch.zeros(b, cap_max, 3, dtype=torch.long, device=device)
        cap_pos[..., 0] = torch.arange(cap_max, device=device)
        rope = self._rope(cap_pos)
        cap_key_mask = None if bool(cap_mask.all()) else cap_mask
        for block in self.context_refiner:
            cap = block(cap, rope, cap_key_mask)

        hp, wp = h // p, w // p
        n_img = hp * wp
        img = x.to(dtype).view(b, c, hp, p, wp, p).permute(0, 2, 4, 3, 5, 1).reshape(b, n_img, -1)
        img = self.x_embedder(img)
        rows = torch.arange(hp, device=device).repeat_interleave(wp)
        cols = torch.arange(wp, device=device).repeat(hp)
        img_pos = torch.stack([torch.zeros_like(rows), rows, cols], dim=-1).expand(b, -1, -1)
        # Axis-0 offset is constant over image tokens, so it cancels inside the refiner.
        rope = self._rope(img_pos)
        for block in self.noise_refiner:
            img = block(img, rope, None, adaln)

        # Joint sequence per sample: [valid caption | image | padding].
        length = int(cap_len.max()) + n_img
        batch = torch.arange(b, device=device)[:, None]
        img_slots = cap_len[:, None] + torch.arange(n_img, device=device)
        joint = cap.new_zeros(b, length, cap.shape[-1])
        keep = min(cap_max, length)
        joint[:, :keep] = cap[:, :keep] * cap_mask[:, :keep, None]
        joint[batch, img_slots] = img
        positions = torch.zeros(b, length, 3, dtype=torch.long, device=device)
        positions[..., 0] = torch.arange(length, device=device)
        positions[batch, img_slots] = img_pos + torch.stack(
            [cap_len, torch.zeros_like(cap_len), torch.zeros_like(cap_len)], -1)[:, None]
        key_mask = None if all_same else (
            torch.arange(length, device=device)[None] < (cap_len + n_img)[:, None])
        rope = self._rope(positions)
        joint = self._main_blocks(joint, rope, key_mask, adaln, transformer_options)

        out = self.final_layer(joint[batch, img_slots], adaln)
        out = out.view(b, hp, wp, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, h, w)
        return out

    def _main_blocks(self, joint, rope, key_mask, adaln, options: dict | None):
        options = {} if options is None else options
        replace = options.get("patches_replace", {}).get("dit", {})
        options["total_blocks"], options["block_type"] = len(self.layers), "double"
        for i, block in enumerate(self.layers):
            options["block_index"] = i
            if ("double_block", i) not in replace:
                joint = block(joint, rope, key_mask, adaln)
                continue

            def original(args, block=block):
                return {"img": block(args["img"], args["pe"], args["attn_mask"], args["vec"])}
            args = {"img": joint, "vec": adaln, "pe": rope, "attn_mask": key_mask,
                    "transformer_options": options}
            joint = replace[("double_block", i)](args, {"original_block": original})["img"]
        return joint
