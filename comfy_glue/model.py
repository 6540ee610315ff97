"""The NewBie transformer as a ComfyUI MODEL: a `BaseModel` (FLUX latents, flow
sampling with shift 6, the pooled Jina vector as an extra condition) whose diffusion
model is the library's transformer, built from the layer operations ComfyUI picks for
core models (casting, low-VRAM streaming, fp8 weights, dynamic VRAM), in a ModelPatcher.

ComfyUI's conventions are sigma (1 = noise) and a prediction of noise - data; the
library's are t = 1 - sigma and the velocity data - noise.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.model_management as mm
import comfy.model_patcher
import comfy.ops
import comfy.patcher_extension
import comfy.supported_models_base

from ..newbie.models.linear import emulated_half, linear
from ..newbie.models.state_dict import StateDictMismatch
from ..newbie.models.norm import RMSNorm, normalized_float32
from ..newbie.models.transformer import NewBieTransformer
from ..newbie.loading import load_transformer
from . import quantized
from .memory import reloads_with


def comfy_layers(operations, dtype=None):
    """The library's layer set over ComfyUI operations: their Linear, and an RMSNorm
    (the library's fused one) that casts its weight the way their layers do, both
    declared in the storage `dtype` as core's models declare theirs. Weights are always
    cast to the input's dtype (a no-op when they match), so the compute dtype can change
    per run (`compute_in`) without rebuilding the model."""

    class Linear(operations.Linear):
        comfy_cast_weights = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{"dtype": dtype, **kwargs})

        def forward_comfy_cast_weights(self, input, *args, **kwargs):
            if not emulated_half(input):  # ComfyUI's own path (fp8 and quantized ones too)
                return super().forward_comfy_cast_weights(input, *args, **kwargs)
            weight, bias, stream = comfy.ops.cast_bias_weight(self, input, offloadable=True)
            try:
                return linear(input, weight, bias)
            finally:
                comfy.ops.uncast_bias_weight(self, weight, bias, stream)

    class ComfyRMSNorm(RMSNorm, comfy.ops.CastWeightBiasOp):
        comfy_cast_weights = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{"dtype": dtype, **kwargs})

        def normalized_float32(self, x, scale=None):
            if not (self.comfy_cast_weights or self.weight_function or self.bias_function):
                return super().normalized_float32(x, scale)
            weight, _, stream = comfy.ops.cast_bias_weight(self, x, offloadable=True)
            try:
                return normalized_float32(x, weight, self.eps, scale)
            finally:
                comfy.ops.uncast_bias_weight(self, weight, None, stream)

    class Layers:
        pass

    Layers.Linear, Layers.RMSNorm = Linear, ComfyRMSNorm

    return Layers


class NewBieDiT(NewBieTransformer):
    """The transformer with ComfyUI's diffusion-model call: x, sigma-timesteps, the
    caption features as `context`, and the conditions NewBieModel.extra_conds makes."""

    def __init__(self, image_model=None, dtype=None, device=None, operations=None, **config):
        # ComfyUI's operations allocate without initialising; the loader assigns the
        # file's tensors over these (`load_weights`), so they are never touched.
        super().__init__(**config, operations=comfy_layers(
            operations or comfy.ops.disable_weight_init, dtype))
        self.in_channels = config.get("in_channels", 16)  # read by core's RenormCFG

    def load_weights(self, tensors: dict):
        """Assign official-key tensors (and quantized layers' scales and configs), each
        cast to the dtype its parameter is declared in, as core's load casts them; the
        host's quantized operations take their own keys. Refuses keys or shapes that do
        not fit."""
        declared = dict(self.named_parameters()) | dict(self.named_buffers())
        given = {k: v.to(declared[k].dtype) if k in declared and v.is_floating_point()
                 and declared[k].is_floating_point() and v.dtype != declared[k].dtype else v
                 for k, v in tensors.items()}
        if "norm_final.weight" not in given:  # ComfyUI's files drop the unused norm
            given["norm_final.weight"] = torch.ones_like(declared["norm_final.weight"])
        wrong = [f"{k} {tuple(v.shape)} (expected {tuple(declared[k].shape)})"
                 for k, v in given.items() if k in declared and k.endswith(".weight")
                 and declared[k].dim() and v.shape != declared[k].shape]
        missing, unexpected = self.load_state_dict(given, strict=False, assign=True)
        # Identity input scales the host's operations do not use are left out, as core does.
        unexpected = [k for k in unexpected if not k.endswith(".scale_input")]
        missing = [k for k in missing if not k.endswith((".scale_weight", ".scale_input"))]
        if missing or unexpected or wrong:
            raise StateDictMismatch(missing, unexpected, wrong)
        return self.eval().requires_grad_(False)

    def forward(self, x, timesteps, context, attention_mask=None, clip_text_pooled=None,
                transformer_options=None, **kwargs):
        transformer_options = {} if transformer_options is None else transformer_options
        return comfy.patcher_extension.WrapperExecutor.new_class_executor(
            self._comfy_forward, self,
            comfy.patcher_extension.get_all_wrappers(
                comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, transformer_options),
        ).execute(x, timesteps, context, attention_mask, clip_text_pooled, transformer_options,
                  **kwargs)

    def _comfy_forward(self, x, timesteps, context, attention_mask, clip_text_pooled,
                       transformer_options, **kwargs):
        mask = None if attention_mask is None else attention_mask.bool()
        velocity = super().forward(x, 1.0 - timesteps, context, mask, clip_text_pooled,
                                   dtype=x.dtype, transformer_options=transformer_options)
        return -velocity


class _Captions(comfy.conds.CONDRegular):
    """Caption features [B, L, D] of different lengths batch together, zero-padded at
    the end (the padding is masked, so it changes nothing); cond and uncond then run in
    one forward, as the official CFG does."""

    pad_value = 0.0

    def can_concat(self, other):
        mine, theirs = self.cond.shape, other.cond.shape
        return (mine[0] == theirs[0] and mine[2:] == theirs[2:]
                and self.cond.device == other.cond.device)

    def concat(self, others):
        conds = [self.cond, *(o.cond for o in others)]
        length = max(c.shape[1] for c in conds)
        pad = [0, 0] * (conds[0].dim() - 2)
        return torch.cat([F.pad(c, [*pad, 0, length - c.shape[1]], value=self.pad_value)
                          for c in conds])


class _CaptionMask(_Captions):
    """The caption mask [B, L], padded with False to go with `_Captions`."""

    pad_value = False


class NewBieModel(comfy.model_base.BaseModel):
    def __init__(self, model_config, device=None):
        super().__init__(model_config, comfy.model_base.ModelType.FLOW, device=device,
                         unet_model=NewBieDiT)

    @property
    def source(self) -> Path | None:
        """The file the weights came from, to name it if they prove damaged."""
        return self.model_config.source

    def extra_conds(self, **kwargs):
        out = super().extra_conds(**kwargs)
        captions = kwargs.get("cross_attn")
        if captions is not None:
            mask = kwargs.get("attention_mask")
            mask = (torch.ones(captions.shape[:2], dtype=torch.bool) if mask is None
                    else mask.reshape(captions.shape[:2]).bool())
            out["c_crossattn"] = _Captions(captions)
            out["attention_mask"] = _CaptionMask(mask.to(captions.device))
        pooled = kwargs.get("pooled_output")
        if pooled is not None:
            out["clip_text_pooled"] = comfy.conds.CONDRegular(pooled)
        return out


COMPUTE_DTYPE_OPTION = "newbie_compute_dtype"


def compute_dtype(model) -> torch.dtype:
    """The dtype a MODEL computes in: the one `compute_in` set, else its manual cast,
    else its weights'."""
    return (model.model_options.get(COMPUTE_DTYPE_OPTION) or model.model.manual_cast_dtype
            or model.model_dtype())


def compute_in(model, dtype: torch.dtype):
    """A clone of the MODEL that computes in `dtype`, weights cast layer by layer (no
    copy); the MODEL itself when it already does. A wrapper sets the dtype for each call
    only, so clones in different dtypes never disturb each other."""
    if compute_dtype(model) == dtype:
        return model
    patched = model.clone()
    if not isinstance(patched.model, NewBieModel):  # core's layers cast only when told to
        patched.force_cast_weights = True

    def in_dtype(executor, *args, **kwargs):
        base = executor.class_obj
        saved, base.manual_cast_dtype = base.manual_cast_dtype, dtype
        try:
            return executor(*args, **kwargs)
        finally:
            base.manual_cast_dtype = saved

    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL,
                                 "newbie_compute_dtype", in_dtype)
    patched.model_options[COMPUTE_DTYPE_OPTION] = dtype
    return patched


class NewBieConfig(comfy.supported_models_base.BASE):
    unet_config = {"image_model": "newbie"}
    unet_extra_config = {}
    sampling_settings = {"multiplier": 1.0, "shift": 6.0}
    latent_format = comfy.latent_formats.Flux
    memory_usage_factor = 1.4  # core's figure for the Lumina 2 family
    supported_inference_dtypes = [torch.bfloat16, torch.float16, torch.float32]
    source: Path | None = None  # the file the weights came from

    def __init__(self, unet_config, source: Path | None = None):
        super().__init__(unet_config)
        self.source = source

    def get_model(self, state_dict, prefix="", device=None):
        return NewBieModel(self, device=device)


def load_model(path, dtype: torch.dtype, attention: str = "auto", fp8_matmul: bool = False,
               disable_dynamic: bool = False):
    """A ComfyUI MODEL from a NewBie transformer file or folder (every layout the
    library reads, quantized files included), weights stored in `dtype` (fp8 too),
    computing in what ComfyUI picks for the device. It carries its own reload factory, so
    core can re-create it (deep clones for another device, non-dynamic delegates with
    `disable_dynamic`, Train LoRA's deep copy)."""
    load_device = mm.get_torch_device()
    built = {}

    def build(tensors, dtype, config, formats):
        model_config = NewBieConfig({**config, "image_model": "newbie"}, source=Path(path))
        tensors = quantized.configure(model_config, tensors, formats)
        # As core's loader: quantized layers compute in the device's dtype, others are
        # cast from their storage dtype only when the device cannot compute in it.
        model_config.set_inference_dtype(dtype, mm.unet_manual_cast(
            None if formats else dtype, load_device, model_config.supported_inference_dtypes))
        if fp8_matmul:
            model_config.optimizations["fp8"] = True
        built["model"] = model_config.get_model({}, device=torch.device("cpu"))
        return built["model"].diffusion_model.load_weights(tensors)

    load_transformer(path, dtype=dtype, attention=attention, build=build,
                     host_formats=quantized.readable_formats())
    patcher = comfy.model_patcher.ModelPatcher if disable_dynamic else \
        getattr(comfy.model_patcher, "CoreModelPatcher", comfy.model_patcher.ModelPatcher)
    model = patcher(built["model"], load_device=load_device,
                    offload_device=mm.unet_offload_device())
    reloads_with(model, load_model, path, dtype, attention, fp8_matmul)
    return model
